#!/usr/bin/env bash
# Evaluate a checkpoint on EgoTaskQA val and test (accuracy per reasoning-type token, open/binary).
# Usage: CHECKPOINT=path/to/checkpoint_best.pth bash eval.sh [key=value ...]
# A checkpoint of train_uns.sh: add model.memory=uns. Indirect split: datasets.egotaskqa.split_type=indirect.
# Env: DATA_ROOT, OUTPUT_DIR, NPROC, SPLITS (default "val test").
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
source "$ROOT/run_scripts/common.sh"
default_out="$ROOT/output/glance_focus/egotaskqa/eval/"'${model.model_type}'  # resolved by gf: one folder per model type
gf_eval "$ROOT/projects/glance_focus/egotaskqa/train_sup.yaml" egotaskqa "${OUTPUT_DIR:-$default_out}" "$@"
