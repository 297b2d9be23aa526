"""Benchmark the parallel selective scan against the sequential reference.

    python tools/analysis_tools/benchmark_defocus_scan.py [--tokens 196 784]
        [--widths 64 768 1536] [--batch 1] [--state 16] [--threads 1]
        [--repeat 3]

For every (E = width, L = tokens) case, forward and forward + backward of the
official De-focus call (softplus outside, no D / z / bias) are timed in
float32 for the chunked parallel scan and the token-by-token reference,
each in its own process (one thread by default) so that its peak memory is
its own: peak resident set minus the resident set after the inputs were
built and a small warm-up call. The table gives times, speed-ups and peaks
from this one run, and the largest relative difference of the outputs and
input gradients of the parallel scan against the reference.
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


def rss_kb():
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE') // 1024


def make_inputs(batch, width, state, length, seed=0):
    """De-focus-like inputs: step sizes in the initial dt range."""
    import torch
    g = torch.Generator().manual_seed(seed)
    u = torch.randn(batch, width, length, generator=g)
    delta = torch.exp(torch.empty(batch, width, length).uniform_(
        -6.9, -2.3, generator=g))  # dt in [1e-3, 0.1]
    A = -torch.arange(1, state + 1, dtype=torch.float32)[None].repeat(
        width, 1)
    B = torch.randn(batch, state, length, generator=g)
    C = torch.randn(batch, state, length, generator=g)
    return [u, delta, A, B, C]


def worker(impl, mode, width, length, args, out_file):
    import torch

    from projects.defocus import selective_scan
    torch.set_num_threads(args.threads)
    backward = mode == 'fwd+bwd'

    def run(inputs):
        xs = [t.clone().requires_grad_(backward) for t in inputs]
        out = selective_scan(*xs, impl=impl)
        if backward:
            out.backward(torch.ones_like(out))
        return out, xs

    run(make_inputs(1, 4, args.state, 8))  # warm-up
    inputs = make_inputs(args.batch, width, args.state, length)
    base = rss_kb()
    times = []
    for _ in range(args.repeat if impl == 'parallel' else 1):
        start = time.perf_counter()
        out, xs = run(inputs)
        times.append(time.perf_counter() - start)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base
    result = dict(out=out.detach())
    if backward:
        result.update({f'grad{i}': x.grad for i, x in enumerate(xs)})
    torch.save(result, out_file)
    print(json.dumps(dict(time=min(times), peak_mb=max(peak, 0) / 1024)))


def rel_diff(a, b):
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-30))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--tokens', type=int, nargs='+', default=[196, 784])
    parser.add_argument('--widths', type=int, nargs='+',
                        default=[64, 768, 1536])
    parser.add_argument('--batch', type=int, default=1)
    parser.add_argument('--state', type=int, default=16)
    parser.add_argument('--threads', type=int, default=1)
    parser.add_argument('--repeat', type=int, default=3)
    parser.add_argument('--worker', nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        impl, mode, width, length, out_file = args.worker
        worker(impl, mode, int(width), int(length), args, out_file)
        return
    import torch
    common = ['--batch', str(args.batch), '--state', str(args.state),
              '--threads', str(args.threads), '--repeat', str(args.repeat)]
    print(f'batch {args.batch}, state N={args.state}, float32, '
          f'{args.threads} thread(s); parallel: best of {args.repeat}, '
          'sequential: one run\n')
    print('| E | L | pass | sequential | parallel | speed-up | seq peak | '
          'par peak | max rel. diff (out / grads) |')
    print('|---|---|---|---|---|---|---|---|---|')
    with tempfile.TemporaryDirectory() as tmp:
        for width in args.widths:
            for length in args.tokens:
                for mode in ('fwd', 'fwd+bwd'):
                    res = {}
                    for impl in ('sequential', 'parallel'):
                        out_file = os.path.join(tmp, f'{impl}.pth')
                        proc = subprocess.run(
                            [sys.executable, __file__, *common, '--worker',
                             impl, mode, str(width), str(length), out_file],
                            capture_output=True, text=True, check=True)
                        res[impl] = json.loads(
                            proc.stdout.strip().splitlines()[-1])
                        res[impl]['data'] = torch.load(out_file)
                    seq, par = res['sequential'], res['parallel']
                    diffs = [rel_diff(par['data'][k], seq['data'][k])
                             for k in seq['data']]
                    diff = f'{diffs[0]:.1e}' + (
                        f' / {max(diffs[1:]):.1e}' if len(diffs) > 1 else '')
                    print(f'| {width} | {length} | {mode} | '
                          f'{seq["time"] * 1e3:.1f} ms | '
                          f'{par["time"] * 1e3:.1f} ms | '
                          f'{seq["time"] / par["time"]:.1f}x | '
                          f'{seq["peak_mb"]:.0f} MB | {par["peak_mb"]:.0f} MB '
                          f'| {diff} |', flush=True)


if __name__ == '__main__':
    main()
