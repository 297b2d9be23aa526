#!/usr/bin/env bash
# Usage: tools/misc/dist_launch.sh {train.py|test.py} GPUS [tool args]
# Runs a tool on torchrun with --launcher pytorch. Multi-node: NNODES,
# NODE_RANK, MASTER_ADDR, PORT as for torchrun.
set -euo pipefail
TOOL=$1
GPUS=$2
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PYTHONPATH="$ROOT:${PYTHONPATH:-}" \
"${PYTHON:-python}" -m torch.distributed.run \
    --nnodes="${NNODES:-1}" --node_rank="${NODE_RANK:-0}" \
    --master_addr="${MASTER_ADDR:-127.0.0.1}" --master_port="${PORT:-29500}" \
    --nproc_per_node="$GPUS" "$ROOT/tools/$TOOL" "${@:3}" --launcher pytorch
