#!/usr/bin/env bash
# Usage: [GPUS=8] [GPUS_PER_NODE=8] [CPUS_PER_TASK=5] [SRUN_ARGS=...] \
#        [PORT=29500] tools/slurm_test.sh PARTITION JOB_NAME CONFIG CHECKPOINT \
#        [test.py args]
# One task per GPU on GPUS / GPUS_PER_NODE nodes (srun), as slurm_train.sh.
if [[ $# -lt 4 ]]; then
    echo "usage: $0 PARTITION JOB_NAME CONFIG CHECKPOINT [test.py args]" >&2
    exit 2
fi
if [[ -n ${PORT:-} ]]; then
    export MASTER_PORT=$PORT
fi
exec "$(dirname "$0")/misc/slurm_launch.sh" "$1" "$2" test.py "$3" "$4" \
    "${@:5}"
