"""Benchmark the pure-PyTorch DCNv3 core against a depthwise convolution.

    python tools/analysis_tools/benchmark_dcnv3.py [--size 56] [--batch 8]
        [--channels 64] [--group 4] [--kernel 3] [--threads 1] [--repeat 5]
        [--device cpu] [--complexity]

Both run forward + backward in float32 on ``[batch, size, size, channels]``
(InternImage-T's first level by default): the DCNv3 core with random
offsets and softmaxed point weights, and ``F.conv2d`` depthwise with the
same kernel size (the operator DCNv3 generalises). Each case runs in its
own process, so its peak memory is its own: the peak resident set (CPU) or
the CUDA allocator peak, minus the level after the inputs were built and a
warm-up call. The autograd-saved bytes are counted exactly with
``saved_tensors_hooks``. Ratios are DCNv3 / depthwise conv, one run.
``--complexity`` also prints parameters and FLOPs of the variants.
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


def rss_kb():
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE') // 1024


def make_case(impl, args):
    """``(fn, inputs)``: fn(*inputs) -> output for forward + backward."""
    import torch
    import torch.nn.functional as F

    from projects.internimage import dcnv3_core_pytorch
    g = torch.Generator().manual_seed(0)
    n, s, c, k = args.batch, args.size, args.channels, args.kernel
    pad = (k - 1) // 2
    x = torch.randn(n, s, s, c, generator=g)
    if impl == 'dwconv':
        weight = torch.randn(c, 1, k, k, generator=g) / k
        xs = x.permute(0, 3, 1, 2).contiguous()

        def fn(inp, w):
            return F.conv2d(inp, w, padding=pad, groups=c)
        inputs = [xs, weight]
    else:
        points = k * k
        offset = torch.randn(n, s, s, args.group * points * 2, generator=g)
        logits = torch.randn(n, s, s, args.group, points, generator=g)

        def fn(inp, off, lg):
            mask = lg.softmax(-1).flatten(-2)
            return dcnv3_core_pytorch(inp, off, mask, k, k, 1, 1, pad, pad,
                                      1, 1, args.group, c // args.group,
                                      1.0, False)
        inputs = [x, offset, logits]
    return fn, [t.to(args.device) for t in inputs]


def saved_bytes(fn, inputs):
    """Bytes of distinct storages autograd keeps for backward."""
    import torch
    seen = {}

    def pack(t):
        seen[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn(*inputs)
    return sum(seen.values())


def worker(impl, args):
    import torch
    torch.set_num_threads(args.threads)
    cuda = args.device.startswith('cuda')
    small = argparse.Namespace(**dict(vars(args), size=8, batch=1))
    fn, inputs = make_case(impl, small)  # warm-up on a tiny input
    fn(*[t.requires_grad_() for t in inputs]).sum().backward()
    fn, inputs = make_case(impl, args)
    inputs = [t.requires_grad_() for t in inputs]
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    else:
        base = rss_kb() * 1024
    times = []
    for _ in range(args.repeat):
        for t in inputs:
            t.grad = None
        start = time.perf_counter()
        fn(*inputs).sum().backward()
        if cuda:
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    if cuda:
        peak = torch.cuda.max_memory_allocated() - base
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - base
    saved = saved_bytes(fn, inputs)
    print(json.dumps(dict(time=min(times), peak_mb=max(peak, 0) / 2**20,
                          saved_mb=saved / 2**20)))


def complexity_table():
    import torch

    from projects.internimage import (InternImage, InternImageClsHead,
                                      count_params, internimage_flops)
    rows = ['| arch | input | params (backbone + head) | GFLOPs (MACs) | '
            'of which DCNv3 core |', '|---|---|---|---|---|']
    for arch, size in (('t', 224), ('s', 224), ('b', 224), ('l', 384),
                       ('xl', 384)):
        with torch.device('meta'):
            backbone = InternImage(arch, out_indices=(3, ))
            head = InternImageClsHead(1000, backbone.num_features[-1])
        model = torch.nn.Sequential(backbone, head).eval()
        total, core = internimage_flops(model, (1, 3, size, size))
        rows.append(f'| {arch.upper()} | {size} | {count_params(model) / 1e6:.2f}M '
                    f'| {total / 1e9:.2f} | {core / 1e9:.3f} |')
    return '\n'.join(rows)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--size', type=int, default=56)
    parser.add_argument('--batch', type=int, default=8)
    parser.add_argument('--channels', type=int, default=64)
    parser.add_argument('--group', type=int, default=4)
    parser.add_argument('--kernel', type=int, default=3)
    parser.add_argument('--threads', type=int, default=1)
    parser.add_argument('--repeat', type=int, default=5)
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--complexity', action='store_true')
    parser.add_argument('--worker', choices=['dcnv3', 'dwconv'],
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.channels % args.group:
        parser.error('--channels must be divisible by --group')
    if args.worker:
        return worker(args.worker, args)
    results = {}
    for impl in ('dwconv', 'dcnv3'):
        cmd = [sys.executable, __file__, '--worker', impl] + [
            a for a in (argv if argv is not None else sys.argv[1:])
            if a != '--complexity']
        out = subprocess.run(cmd, check=True, capture_output=True, text=True,
                             env=dict(os.environ,
                                      OMP_NUM_THREADS=str(args.threads)))
        results[impl] = json.loads(out.stdout.strip().splitlines()[-1])
    dw, dc = results['dwconv'], results['dcnv3']
    print(f'forward + backward, [{args.batch}, {args.size}, {args.size}, '
          f'{args.channels}] float32, kernel {args.kernel}, '
          f'{args.group} groups, {args.device}, {args.threads} thread(s), '
          f'best of {args.repeat}\n')
    print('| op | time | peak memory | saved for backward |')
    print('|---|---|---|---|')
    for name, r in (('depthwise conv', dw), ('DCNv3 core (PyTorch)', dc)):
        print(f"| {name} | {r['time'] * 1e3:.1f} ms | {r['peak_mb']:.1f} MB "
              f"| {r['saved_mb']:.1f} MB |")
    ratio = [f'{dc[k] / dw[k]:.1f}x' if dw[k] > 0 else 'n/a'
             for k in ('time', 'peak_mb', 'saved_mb')]
    print(f'| ratio DCNv3 / dwconv | {" | ".join(ratio)} |')
    if args.complexity:
        print('\n' + complexity_table())


if __name__ == '__main__':
    sys.exit(main())
