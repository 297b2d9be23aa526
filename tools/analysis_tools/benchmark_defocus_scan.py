"""Benchmark the chunked selective scan against the sequential reference.

    python tools/analysis_tools/benchmark_defocus_scan.py [--tokens 196 784]
        [--widths 128 768 1536] [--batch 1] [--state 16] [--threads 1]
        [--repeat 3] [--chunk-size T]

Widths are De-focus Mamba's scan widths E (``intermediate_size``): 128 for
the tiny CPU configs, 768 for Small, 1536 for Base (2048 for Large); N = 16.
For every (E, L) case, forward and forward + backward of the official call
(softplus outside, no D / z / bias; one causal scan per block) are timed in
float32 for the chunked scan and for the token-by-token reference, each in
its own process so that its peak memory is its own (peak resident set minus
the resident set after the inputs were built and a small warm-up call).

Times are the best of ``--repeat`` runs (the reference: of
``min(repeat, 2)``), as wall time and as the process's CPU time. With one
thread, CPU time leaves out the time the process waited for a core, so its
ratio is the stabler one on a shared machine. ``exp floor`` is the time of
``torch.exp`` on b·E·N·L elements (in cache-sized blocks, into a
preallocated buffer): every exact scan evaluates
these b·E·N·L decays (twice for forward + backward when the states are
recomputed, as here and in the CUDA kernel), so ``sequential / floor``
bounds the speed-up any such scan can reach on this CPU. The last column is
the largest relative difference of the outputs and input gradients of the
chunked scan against the reference.
"""
import argparse
import importlib.util
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


def load(name):
    """projects/defocus/<name>.py by path: the scan modules need only torch,
    so a worker does not import the package (mmcv, mmengine, ...)."""
    path = ROOT / 'projects' / 'defocus' / f'{name}.py'
    spec = importlib.util.spec_from_file_location(f'defocus_{name}', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


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


def timed(fn, repeat):
    """Best wall and CPU time (s) of ``repeat`` calls and the last result."""
    walls, cpus = [], []
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        result = fn()
        cpus.append(time.process_time() - cpu)
        walls.append(time.perf_counter() - wall)
    return min(walls), min(cpus), result


def worker(impl, mode, width, length, args, out_file):
    import torch
    torch.set_num_threads(args.threads)
    if impl == 'exp':  # the floor: the b*E*N*L decays, in cached blocks
        total = args.batch * width * args.state * length
        block = min(total, 1 << 16)
        x, out = -torch.rand(block), torch.empty(block)

        def decays():
            for _ in range(total // block):
                torch.exp(x, out=out)
            return torch.exp(x[:total % block])

        decays()
        wall, cpu, _ = timed(decays, args.repeat)
        print(json.dumps(dict(wall=wall, cpu=cpu)))
        return
    backward = mode == 'fwd+bwd'
    if impl == 'parallel':
        fn = load('selective_scan').SelectiveScanFn

        def scan(*xs):
            return fn.apply(*xs, None, None, None, False, args.chunk_size)[0]
    else:
        scan = load('reference').selective_scan_ref

    def run(inputs):
        xs = [t.clone().requires_grad_(backward) for t in inputs]
        out = scan(*xs)
        if backward:
            out.backward(torch.ones_like(out))
        return out, xs

    run(make_inputs(1, 4, args.state, 8))  # warm-up
    inputs = make_inputs(args.batch, width, args.state, length)
    base = rss_kb()
    repeat = args.repeat if impl == 'parallel' else min(args.repeat, 2)
    wall, cpu, (out, xs) = timed(lambda: run(inputs), repeat)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base
    result = dict(out=out.detach())
    if backward:
        result.update({f'grad{i}': x.grad for i, x in enumerate(xs)})
    torch.save(result, out_file)
    print(json.dumps(dict(wall=wall, cpu=cpu, peak_mb=max(peak, 0) / 1024)))


def rel_diff(a, b):
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-30))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--tokens', type=int, nargs='+', default=[196, 784])
    parser.add_argument('--widths', type=int, nargs='+',
                        default=[128, 768, 1536])
    parser.add_argument('--batch', type=int, default=1)
    parser.add_argument('--state', type=int, default=16)
    parser.add_argument('--threads', type=int, default=1)
    parser.add_argument('--repeat', type=int, default=3)
    parser.add_argument('--chunk-size', type=int, default=None,
                        help='chunk length of the parallel scan '
                        '(default: chosen per shape)')
    parser.add_argument('--worker', nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        impl, mode, width, length, out_file = args.worker
        worker(impl, mode, int(width), int(length), args, out_file)
        return
    import torch
    plan_chunks = load('selective_scan').plan_chunks
    common = ['--batch', str(args.batch), '--state', str(args.state),
              '--threads', str(args.threads), '--repeat', str(args.repeat)]
    if args.chunk_size:
        common += ['--chunk-size', str(args.chunk_size)]
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads),
               MKL_NUM_THREADS=str(args.threads))
    print(f'batch {args.batch}, N={args.state}, float32, {args.threads} '
          f'thread(s); times: best of {args.repeat} (sequential: best of '
          f'{min(args.repeat, 2)}), wall / CPU\n')
    print('| E | L | T | pass | sequential | chunked | speed-up wall / CPU | '
          'exp floor: bound (CPU) | seq peak | chunked peak | '
          'max rel. diff (out / grads) |')
    print('|---|---|---|---|---|---|---|---|---|---|---|')

    def call(impl, mode, width, length, out_file):
        proc = subprocess.run(
            [sys.executable, __file__, *common, '--worker', impl, mode,
             str(width), str(length), out_file],
            capture_output=True, text=True, check=True, env=env)
        return json.loads(proc.stdout.strip().splitlines()[-1])

    with tempfile.TemporaryDirectory() as tmp:
        for width in args.widths:
            for length in args.tokens:
                u, delta, A = make_inputs(args.batch, width, args.state,
                                          length)[:3]
                size = plan_chunks(delta, A, args.chunk_size)[0]
                floor = call('exp', 'fwd', width, length, '-')
                for mode in ('fwd', 'fwd+bwd'):
                    res = {}
                    for impl in ('sequential', 'parallel'):
                        out_file = os.path.join(tmp, f'{impl}.pth')
                        res[impl] = call(impl, mode, width, length, out_file)
                        res[impl]['data'] = torch.load(out_file)
                    seq, par = res['sequential'], res['parallel']
                    diffs = [rel_diff(par['data'][k], seq['data'][k])
                             for k in seq['data']]
                    diff = f'{diffs[0]:.1e}' + (
                        f' / {max(diffs[1:]):.1e}' if len(diffs) > 1 else '')
                    exps = 1 if mode == 'fwd' else 2
                    bound = seq['cpu'] / (exps * floor['cpu'])
                    print(f'| {width} | {length} | {size} | {mode} | '
                          f'{seq["wall"] * 1e3:.1f} / {seq["cpu"] * 1e3:.1f}'
                          f' ms | {par["wall"] * 1e3:.1f} / '
                          f'{par["cpu"] * 1e3:.1f} ms | '
                          f'{seq["wall"] / par["wall"]:.1f}x / '
                          f'{seq["cpu"] / par["cpu"]:.1f}x | '
                          f'{exps * floor["cpu"] * 1e3:.1f} ms: '
                          f'{bound:.0f}x | '
                          f'{seq["peak_mb"]:.0f} MB | {par["peak_mb"]:.0f} MB '
                          f'| {diff} |', flush=True)


if __name__ == '__main__':
    main()
