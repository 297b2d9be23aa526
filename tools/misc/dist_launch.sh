#!/usr/bin/env bash
# Usage: tools/misc/dist_launch.sh TOOL GPUS [tool args]
# Runs tools/TOOL (train.py, test.py, search_loss.py) with GPUS processes on
# this node through torchrun, with --launcher pytorch. Several nodes: run
# the same command on every node with the same NNODES, MASTER_ADDR and PORT
# and NODE_RANK = 0 .. NNODES-1 (node 0 hosts the rendezvous).
# Environment: NNODES (1), NODE_RANK (0), MASTER_ADDR (127.0.0.1; required
# when NNODES > 1), PORT or MASTER_PORT (29500; PORT wins), PYTHON (python).
set -euo pipefail
die() { echo "$(basename "$0"): $*" >&2; exit 2; }
[[ $# -ge 2 ]] || die "usage: $0 TOOL GPUS [tool args]"
TOOL=$1
GPUS=$2
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-${MASTER_PORT:-29500}}
is_int() { [[ $2 =~ ^[0-9]+$ ]] || die "$1 must be a non-negative integer, got '$2'"; }
is_int GPUS "$GPUS"
is_int NNODES "$NNODES"
is_int NODE_RANK "$NODE_RANK"
is_int PORT "$PORT"
((GPUS >= 1)) || die "GPUS (processes per node) must be >= 1, got $GPUS"
((NNODES >= 1)) || die "NNODES must be >= 1, got $NNODES"
((NODE_RANK < NNODES)) || \
    die "NODE_RANK must be in [0, NNODES - 1] = [0, $((NNODES - 1))], got $NODE_RANK"
if ((NNODES > 1)) && [[ -z ${MASTER_ADDR:-} ]]; then
    die "NNODES=$NNODES needs MASTER_ADDR: the address of node 0 (NODE_RANK=0) that every node can reach"
fi
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
[[ -f $ROOT/tools/$TOOL ]] || die "no tool tools/$TOOL"
export PYTHONPATH="$ROOT:${PYTHONPATH:-}"
exec "${PYTHON:-python}" -m torch.distributed.run \
    --nnodes="$NNODES" --node_rank="$NODE_RANK" \
    --master_addr="${MASTER_ADDR:-127.0.0.1}" --master_port="$PORT" \
    --nproc_per_node="$GPUS" "$ROOT/tools/$TOOL" "${@:3}" --launcher pytorch
