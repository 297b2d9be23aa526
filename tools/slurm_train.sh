#!/usr/bin/env bash
# Usage: [GPUS=8] [GPUS_PER_NODE=8] [CPUS_PER_TASK=5] [SRUN_ARGS=...] \
#        [PORT=29500] tools/slurm_train.sh PARTITION JOB_NAME CONFIG WORK_DIR \
#        [train.py args]
# One task per GPU on GPUS / GPUS_PER_NODE nodes (srun); the processes find
# each other through the Slurm variables (node 0 of the allocation is the
# master). PORT (or MASTER_PORT): the rendezvous port, distinct per job
# sharing a node.
if [[ $# -lt 4 ]]; then
    echo "usage: $0 PARTITION JOB_NAME CONFIG WORK_DIR [train.py args]" >&2
    exit 2
fi
if [[ -n ${PORT:-} ]]; then
    export MASTER_PORT=$PORT
fi
exec "$(dirname "$0")/misc/slurm_launch.sh" "$1" "$2" train.py "$3" \
    --work-dir="$4" "${@:5}"
