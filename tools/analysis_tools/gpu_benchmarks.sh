#!/usr/bin/env bash
# Every GPU measurement the READMEs quote, in one run on one CUDA machine.
#
#   tools/analysis_tools/gpu_benchmarks.sh OUT_DIR [OFFICIAL_ROOT]
#
# OUT_DIR receives one log per step (and gpu_check.md/.json); OFFICIAL_ROOT,
# if given, holds checkouts of the official code timed side by side:
# OFFICIAL_ROOT/Auto-Seg-Loss (github.com/fundamentalvision/Auto-Seg-Loss) and
# OFFICIAL_ROOT/Parameterized-AP-Loss (github.com/fundamentalvision/
# Parameterized-AP-Loss). Each step runs under its own time limit, so one
# failing step never stops the others (about 15 minutes in all on an H200):
#   1. Auto Seg-Loss, 4x150x512x512, every metric vs cross-entropy (and the
#      official loss), then its Triton tests, compiled;
#   2. De-focus selective scan, b=32, L=196, N=16, E of De-focus S/B/L, then
#      its Triton tests, compiled;
#   3. PAP loss at 400k and 8M entries (and the official loss); RevCol-T/B
#      reversible vs plain training step, batch 32, 224 px;
#   4. gpu_check.py over every zoo config (OUT_DIR/gpu_check.md, the table
#      committed as docs/gpu_check.md);
#   5. peak memory per GPU of a UPerNet RevCol-H 640x640 training step, FSDP
#      vs DDP, on every visible GPU (torchrun; OUT_DIR/fsdp_memory.json).
# PYTHON picks the interpreter (default: python3).
set -uo pipefail
cd "$(dirname "$0")/../.."
out=${1:?usage: $0 OUT_DIR [OFFICIAL_ROOT]}
official=${2:-}
mkdir -p "$out"
export PYTHONUNBUFFERED=1
py=${PYTHON:-python3}
"$py" -c 'import torch, sys; sys.exit(not torch.cuda.is_available())' || {
    echo "error: no CUDA device visible to torch; these benchmarks need one" >&2
    exit 2; }

step() {  # step NAME SECONDS COMMAND...: run, log, never abort the script
    local name=$1 limit=$2 t=$SECONDS
    shift 2
    echo "== $name (limit ${limit} s)"
    timeout -k 5 "$limit" "$@" > "$out/$name.log" 2>&1
    echo "   exit $? after $((SECONDS - t)) s -> $out/$name.log"
}
opt() { [[ -n "$official" && -d "$official/$1" ]] && echo "--official $official/$1"; }

{
    date -u '+%Y-%m-%d %H:%M UTC'
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
    "$py" -c 'import sys, torch, numpy; print("python", sys.version.split()[0], "torch", torch.__version__, "cuda", torch.version.cuda, "numpy", numpy.__version__)'
    "$py" -c 'import triton; print("triton", triton.__version__)'
} > "$out/machine.txt" 2>&1
cat "$out/machine.txt"

# shellcheck disable=SC2046
step auto_seg_loss 130 "$py" tools/analysis_tools/benchmark_auto_seg_loss.py \
    --device cuda --batch 4 --classes 150 --size 512 --repeat 5 --ref-size 64 $(opt Auto-Seg-Loss)
step auto_seg_loss_triton_tests 100 "$py" -m pytest tests/auto_seg_loss -k triton -q -p no:cacheprovider
step defocus_scan 40 "$py" tools/analysis_tools/benchmark_defocus_scan.py \
    --device cuda --batch 32 --tokens 196 --widths 768 1536 2048 --repeat 10
step defocus_triton_tests 60 "$py" -m pytest tests/defocus/test_selective_scan_triton.py -q -p no:cacheprovider
# shellcheck disable=SC2046
step pap_loss_400k 45 "$py" tools/analysis_tools/benchmark_pap_loss.py --device cuda \
    --entries 400000 --topk 100000 --positives 2000 --impls fast $(opt Parameterized-AP-Loss) \
    --ref-max-positives 2000 --warmup 3 --repeat 20 --case-timeout 30 --out "$out/pap_400k.json"
# shellcheck disable=SC2046
step pap_loss_8m 20 "$py" tools/analysis_tools/benchmark_pap_loss.py --device cuda \
    --entries 8000000 --topk 1000000 --positives 8000 --impls fast $(opt Parameterized-AP-Loss) \
    --ref-max-positives 0 --warmup 3 --repeat 20 --case-timeout 15 --out "$out/pap_8m.json"
step revcol_memory 40 "$py" tools/analysis_tools/benchmark_revcol_memory.py \
    --device cuda --arch t b --batch 32 --size 224 --keep-every 1 0 --warmup 2 --iters 5 \
    --threads 8 --out "$out/revcol.json"
step gpu_check 200 "$py" tools/analysis_tools/gpu_check.py --device cuda \
    --jobs 6 --max-heavy 2 --timeout 120 --deadline 180 --warmup 1 --iters 1 \
    --out "$out/gpu_check"
step fsdp_memory 300 "$py" -m torch.distributed.run --standalone \
    --nproc_per_node="$(nvidia-smi -L | wc -l)" tools/analysis_tools/benchmark_fsdp_memory.py \
    --batch 1 --steps 2 --out "$out/fsdp_memory.json"
