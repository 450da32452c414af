#!/usr/bin/env bash
# Train Glance-Focus (unsupervised memories) on EgoTaskQA (open-ended), then test.
# Env: DATA_ROOT (folder holding EgoTaskQA/, as written by `gf prepare egotaskqa`), OUTPUT_DIR,
# NPROC (processes; >1 uses torchrun).
# Extra arguments are passed as --options, e.g.: bash train_uns.sh datasets.egotaskqa.split_type=indirect
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
source "$ROOT/run_scripts/common.sh"
default_out="$ROOT/output/glance_focus/egotaskqa/train_uns/"'${model.model_type}'  # resolved by gf: one folder per model type
gf_run train "$ROOT/projects/glance_focus/egotaskqa/train_uns.yaml" egotaskqa "${OUTPUT_DIR:-$default_out}" "$@"
