#!/usr/bin/env bash
# Usage: tools/dist_train.sh CONFIG GPUS [train.py args]
# Multi-node: NNODES, NODE_RANK, MASTER_ADDR, PORT as for torchrun.
exec "$(dirname "$0")/misc/dist_launch.sh" train.py "$2" "$1" "${@:3}"
