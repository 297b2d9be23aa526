#!/usr/bin/env bash
# Usage: [GPUS=8] [GPUS_PER_NODE=8] [CPUS_PER_TASK=5] [SRUN_ARGS=...] \
#        tools/misc/slurm_launch.sh PARTITION JOB_NAME {train.py|test.py} [tool args]
set -euo pipefail
PARTITION=$1
JOB_NAME=$2
TOOL=$3
GPUS_PER_NODE=${GPUS_PER_NODE:-8}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck disable=SC2086
PYTHONPATH="$ROOT:${PYTHONPATH:-}" \
srun -p "$PARTITION" --job-name="$JOB_NAME" --gres=gpu:"$GPUS_PER_NODE" \
    --ntasks="${GPUS:-8}" --ntasks-per-node="$GPUS_PER_NODE" \
    --cpus-per-task="${CPUS_PER_TASK:-5}" --kill-on-bad-exit=1 ${SRUN_ARGS:-} \
    "${PYTHON:-python}" -u "$ROOT/tools/$TOOL" "${@:4}" --launcher=slurm
