#!/usr/bin/env bash
# The demo leaderboard: train the demo variants over three seeds each (a finished seed is
# reused, an interrupted one continued), then rank them as seed groups (mean ± sd over the
# seeds, two-level intervals and tests) on the synthetic benchmark's val and test splits
# with projects/leaderboards/demo.yaml, each also under the temporal probes shuffle,
# reverse, static and zeros (the board's temporal sensitivity table; the blind and
# atemporal baselines show what the probes measure). Results are cached per checkpoint and
# probe: a rerun only evaluates what changed, and a seed added later only that seed.
# Each variant trains into $OUTPUT_ROOT/glance_focus/demo/seeds/<variant>/seed<N>/ (the
# layout of `SEEDS="..." train_sup.sh`); the manifest finds them with the glob
# <variant>/seed*/checkpoint_best.pth, so every seed there is ranked.
# Env: DATA_ROOT (default gf_data), OUTPUT_ROOT (default output), SEEDS (default "0 1 2"),
# JOBS (default 1). Extra arguments go to `gf leaderboard run` (e.g. --only demo_sup).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
export DATA_ROOT="${DATA_ROOT:-$ROOT/gf_data}"
export OUTPUT_ROOT="${OUTPUT_ROOT:-$ROOT/output}"
SEEDS="${SEEDS:-0 1 2}"
runs="$OUTPUT_ROOT/glance_focus/demo/seeds"

train() {  # train <variant folder> [key=value ...]: the seeds in $SEEDS that are not finished
  local dir="$1" seed missing=0
  shift
  for seed in $SEEDS; do
    if [ ! -f "$dir/seed$seed/eval/test_best_report.json" ]; then missing=1; fi
  done
  if [ "$missing" = 0 ]; then
    echo "[demo] $dir: seeds $SEEDS are trained: reusing them"
    return
  fi
  SEEDS="$SEEDS" OUTPUT_DIR="$dir" bash "$ROOT/run_scripts/glance_focus/demo/train_sup.sh" "$@"
}

# The folder names are the manifest's entry names (projects/leaderboards/demo.yaml).
train "$runs/demo_sup_grounded" model.model_type=demo_sup_grounded
train "$runs/demo_sup" model.model_type=demo_sup
train "$runs/demo_sup_paper" model.model_type=demo_sup model.focus_query=resized model.focus_residual=false \
    model.sort_background_last=false
train "$runs/demo_sup_reference" model.model_type=demo_sup model.arch=reference
train "$runs/demo_uns" model.model_type=demo_uns
# Baselines for the temporal sensitivity table: no video, and the video without its order.
train "$runs/blind" model.model_type=demo_sup_grounded model.video_input=none
train "$runs/atemporal" model.model_type=demo_sup_grounded model.video_input=mean
python -m gf leaderboard run --manifest "$ROOT/projects/leaderboards/demo.yaml" --jobs "${JOBS:-1}" "$@"
