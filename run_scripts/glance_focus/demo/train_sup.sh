#!/usr/bin/env bash
# The offline CPU demo: generate the synthetic benchmark (first run only), train Glance-Focus
# (supervised memories), then print the per-type test table.
# Env: DATA_ROOT (default gf_data), OUTPUT_DIR, NPROC. Extra arguments become --options.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
source "$ROOT/run_scripts/common.sh"
DATA_ROOT="${DATA_ROOT:-$ROOT/gf_data}"
default_out="$ROOT/output/glance_focus/demo/train_sup/"'${model.model_type}'  # resolved by gf: one folder per model type
gf_run train "$ROOT/projects/glance_focus/demo/train_sup.yaml" synthetic_star "${OUTPUT_DIR:-$default_out}" "$@"
