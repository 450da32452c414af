#!/usr/bin/env bash
# The offline CPU demo from pixels: generate the synthetic benchmark (first run only), render
# each question's clip as a small H.264 video, extract frame features with a small timm CNN
# (random weights, fixed seed: no pretrained weights are reachable offline), train
# Glance-Focus (demo_sup_grounded) on them, print the per-type test table, then answer one
# rendered test video with `gf predict`. Every step resumes: a rerun reuses the benchmark, skips
# rendered videos and stored features, continues training from checkpoint_last.pth (a finished
# run is tested again, not retrained; run.overwrite=true trains it again) and predicts again.
# Env: DATA_ROOT (default gf_data), OUTPUT_DIR, NPROC, WORKERS (rendering and decoding
# processes, default 2), SEEDS (e.g. "0 1 2": one training run per seed, docs/seeds.md). Extra arguments become --options of rendering (gf demo-data)
# and training (e.g. datasets.synthetic_star.generator.train_per_type=150 for a smaller benchmark).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
source "$ROOT/run_scripts/common.sh"
DATA_ROOT="${DATA_ROOT:-$ROOT/gf_data}"
WORKERS="${WORKERS:-2}"
CFG="$ROOT/projects/glance_focus/demo/train_pixels.yaml"
BACKBONE=test_convnext3   # measured in docs/demo_pixels.md: the fastest of those that separate the classes
INPUT_SIZE=32
default_out="$ROOT/output/glance_focus/demo/train_pixels/"'${model.model_type}'  # resolved by gf
OUT="${OUTPUT_DIR:-$default_out}"
SECONDS=0

# 1. the benchmark (generated through the config's builder) and its videos
echo "[train_pixels] rendering the clips"
RENDERED="$(python -m gf demo-data --cfg-path "$CFG" --data-root "$DATA_ROOT" \
             --workers "$WORKERS" --options "$@")"
echo "$RENDERED"
BENCH="$(python -c 'import json,sys; print(json.load(sys.stdin)["benchmark"])' <<< "$RENDERED")"
VIDEOS="$BENCH/videos"
FEATURES="$BENCH/vis_db/${BACKBONE}_${INPUT_SIZE}px_1fps"  # = datasets.synthetic_star.features in the yaml
echo "[train_pixels] rendered into $VIDEOS (${SECONDS}s so far)"

# 2. frame features: one frame per second (= one feature row per second, the benchmark's time frame)
python -m gf extract --videos "$VIDEOS" --out "$FEATURES" --backbone "$BACKBONE" --input-size "$INPUT_SIZE" \
    --fps 1 --seed 0 --workers "$WORKERS" --batch-size 256
echo "[train_pixels] features in $FEATURES (${SECONDS}s so far)"

# 3. train (ends with the per-type test table of checkpoint_best). run.resume=auto continues the
#    run in OUT from its checkpoint_last.pth (a finished run is only tested again; an empty
#    folder starts from scratch), unless the arguments say run.resume or run.overwrite themselves.
RESUME=(run.resume=auto)
for arg in "$@"; do
  case "$arg" in run.resume=*|run.overwrite=*) RESUME=() ;; esac
done
gf_run train "$CFG" synthetic_star "$OUT" "datasets.synthetic_star.features=$FEATURES" ${RESUME[@]+"${RESUME[@]}"} "$@"
echo "[train_pixels] trained (${SECONDS}s so far)"

# 4. one rendered test video through gf predict (features made again from the video file,
#    with the recipe the checkpoint recorded)
RUN_DIR="$(python - "$CFG" "run.output_dir=$OUT" "$@" <<'PY'
import sys
from gf.common.config import build_config, to_dict
print(to_dict(build_config(sys.argv[1], sys.argv[2:]))["run"]["output_dir"])
PY
)"
mapfile -t Q < <(python - "$BENCH/txt_db/test.jsonl" <<'PY'
import json, sys
row = json.loads(open(sys.argv[1], encoding="utf-8").readline())
print(row["question_id"]); print(row["question"]); print(row["answer"]); print("\n".join(row["options"]))
PY
)
echo "[train_pixels] gf predict on $VIDEOS/${Q[0]}.mp4: ${Q[1]} (correct: option ${Q[2]}, ${Q[$((3 + Q[2]))]})"
if [ -n "${SEEDS:-}" ]; then  # SEEDS="0 1 2": one run per seed; predict with the first
  read -r -a seed_list <<< "$SEEDS"
  RUN_DIR="$RUN_DIR/seed${seed_list[0]}"
fi
python -m gf predict --checkpoint "$RUN_DIR/checkpoint_best.pth" --video "$VIDEOS/${Q[0]}.mp4" \
    --question "${Q[1]}" --options "${Q[@]:3:4}" --plot "$RUN_DIR/predict_${Q[0]}.png"
echo "[train_pixels] done in ${SECONDS}s; timeline plot: $RUN_DIR/predict_${Q[0]}.png"
