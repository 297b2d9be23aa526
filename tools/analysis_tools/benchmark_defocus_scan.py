"""Benchmark the selective scans against the sequential reference.

    python tools/analysis_tools/benchmark_defocus_scan.py [--device cpu]
        [--tokens 196 784] [--widths 128 768 1536] [--batch 1] [--state 16]
        [--threads 1] [--repeat 3] [--chunk-size T]
    python tools/analysis_tools/benchmark_defocus_scan.py --device cuda
        [--tokens 196] [--widths 768 1536 2048] [--batch 32] [--repeat 10]

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

``--device cuda`` times, in one process on the GPU, the sequential loop, the
pure-PyTorch chunked scan (default chunk plan, column T), the Triton kernels
and mamba_ssm's ``selective_scan_fn`` when it is installed: the median of
``--repeat`` runs after a warm-up (which compiles the Triton kernels), with
CUDA events; peak = ``torch.cuda.max_memory_allocated`` during one run minus
the memory allocated before it (the inputs); speed-ups are against the loop
in the same run; the last column is the largest relative difference of the
output and input gradients against the loop. Defaults there: batch 32, the
De-focus Small / Base / Large widths 768 / 1536 / 2048, 196 tokens.
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


def cuda_scans(args):
    """name -> (scan(u, delta, A, B, C) -> out, shows the chunk plan)."""
    scan = load('selective_scan')
    parallel = scan.SelectiveScanFn
    scans = {
        'sequential': (load('reference').selective_scan_ref, False),
        'chunked': (lambda *xs: parallel.apply(
            *xs, None, None, None, False, args.chunk_size)[0], True),
    }
    try:
        scans['triton'] = (
            load('selective_scan_triton').triton_selective_scan, False)
    except ImportError as err:
        print(f'triton unavailable: {err}\n')
    if scan.mamba_ssm_available():
        scans['mamba_ssm'] = (scan._import_kernel('selective_scan'), False)
    return scans


def cuda_timed(fn, repeat):
    """Median CUDA-event time (ms) of ``repeat`` calls after a warm-up, the
    peak memory (MB) of one call above what was allocated before it, and
    the last result."""
    import torch
    fn()
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated()
    result = fn()
    torch.cuda.synchronize()
    peak = (torch.cuda.max_memory_allocated() - base) / 2**20
    times = []
    for _ in range(repeat):
        del result
        start = torch.cuda.Event(enable_timing=True)
        end = torch.cuda.Event(enable_timing=True)
        start.record()
        result = fn()
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end))
    return sorted(times)[len(times) // 2], peak, result


def cuda_main(args):
    import torch
    plan_chunks = load('selective_scan').plan_chunks
    scans = cuda_scans(args)
    print(f'{torch.cuda.get_device_name()}, torch {torch.__version__}, '
          f'batch {args.batch}, N={args.state}, float32, the official call '
          f'(softplus outside, no D / z / bias); median of {args.repeat} '
          f'runs; peak = max allocated during one run minus the inputs\n')
    print('| E | L | pass | scan | T | time | speed-up vs loop | peak | '
          'max rel. diff (out / grads) |')
    print('|---|---|---|---|---|---|---|---|---|')
    for width in args.widths:
        for length in args.tokens:
            inputs = [t.cuda() for t in make_inputs(
                args.batch, width, args.state, length)]
            size = plan_chunks(inputs[1], inputs[2], args.chunk_size)[0]
            for mode in ('fwd', 'fwd+bwd'):
                backward = mode == 'fwd+bwd'

                def run(scan):
                    xs = [t.clone().requires_grad_(backward) for t in inputs]
                    out = scan(*xs)
                    if backward:
                        out.backward(torch.ones_like(out))
                    return [out.detach()] + [x.grad for x in xs if backward]

                rows = {}
                for name, (scan, planned) in scans.items():
                    with torch.set_grad_enabled(backward):
                        rows[name] = cuda_timed(lambda: run(scan),
                                                args.repeat)
                seq_ms, _, seq_result = rows['sequential']
                for name, (ms, peak, result) in rows.items():
                    diffs = [rel_diff(a, b)
                             for a, b in zip(result, seq_result)]
                    diff = f'{diffs[0]:.1e}' + (
                        f' / {max(diffs[1:]):.1e}' if len(diffs) > 1 else '')
                    chunk = size if scans[name][1] else ''
                    print(f'| {width} | {length} | {mode} | {name} | {chunk} '
                          f'| {ms:.2f} ms | {seq_ms / ms:.1f}x | '
                          f'{peak:.0f} MB | {diff} |', flush=True)
                del rows, seq_result
            del inputs
            torch.cuda.empty_cache()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--device', choices=('cpu', 'cuda'), default='cpu')
    parser.add_argument('--tokens', type=int, nargs='+', default=None,
                        help='default: 196 784 (cpu), 196 (cuda)')
    parser.add_argument('--widths', type=int, nargs='+', default=None,
                        help='default: 128 768 1536 (cpu), 768 1536 2048 '
                        '(cuda)')
    parser.add_argument('--batch', type=int, default=None,
                        help='default: 1 (cpu), 32 (cuda)')
    parser.add_argument('--state', type=int, default=16)
    parser.add_argument('--threads', type=int, default=1)
    parser.add_argument('--repeat', type=int, default=None,
                        help='default: 3 (cpu), 10 (cuda)')
    parser.add_argument('--chunk-size', type=int, default=None,
                        help='chunk length of the parallel scan '
                        '(default: chosen per shape and device)')
    parser.add_argument('--worker', nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    cuda = args.device == 'cuda'
    defaults = dict(tokens=[196] if cuda else [196, 784],
                    widths=[768, 1536, 2048] if cuda else [128, 768, 1536],
                    batch=32 if cuda else 1, repeat=10 if cuda else 3)
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if cuda:
        cuda_main(args)
        return
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
