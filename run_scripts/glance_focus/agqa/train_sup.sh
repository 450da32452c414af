#!/usr/bin/env bash
# Train Glance-Focus (supervised memories; needs txt_db/events.json from Charades) on AGQA 2.0
# balanced with the authors' recipe, then test.
# Env: DATA_ROOT (folder holding AGQA/), OUTPUT_DIR, NPROC (processes; >1 uses torchrun).
# Extra arguments are passed as --options, e.g.: bash train_sup.sh run.lr=1e-5 run.resume=auto
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
source "$ROOT/run_scripts/common.sh"
default_out="$ROOT/output/glance_focus/agqa/train_sup/"'${model.model_type}'  # resolved by gf: one folder per model type
gf_run train "$ROOT/projects/glance_focus/agqa/train_sup.yaml" agqa "${OUTPUT_DIR:-$default_out}" "$@"
