#!/usr/bin/env bash
# Train Glance-Focus (unsupervised memories; NExT-QA has no events) on NExT-QA, then test.
# Env: DATA_ROOT (folder holding NExT-QA/), OUTPUT_DIR, NPROC (processes; >1 uses torchrun).
# Extra arguments are passed as --options, e.g.: bash train_uns.sh datasets.nextqa.feature_dim=512
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
source "$ROOT/run_scripts/common.sh"
default_out="$ROOT/output/glance_focus/nextqa/train_uns/"'${model.model_type}'  # resolved by gf: one folder per model type
gf_run train "$ROOT/projects/glance_focus/nextqa/train_uns.yaml" nextqa "${OUTPUT_DIR:-$default_out}" "$@"
