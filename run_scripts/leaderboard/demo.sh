#!/usr/bin/env bash
# The demo leaderboard: train the demo variants that are missing (a finished run is reused,
# an interrupted one resumed), then rank them on the synthetic benchmark's val and test
# splits with projects/leaderboards/demo.yaml. Results are cached: a rerun only evaluates
# what changed.
# Env: DATA_ROOT (default gf_data), OUTPUT_ROOT (default output), JOBS (default 1).
# Extra arguments go to `gf leaderboard run` (e.g. --only demo_sup).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
export DATA_ROOT="${DATA_ROOT:-$ROOT/gf_data}"
export OUTPUT_ROOT="${OUTPUT_ROOT:-$ROOT/output}"
runs="$OUTPUT_ROOT/glance_focus/demo"

train() {  # train <run folder> <demo script> [key=value ...]
  local dir="$1" script="$2"
  shift 2
  if [ -f "$dir/eval/test_best_report.json" ]; then
    echo "[demo] $dir is trained: reusing it"
    return
  fi
  local resume=()
  if [ -f "$dir/checkpoint_last.pth" ]; then resume=(run.resume=auto); fi
  OUTPUT_DIR="$dir" bash "$ROOT/run_scripts/glance_focus/demo/$script" "$@" ${resume[@]+"${resume[@]}"}
}

train "$runs/train_sup/demo_sup_grounded" train_sup.sh model.model_type=demo_sup_grounded
train "$runs/train_sup/demo_sup" train_sup.sh model.model_type=demo_sup
train "$runs/train_sup/demo_sup_reference" train_sup.sh model.model_type=demo_sup model.arch=reference
train "$runs/train_uns/demo_uns" train_uns.sh
python -m gf leaderboard run --manifest "$ROOT/projects/leaderboards/demo.yaml" --jobs "${JOBS:-1}" "$@"
