#!/usr/bin/env bash
# Train one config over several seeds as a SLURM job array: task i trains the i-th seed of
# the list into OUTPUT_DIR/seed<N> (the same run as `gf train --seeds`: a finished seed is
# reused, an interrupted one continued), then re-writes OUTPUT_DIR/seeds_summary.{json,md}
# from the seeds finished so far (the others are listed as not finished). Two tasks that end
# together may race on the summary; once all are done, `python -m gf summarize-seeds
# OUTPUT_DIR` writes the complete one. Every task must see the data at the same paths.
#
#   sbatch --array=0-4 run_scripts/train/slurm_seeds.sh CONFIG OUTPUT_DIR 0 1 2 3 4 [key=value ...]
#
#SBATCH --job-name=gf-seeds
#SBATCH --cpus-per-task=4
#SBATCH --time=04:00:00
set -euo pipefail
usage="usage: sbatch --array=0-(N-1) $0 CONFIG OUTPUT_DIR SEED... [key=value ...]"
CONFIG="${1:?$usage}"
OUTPUT_DIR="${2:?$usage}"
shift 2
SEEDS=()
while [ $# -gt 0 ] && [[ "$1" =~ ^[0-9]+$ ]]; do SEEDS+=("$1"); shift; done
if [ ${#SEEDS[@]} -eq 0 ]; then echo "$usage" >&2; exit 2; fi
TASK="${SLURM_ARRAY_TASK_ID:?run me as a job array (sbatch --array=0-$(( ${#SEEDS[@]} - 1 )) ...)}"
INDEX=$(( TASK - ${SLURM_ARRAY_TASK_MIN:-0} ))  # --array=1-5 works as well as 0-4
if [ "$INDEX" -lt 0 ] || [ "$INDEX" -ge ${#SEEDS[@]} ]; then
  echo "array task $TASK (index $INDEX) has no seed: the list has ${#SEEDS[@]} (${SEEDS[*]})" >&2
  exit 2
fi
python -m gf train --cfg-path "$CONFIG" --seeds "${SEEDS[$INDEX]}" --options "run.output_dir=$OUTPUT_DIR" "$@"
python -m gf summarize-seeds "$OUTPUT_DIR" --seeds "${SEEDS[@]}"
