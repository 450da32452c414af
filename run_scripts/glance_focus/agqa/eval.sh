#!/usr/bin/env bash
# Evaluate a checkpoint on AGQA val and test (reasoning / semantic / structural / answer-type tables).
# Usage: CHECKPOINT=path/to/checkpoint_best.pth bash eval.sh [key=value ...]
# Env: DATA_ROOT, OUTPUT_DIR, NPROC, SPLITS (default "val test"), MEMORY (sup | uns: which
# recipe's config the checkpoint was trained with; default sup).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
source "$ROOT/run_scripts/common.sh"
MEMORY="${MEMORY:-sup}"
case "$MEMORY" in sup|uns) ;; *) echo "eval.sh: MEMORY must be sup or uns, got '$MEMORY'" >&2; exit 2;; esac
default_out="$ROOT/output/glance_focus/agqa/eval/"'${model.model_type}'  # resolved by gf: one folder per model type
gf_eval "$ROOT/projects/glance_focus/agqa/train_$MEMORY.yaml" agqa "${OUTPUT_DIR:-$default_out}" "$@"
