#!/usr/bin/env bash
# Usage: tools/dist_test.sh CONFIG CHECKPOINT GPUS [test.py args]
# Multi-node: NNODES, NODE_RANK, MASTER_ADDR, PORT as for torchrun.
exec "$(dirname "$0")/misc/dist_launch.sh" test.py "$3" "$1" "$2" "${@:4}"
