#!/usr/bin/env bash
# Start (or continue) a long BaryIR training run that survives a closed terminal.
#
#   bash scripts/train_long.sh CONFIG RUN_DIR [section.key=value ...]
#   GPUS=4 bash scripts/train_long.sh aio3 runs/aio3 data.root=/data/aio3
#
# Continues from RUN_DIR/last.pt when it exists (keep the same CONFIG), else starts a
# new run. Writes RUN_DIR/train.log (watch it with `tail -f RUN_DIR/train.log`) and
# RUN_DIR/train.pid. With GPUS > 1 it launches one process per GPU with torchrun and
# adds the released multi-GPU script's cost.gamma=0.02 (pass cost.gamma=... to change it).
#
# In tmux instead of nohup (reattach after logging out):
#   tmux new -s baryir 'bash scripts/train_long.sh aio3 runs/aio3; bash'
#   detach: Ctrl-b d   reattach: tmux attach -t baryir
set -euo pipefail

config=${1:?usage: train_long.sh CONFIG RUN_DIR [section.key=value ...]}
run_dir=${2:?usage: train_long.sh CONFIG RUN_DIR [section.key=value ...]}
shift 2
gpus=${GPUS:-1}

mkdir -p "$run_dir"
resume=()
if [ -f "$run_dir/last.pt" ]; then
    resume=(--resume "$run_dir/last.pt")
fi
if [ "$gpus" -gt 1 ]; then
    launcher=(torchrun --standalone "--nproc_per_node=$gpus" -m baryir)
    extra=(cost.gamma=0.02)
else
    launcher=(baryir)
    extra=()
fi

nohup "${launcher[@]}" train --config "$config" "${resume[@]}" --no-progress \
    "output.dir=$run_dir" "${extra[@]}" "$@" >> "$run_dir/train.log" 2>&1 &
echo $! > "$run_dir/train.pid"
echo "started process $! (${resume[*]:-new run}); log: $run_dir/train.log; stop: kill \$(cat $run_dir/train.pid)"
