#!/usr/bin/env bash
# Usage: tools/dist_test.sh CONFIG CHECKPOINT GPUS [test.py args]
# GPUS processes on this node (torchrun, --launcher pytorch). Several nodes:
# on each, NNODES=N NODE_RANK=r MASTER_ADDR=<node 0> [PORT=29500]
# tools/dist_test.sh CONFIG CHECKPOINT GPUS ... (see tools/misc/dist_launch.sh).
if [[ $# -lt 3 ]]; then
    echo "usage: $0 CONFIG CHECKPOINT GPUS [test.py args]" >&2
    exit 2
fi
exec "$(dirname "$0")/misc/dist_launch.sh" test.py "$3" "$1" "$2" "${@:4}"
