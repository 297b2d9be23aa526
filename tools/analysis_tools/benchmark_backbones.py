"""Forward + backward cost of every VisionPlug backbone at 224 on CPU.

    python tools/analysis_tools/benchmark_backbones.py [--size 224]
        [--batch 1] [--threads 1] [--repeat 3] [--only revcol-t hiera-t ...]

Each case builds its backbone (random init, training mode) in its own
process, runs forward + backward of the sum of its outputs ``--repeat``
times after one warm-up, and reports the median time and the peak extra
resident memory (peak RSS minus RSS after the model and input were built).
Ratios are against ResNet-50 measured in the same run.
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

BASELINE = 'resnet-50'
# name -> (package to import, backbone config)
CASES = {
    'resnet-50': (None, dict(type='mmpretrain.ResNet', depth=50)),
    'revcol-t': ('projects.revcol', dict(type='RevCol', arch='t')),
    'revcol-b': ('projects.revcol', dict(type='RevCol', arch='b')),
    'defocus-s': ('projects.defocus', dict(type='DefocusMamba', arch='small')),
    'defocus-b': ('projects.defocus', dict(type='DefocusMamba', arch='base')),
    'hiera-t': ('projects.hiera', dict(type='HieraDense', arch='t')),
    'hiera-b': ('projects.hiera', dict(type='HieraDense', arch='b')),
    'conformer-t': ('projects.conformer',
                    dict(type='ConformerDense', arch='tiny')),
    'conformer-b': ('projects.conformer',
                    dict(type='ConformerDense', arch='base')),
    'revvit-s': ('projects.revvit', dict(type='RevViT', arch='deit-small',
                                         out_type='featmap')),
    'revvit-b': ('projects.revvit', dict(type='RevViT', arch='base',
                                         out_type='featmap')),
    'castling-vit-t': ('projects.castling_vit',
                       dict(type='CastlingViT', arch='tiny')),
    'castling-vit-b': ('projects.castling_vit',
                       dict(type='CastlingViT', arch='base')),
    'magneto-b': ('projects.magneto', dict(type='MagnetoViT', arch='base')),
    'internimage-t': ('projects.internimage',
                      dict(type='InternImage', arch='t')),
    'internimage-b': ('projects.internimage',
                      dict(type='InternImage', arch='b')),
}


def rss_kb():
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE') // 1024


def flat_sum(out):
    import torch
    if isinstance(out, torch.Tensor):
        return out.float().sum()
    return sum(flat_sum(o) for o in out)


def worker(name, args, out_file):
    import importlib

    import torch
    from mmengine.registry import MODELS

    import projects  # noqa: F401
    torch.set_num_threads(args.threads)
    package, cfg = CASES[name]
    if package:
        importlib.import_module(package)
    torch.manual_seed(0)
    model = MODELS.build(cfg)
    model.train()
    params = sum(p.numel() for p in model.parameters())
    x = torch.randn(args.batch, 3, args.size, args.size)
    base = rss_kb()
    times = []
    for i in range(args.repeat + 1):
        start = time.perf_counter()
        flat_sum(model(x)).backward()
        if i:  # the first call is a warm-up
            times.append(time.perf_counter() - start)
        model.zero_grad(set_to_none=True)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    Path(out_file).write_text(json.dumps(dict(
        time=sorted(times)[len(times) // 2], peak_mb=(peak - base) / 1024,
        params_m=params / 1e6)))


def run_case(name, args):
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / 'result.json'
        cmd = [sys.executable, __file__, '--worker', name, str(out),
               '--size', str(args.size), '--batch', str(args.batch),
               '--threads', str(args.threads), '--repeat', str(args.repeat)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f'{name} failed:\n{proc.stderr[-2000:]}')
        return json.loads(out.read_text())


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--size', type=int, default=224)
    parser.add_argument('--batch', type=int, default=1)
    parser.add_argument('--threads', type=int, default=1)
    parser.add_argument('--repeat', type=int, default=3)
    parser.add_argument('--only', nargs='+', choices=sorted(CASES),
                        help='cases to run (the baseline always runs)')
    parser.add_argument('--worker', nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker[0], args, args.worker[1])
        return
    names = [BASELINE] + [n for n in (args.only or CASES) if n != BASELINE]
    results = {}
    for name in names:
        results[name] = run_case(name, args)
        print(f'measured {name}', file=sys.stderr, flush=True)
    ref = results[BASELINE]
    print(f'forward + backward, batch {args.batch} x 3 x {args.size}^2, '
          f'{args.threads} thread(s), median of {args.repeat}; ratios vs '
          f'{BASELINE}\n')
    print('| backbone | params | time | time ratio | peak extra memory | '
          'memory ratio |')
    print('|---|---|---|---|---|---|')
    for name, r in results.items():
        print(f"| {name} | {r['params_m']:.1f}M | {r['time']:.3f} s | "
              f"{r['time'] / ref['time']:.2f}x | {r['peak_mb']:.0f} MB | "
              f"{r['peak_mb'] / ref['peak_mb']:.2f}x |")


if __name__ == '__main__':
    main()
