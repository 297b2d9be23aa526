"""Benchmark Castling-ViT's linear-angular attention against softmax attention.

    python tools/analysis_tools/benchmark_castling_attention.py
        [--tokens 196 784 3136] [--dims 384] [--heads 6] [--batch 1]
        [--threads 1] [--repeat 3] [--backward]

For each token count L, three implementations with the same qkv and output
projections run in their own process (one thread by default), so each peak
is its own: the peak resident set minus the resident set after the inputs
were built and a small warm-up call.

- ``softmax``: ``softmax(QK^T/sqrt(d)) V``, the ViT baseline, O(L^2);
- ``linear``: ``LinAngularAttention`` at inference (``eval()``), O(L);
- ``castling-train``: the same module in training, with the auxiliary
  masked softmax branch, O(L^2) (training only).

The table gives times (best of ``--repeat``), FLOPs counted by
``torch.utils.flop_counter`` (2 per multiply-add), peaks, the ratios
softmax / linear, and each implementation's growth since the smallest L
(linear cost doubles when L doubles; quadratic cost quadruples).
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
IMPLS = ('softmax', 'linear', 'castling-train')


def rss_kb():
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE') // 1024


def worker(impl, tokens, args):
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from projects.castling_vit import LinAngularAttention, softmax_attention
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    attn = LinAngularAttention(args.dims, args.heads)
    attn.train(impl == 'castling-train')

    def run(x):
        if impl == 'softmax':
            return softmax_attention(x, attn.qkv, attn.proj, args.heads)
        return attn(x)

    def step(x):
        if args.backward:
            run(x).sum().backward()
        else:
            with torch.no_grad():
                run(x)

    step(torch.randn(args.batch, 16, args.dims, requires_grad=True))
    x = torch.randn(args.batch, tokens, args.dims, requires_grad=True)
    with FlopCounterMode(display=False) as counter:
        step(x)
    flops = counter.get_total_flops()
    base = rss_kb()
    times = []
    for _ in range(args.repeat):
        start = time.perf_counter()
        step(x)
        times.append(time.perf_counter() - start)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base
    print(json.dumps(dict(time=min(times), flops=flops,
                          peak_mb=max(peak, 0) / 1024)))


def run_case(impl, tokens, args):
    cmd = [sys.executable, __file__, '--worker', impl, str(tokens),
           '--dims', str(args.dims), '--heads', str(args.heads),
           '--batch', str(args.batch), '--threads', str(args.threads),
           '--repeat', str(args.repeat)] + (['--backward'] if args.backward
                                            else [])
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        print(f'{impl} L={tokens} failed: '
              f'{proc.stderr.strip().splitlines()[-1:]}')
        return None
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--tokens', type=int, nargs='+',
                        default=[196, 784, 3136])
    parser.add_argument('--dims', type=int, default=384)
    parser.add_argument('--heads', type=int, default=6)
    parser.add_argument('--batch', type=int, default=1)
    parser.add_argument('--threads', type=int, default=1)
    parser.add_argument('--repeat', type=int, default=3)
    parser.add_argument('--backward', action='store_true',
                        help='time forward + backward instead of forward')
    parser.add_argument('--worker', nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args.worker[0], int(args.worker[1]), args)

    mode = 'forward + backward' if args.backward else 'forward (no grad)'
    print(f'C={args.dims}, {args.heads} heads, batch {args.batch}, '
          f'{args.threads} thread(s), {mode}, best of {args.repeat}')
    print('| tokens | softmax time | linear time | speed-up | softmax GFLOPs '
          '| linear GFLOPs | FLOP ratio | softmax peak | linear peak | '
          'memory ratio | castling-train time | growth since first L: '
          'softmax / linear time |')
    print('|---|---|---|---|---|---|---|---|---|---|---|---|')
    first = None
    for tokens in args.tokens:
        res = {impl: run_case(impl, tokens, args) for impl in IMPLS}
        sm, lin, tr = res['softmax'], res['linear'], res['castling-train']
        if not (sm and lin):
            continue
        first = first or (tokens, sm, lin)
        growth = (f"{sm['time'] / first[1]['time']:.1f}x / "
                  f"{lin['time'] / first[2]['time']:.1f}x "
                  f"(L x{tokens / first[0]:.0f})")
        print(f"| {tokens} | {sm['time'] * 1e3:.2f} ms | "
              f"{lin['time'] * 1e3:.2f} ms | "
              f"{sm['time'] / lin['time']:.1f}x | "
              f"{sm['flops'] / 1e9:.3f} | {lin['flops'] / 1e9:.3f} | "
              f"{sm['flops'] / lin['flops']:.1f}x | "
              f"{sm['peak_mb']:.1f} MB | {lin['peak_mb']:.1f} MB | "
              f"{sm['peak_mb'] / max(lin['peak_mb'], 0.1):.1f}x | "
              f"{tr['time'] * 1e3:.2f} ms | {growth} |" if tr else
              f"| {tokens} | failed |")


if __name__ == '__main__':
    main()
