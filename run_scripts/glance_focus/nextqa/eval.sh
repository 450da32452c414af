#!/usr/bin/env bash
# Evaluate a checkpoint on NExT-QA val and test (test labels are public: both are scored,
# with the official CW/CH/TN/TC/DC/DL/DO table).
# Usage: CHECKPOINT=path/to/checkpoint_best.pth bash eval.sh [key=value ...]
# Env: DATA_ROOT, OUTPUT_DIR, NPROC, SPLITS (default "val test").
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
source "$ROOT/run_scripts/common.sh"
default_out="$ROOT/output/glance_focus/nextqa/eval/"'${model.model_type}'  # resolved by gf: one folder per model type
gf_eval "$ROOT/projects/glance_focus/nextqa/train_uns.yaml" nextqa "${OUTPUT_DIR:-$default_out}" "$@"
