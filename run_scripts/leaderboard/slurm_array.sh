#!/usr/bin/env bash
# Spread one leaderboard over a SLURM job array: task i of N runs the i-th of N disjoint
# parts of the work into the shared output folder; each result is written atomically
# under its own lock. Each task writes the board with what is finished when it ends; once
# all tasks are done, run `gf leaderboard show <output_dir>` for the complete board.
# Every task must see the data at the same paths (the split fingerprint covers them).
#
#   sbatch --array=0-3 run_scripts/leaderboard/slurm_array.sh projects/leaderboards/demo.yaml
#
#SBATCH --job-name=gf-leaderboard
#SBATCH --cpus-per-task=4
#SBATCH --time=02:00:00
set -euo pipefail
MANIFEST="${1:?usage: sbatch --array=0-(N-1) $0 MANIFEST}"
COUNT="${SLURM_ARRAY_TASK_COUNT:?run me as a job array (sbatch --array=0-3 ...)}"
INDEX=$(( SLURM_ARRAY_TASK_ID - ${SLURM_ARRAY_TASK_MIN:-0} ))  # --array=1-4 works as well as 0-3
python -m gf leaderboard run --manifest "$MANIFEST" --shard "${INDEX}/${COUNT}" --no-progress
