#!/usr/bin/env bash
# Evaluate a checkpoint on STAR val and test (test: writes the EvalAI submission file).
# Usage: CHECKPOINT=path/to/checkpoint_best.pth bash eval.sh [key=value ...]
# CHECKPOINT may be a gf checkpoint or the authors' model_N.tar (then use
# model.model_type=star_reference). Env: DATA_ROOT, OUTPUT_DIR, NPROC.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
source "$ROOT/run_scripts/common.sh"
default_out="$ROOT/output/glance_focus/star/eval/"'${model.model_type}'  # resolved by gf: one folder per model type
gf_eval "$ROOT/projects/glance_focus/star/train_sup.yaml" star "${OUTPUT_DIR:-$default_out}" "$@"
