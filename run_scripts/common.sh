# Shared by the run scripts: launches `gf <command>` on one process or under torchrun.
# gf_run <command> <project yaml> <dataset name> <output dir> [key=value ...]
# SEEDS="0 1 2" makes `gf train` train one run per seed into <output dir>/seed<N> (docs/seeds.md).
gf_run() {
  local command="$1" cfg="$2" dataset="$3" output_dir="$4"
  shift 4
  local nproc="${NPROC:-1}"
  local launch=(python -m gf)
  if [ "$nproc" -gt 1 ]; then
    launch=(torchrun --standalone --nproc_per_node="$nproc" -m gf)
  fi
  local options=("run.output_dir=$output_dir")
  if [ -n "${DATA_ROOT:-}" ]; then options+=("datasets.$dataset.data_root=$DATA_ROOT"); fi
  local seeds=()
  if [ "$command" = train ] && [ -n "${SEEDS:-}" ]; then
    read -r -a seeds <<< "$SEEDS"
    seeds=(--seeds "${seeds[@]}")
  fi
  "${launch[@]}" "$command" --cfg-path "$cfg" ${GF_EVAL_ARGS[@]+"${GF_EVAL_ARGS[@]}"} ${seeds[@]+"${seeds[@]}"} \
    --options "${options[@]}" "$@"
}

# gf_eval <project yaml> <dataset name> <output dir> [key=value ...]: evaluate $CHECKPOINT
# on $SPLITS (default "val test"); shared by the benchmarks' eval.sh.
gf_eval() {
  : "${CHECKPOINT:?set CHECKPOINT to the checkpoint to evaluate}"
  GF_EVAL_ARGS=(--checkpoint "$CHECKPOINT" --splits ${SPLITS:-val test})
  gf_run evaluate "$@"
}
