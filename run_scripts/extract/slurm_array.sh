#!/usr/bin/env bash
# Spread one `gf extract` over a SLURM job array: task i of N extracts the i-th of N disjoint
# parts of the videos into the shared --out folder (its own shards, under its own lock).
# The array's first task also queues the merge: a job that starts once every task has ended
# (--dependency=afterany, so a task that failed on some videos does not hold it back) and
# runs `gf extract --merge`, which checks that every video is stored once or listed as
# failed, merges the failure lists and writes the index. Every task must see the videos,
# the windows files and the weights (paths may differ: the keys are compared, not paths).
#
#   sbatch --array=0-7 run_scripts/extract/slurm_array.sh --videos DIR --out OUT --backbone NAME [options]
#
# A task that was killed or failed: rerun it alone, giving the array's size and, for an
# array whose ids did not start at 0, its first id (task T runs part T - first; its part
# resumes; the merge is queued again behind it):
#
#   GF_EXTRACT_PARTS=8 sbatch --array=5 run_scripts/extract/slurm_array.sh (the same arguments)
#   GF_EXTRACT_PARTS=8 GF_EXTRACT_FIRST=1 sbatch --array=6 ...   (task 6 of --array=1-8: part 5)
#
#SBATCH --job-name=gf-extract
#SBATCH --cpus-per-task=8
#SBATCH --time=04:00:00
set -euo pipefail
usage="usage: sbatch --array=0-(N-1) $0 --videos DIR|LIST --out DIR --backbone NAME [gf extract options]"
TASK="${SLURM_ARRAY_TASK_ID:?run me as a job array: $usage}"
FIRST="${GF_EXTRACT_FIRST:-0}"
if ! [[ "$FIRST" =~ ^[0-9]+$ ]]; then
  echo "GF_EXTRACT_FIRST=$FIRST: give the first id of the original array (a whole number, e.g. 1 for --array=1-8)" >&2
  exit 2
fi
if [ -n "${GF_EXTRACT_PARTS:-}" ]; then  # one task rerun alone: its id, less the original array's first id
  COUNT="$GF_EXTRACT_PARTS"
  INDEX=$(( TASK - FIRST ))
elif [ -n "${GF_EXTRACT_FIRST:-}" ]; then  # a whole array counts from its own first id
  echo "GF_EXTRACT_FIRST is for rerunning one task with GF_EXTRACT_PARTS=N; a whole array counts from its first id" >&2
  exit 2
else
  COUNT="${SLURM_ARRAY_TASK_COUNT:?run me as a job array: $usage}"
  INDEX=$(( TASK - ${SLURM_ARRAY_TASK_MIN:-0} ))  # --array=1-8 works as well as 0-7
fi
OUT=""
previous=""
for arg in "$@"; do
  case "$arg" in --out=*) OUT="${arg#--out=}" ;; esac
  if [ "$previous" = "--out" ]; then OUT="$arg"; fi
  previous="$arg"
done
if [ -z "$OUT" ]; then echo "$usage (no --out given)" >&2; exit 2; fi
if [ "$TASK" = "${SLURM_ARRAY_TASK_MIN:-$TASK}" ] && [ -n "${SLURM_ARRAY_JOB_ID:-}" ]; then
  merge="python -m gf extract --merge --out $(printf '%q' "$OUT")"
  sbatch --dependency="afterany:${SLURM_ARRAY_JOB_ID}" --job-name=gf-extract-merge --wrap="$merge" \
    || echo "could not queue the merge; once every task has ended, run: $merge" >&2
fi
exec python -m gf extract "$@" --shard "${INDEX}/${COUNT}" --no-progress
