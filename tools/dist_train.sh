#!/usr/bin/env bash
# Usage: tools/dist_train.sh CONFIG GPUS [train.py args]
# GPUS processes on this node (torchrun, --launcher pytorch). Several nodes:
# on each, NNODES=N NODE_RANK=r MASTER_ADDR=<node 0> [PORT=29500]
# tools/dist_train.sh CONFIG GPUS ... (see tools/misc/dist_launch.sh).
if [[ $# -lt 2 ]]; then
    echo "usage: $0 CONFIG GPUS [train.py args]" >&2
    exit 2
fi
exec "$(dirname "$0")/misc/dist_launch.sh" train.py "$2" "$1" "${@:3}"
