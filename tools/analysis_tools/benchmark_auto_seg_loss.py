"""Benchmark the Auto Seg-Loss surrogates against cross-entropy.

    python tools/analysis_tools/benchmark_auto_seg_loss.py [--batch 2]
        [--classes 150] [--size 256] [--threads 1] [--repeat 3] [--runs 1]
        [--ref-size 64] [--device cpu|cuda] [--official PATH]

``--device cuda`` runs every loss in this process on the GPU (fused
Triton kernels where triton is installed): CUDA-event times of forward +
backward (best of ``--repeat`` after a warm-up call that compiles the
kernels) and the peak of ``torch.cuda.max_memory_allocated`` above the
memory held before the call (logits and labels), each against
cross-entropy measured in the same run; two more columns compare the
default path with the PyTorch path (``backend='torch'``) at full size.
``--official PATH`` loads the official Auto Seg-Loss (a checkout of
github.com/fundamentalvision/Auto-Seg-Loss; only
``mmseg/models/losses/auto_seg_loss.py`` and
``mmseg/core/evaluation/utils.py`` are read) and times it on the same
tensors with the same control points (CUDA only: it calls ``.cuda()``).

On CPU:

Every loss (mmseg's CrossEntropyLoss and AutoSegLoss for each target metric
with its released parameters) runs forward + backward in float32 in its own
process (one thread by default) on the same logits and labels (5% ignored),
so its peak memory is its own: the peak resident set minus the resident set
after the inputs were built and a small warm-up call. A process times
``--repeat`` calls and keeps the best; ``--runs`` repeats the whole round
of processes (cross-entropy first in each round) and the table gives the
medians over the rounds, and the range of the time ratios (each round's
time over that round's cross-entropy time), for a machine whose load
varies. The table gives time and peak against cross-entropy, and the largest
difference of the loss and of its gradient (relative to the largest
gradient) from the float64 reference of the same formulas
(``projects/auto_seg_loss/reference.py``), computed on the top-left
``--ref-size`` crop of the same inputs (the dense float64 reference at full
size needs several GB; ``--ref-size 0`` uses the full size).
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

PARAMS = dict(mIoU='miou.json', FWIoU='fwiou.json', BIoU='biou.json',
              mAcc='macc.json', gAcc='gacc.json', BF1='bf1.json')
TARGETS = {'mIoU': 2, 'FWIoU': 2, 'BIoU': 2, 'mAcc': 2, 'gAcc': 2, 'BF1': 5}


def rss_kb():
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE') // 1024


def make_inputs(batch, classes, size, seed=0):
    """Logits and blocky labels (regions of 16-64 px), 5% ignored."""
    import torch
    g = torch.Generator().manual_seed(seed)
    coarse = torch.randint(0, classes, (batch, 1, size // 16, size // 16),
                           generator=g).float()
    label = torch.nn.functional.interpolate(coarse, size=(size, size),
                                            mode='nearest')[:, 0].long()
    label[torch.rand(batch, size, size, generator=g) < 0.05] = 255
    logits = torch.randn(batch, classes, size, size, generator=g)
    onehot_bonus = torch.zeros_like(logits)
    valid = label < classes
    onehot_bonus.scatter_(1, label.clamp(max=classes - 1)[:, None],
                          2.0 * valid[:, None].float())
    return logits + onehot_bonus, label


def build(name):
    from mmseg.registry import MODELS

    import projects.auto_seg_loss  # noqa: F401
    if name == 'CE':
        return MODELS.build(dict(type='CrossEntropyLoss', loss_weight=1.0))
    return MODELS.build(dict(type='AutoSegLoss', target_metric=name,
                             params_file=PARAMS[name],
                             drop_bg=name == 'BIoU'))


def worker(name, args, out_file):
    import torch
    torch.set_num_threads(args.threads)
    loss_fn = build(name)
    small = make_inputs(1, args.classes, 32, seed=1)
    loss_fn(small[0].requires_grad_(), small[1],
            ignore_index=255).backward()  # warm-up
    logits, label = make_inputs(args.batch, args.classes, args.size)
    base = rss_kb()
    times = []
    for _ in range(args.repeat):
        lg = logits.clone().requires_grad_()
        start = time.perf_counter()
        loss = loss_fn(lg, label, ignore_index=255)
        loss.backward()
        times.append(time.perf_counter() - start)
        del lg, loss
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base
    out = dict(time=min(times), peak_mb=max(peak, 0) / 1024)
    if name != 'CE' and args.ref_size >= 0:
        from projects.auto_seg_loss.reference import surrogate_reference
        r = args.ref_size or args.size
        lg = logits[:, :, :r, :r].clone().requires_grad_()
        loss = loss_fn(lg, label[:, :r, :r])
        loss.backward()
        lg64 = logits[:, :, :r, :r].double().requires_grad_()
        ref = loss_fn.loss_weight * (1 - surrogate_reference(
            lg64, label[:, :r, :r], name, loss_fn.ctrl_points, loss_fn.tol,
            loss_fn.drop_bg))
        ref.backward()
        out['loss_diff'] = abs(float(loss) - float(ref))
        out['grad_diff'] = float((lg.grad.double() - lg64.grad).abs().max() /
                                 lg64.grad.abs().max())
    with open(out_file, 'w') as f:
        json.dump(out, f)


def load_official(root):
    """The official ``AutoSegLoss`` class from a checkout at ``root``,
    imported without its mmseg 0.x package (registry and helpers
    stubbed)."""
    import importlib.util
    import types
    root = Path(root) / 'mmseg'
    base = 'asl_official'
    for name, sub in ((base, ''), (f'{base}.models', 'models'),
                      (f'{base}.models.losses', 'models/losses'),
                      (f'{base}.core', 'core'),
                      (f'{base}.core.evaluation', 'core/evaluation')):
        pkg = types.ModuleType(name)
        pkg.__path__ = [str(root / sub)]
        sys.modules[name] = pkg

    class Registry:

        def register_module(self, *args, **kwargs):
            return lambda cls: cls

    builder = types.ModuleType(f'{base}.models.builder')
    builder.LOSSES = Registry()
    utils = types.ModuleType(f'{base}.models.losses.utils')
    utils.weighted_loss = lambda fn: fn
    sys.modules[builder.__name__] = builder
    sys.modules[utils.__name__] = utils
    name = f'{base}.models.losses.auto_seg_loss'
    spec = importlib.util.spec_from_file_location(
        name, root / 'models' / 'losses' / 'auto_seg_loss.py')
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module.AutoSegLoss


def cuda_time(fn, logits, label, repeat):
    """Best CUDA-event time (s) of forward + backward and the peak memory
    (MB) above what was allocated before the call."""
    import torch
    times = []
    for _ in range(repeat):
        lg = logits.clone().requires_grad_()
        torch.cuda.synchronize()
        base = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        start = torch.cuda.Event(enable_timing=True)
        end = torch.cuda.Event(enable_timing=True)
        start.record()
        fn(lg, label).backward()
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end) / 1e3)
        peak = (torch.cuda.max_memory_allocated() - base) / 2**20
        del lg
    return min(times), peak


def cuda_main(args):
    """All losses in this process on the GPU (see the module doc)."""
    import torch
    from projects.auto_seg_loss.reference import surrogate_reference
    torch.backends.cudnn.benchmark = False
    official = load_official(args.official) if args.official else None
    logits, label = make_inputs(args.batch, args.classes, args.size)
    logits, label = logits.cuda(), label.cuda()
    print(f'{args.batch} x {args.classes} classes x {args.size} x '
          f'{args.size}, float32, forward + backward on '
          f'{torch.cuda.get_device_name()}, torch {torch.__version__}, '
          f'best of {args.repeat} calls after a warm-up; reference: float64 '
          f'on the {args.ref_size or args.size} px crop')
    print('| loss | time | x CE | official | official / ours | peak | x CE '
          '| official peak | target (time) | |loss - ref| | grad vs ref | '
          '|loss - torch path| | grad vs torch path |')
    print('|---|---|---|---|---|---|---|---|---|---|---|---|---|')
    ce_fn = build('CE')
    ce = lambda lg, lab: ce_fn(lg, lab, ignore_index=255)  # noqa: E731
    ce(logits.clone().requires_grad_(), label).backward()
    ce_t, ce_m = cuda_time(ce, logits, label, args.repeat)
    print(f'| cross-entropy | {ce_t * 1e3:.2f} ms | 1.00 | - | - | '
          f'{ce_m:.0f} MB | 1.00 | - | - | - | - | - | - |', flush=True)
    for name in args.metrics:
        row = dict(name=name)
        try:
            ours = build(name).cuda()
            fn = lambda lg, lab: ours(lg, lab, ignore_index=255)  # noqa
            fn(logits.clone().requires_grad_(), label).backward()
            row['t'], row['m'] = cuda_time(fn, logits, label, args.repeat)
            lg = logits.clone().requires_grad_()
            loss = fn(lg, label)
            loss.backward()
            ours.backend = 'torch'
            lg_t = logits.clone().requires_grad_()
            loss_t = fn(lg_t, label)
            loss_t.backward()
            ours.backend = 'auto'
            row['dt'] = abs(float(loss) - float(loss_t))
            row['gt'] = float((lg.grad - lg_t.grad).abs().max() /
                              lg_t.grad.abs().max())
            del lg, lg_t, loss, loss_t
            if args.ref_size >= 0:
                r = args.ref_size or args.size
                lg = logits[:, :, :r, :r].clone().requires_grad_()
                loss = fn(lg, label[:, :r, :r])
                loss.backward()
                lg64 = logits[:, :, :r, :r].double().requires_grad_()
                ref = ours.loss_weight * (1 - surrogate_reference(
                    lg64, label[:, :r, :r], name, ours.ctrl_points,
                    ours.tol, ours.drop_bg))
                ref.backward()
                row['dr'] = abs(float(loss) - float(ref))
                row['gr'] = float((lg.grad.double() - lg64.grad).abs().max()
                                  / lg64.grad.abs().max())
        except Exception as exc:  # report and go on with the next loss
            print(f'| {name} | failed: {type(exc).__name__}: {exc} |')
            continue
        if official is not None:
            try:
                theta = torch.tensor([v for r in ours.ctrl_points for v in r],
                                     dtype=torch.float32, device='cuda')
                off = official(num_class=args.classes, theta=theta,
                               parameterization='bezier', target_metric=name,
                               drop_bg=ours.drop_bg, tol=ours.tol)
                off(logits.clone().requires_grad_(), label).backward()
                row['ot'], row['om'] = cuda_time(off, logits, label,
                                                 args.repeat)
            except Exception as exc:
                print(f'(official {name} failed: {type(exc).__name__}: '
                      f'{exc})')
        torch.cuda.empty_cache()
        nan = float('nan')
        ot, om = row.get('ot', nan), row.get('om', nan)
        print(f"| {name} | {row['t'] * 1e3:.2f} ms | {row['t'] / ce_t:.2f} | "
              f"{ot * 1e3:.1f} ms | {ot / row['t']:.1f} | {row['m']:.0f} MB | "
              f"{row['m'] / ce_m:.2f} | {om:.0f} MB | <= {TARGETS[name]}x | "
              f"{row.get('dr', nan):.1e} | {row.get('gr', nan):.1e} | "
              f"{row['dt']:.1e} | {row['gt']:.1e} |", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--batch', type=int, default=2)
    parser.add_argument('--classes', type=int, default=150)
    parser.add_argument('--size', type=int, default=256)
    parser.add_argument('--threads', type=int, default=1)
    parser.add_argument('--repeat', type=int, default=3)
    parser.add_argument('--runs', type=int, default=1)
    parser.add_argument('--ref-size', type=int, default=64,
                        help='-1: no reference comparison')
    parser.add_argument('--metrics', nargs='+', default=list(PARAMS))
    parser.add_argument('--device', default='cpu', choices=['cpu', 'cuda'])
    parser.add_argument('--official', help='checkout of the official '
                        'Auto-Seg-Loss repository (CUDA only)')
    parser.add_argument('--worker', nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args.worker[0], args, args.worker[1])
    if args.device == 'cuda':
        return cuda_main(args)
    if args.official:
        parser.error('--official needs --device cuda (the official code '
                     'calls .cuda())')

    print(f'{args.batch} x {args.classes} classes x {args.size} x '
          f'{args.size}, float32, forward + backward, {args.threads} '
          f'thread(s), best of {args.repeat} calls, median of {args.runs} '
          f'run(s); reference: float64 on the {args.ref_size or args.size} '
          f'px crop')
    names = ['CE'] + args.metrics
    res = {name: {} for name in names}  # run -> worker output
    with tempfile.TemporaryDirectory() as tmp:
        for run in range(args.runs):
            for name in names:
                out = os.path.join(tmp, f'{name}.json')
                cmd = [sys.executable, __file__, '--worker', name, out]
                for key in ('batch', 'classes', 'size', 'threads', 'repeat',
                            'ref_size'):
                    value = getattr(args, key)
                    if key == 'ref_size' and run > 0:
                        value = -1  # the reference once is enough
                    cmd += [f'--{key.replace("_", "-")}', str(value)]
                proc = subprocess.run(cmd, capture_output=True, text=True)
                if proc.returncode != 0:
                    print(f'{name} failed: '
                          f'{proc.stderr.strip().splitlines()[-1:]}')
                    continue
                with open(out) as f:
                    res[name][run] = json.load(f)

    def median(values):
        values = sorted(values)
        k = len(values)
        return (values[(k - 1) // 2] + values[k // 2]) / 2

    print('| loss | time | x CE | (range) | peak | x CE | target | '
          '|loss - ref| | max |grad - ref| / max |grad| |')
    print('|---|---|---|---|---|---|---|---|---|')
    ce = res['CE']
    for name in names:
        rows = res[name]
        if not rows:
            continue
        t = median([r['time'] for r in rows.values()])
        peak = median([r['peak_mb'] for r in rows.values()])
        if name == 'CE':
            print(f'| cross-entropy | {t:.3f} s | 1.00 | - | {peak:.0f} MB | '
                  f'1.00 | - | - | - |')
            continue
        ratios = [r['time'] / ce[k]['time'] for k, r in rows.items()
                  if k in ce] or [float('nan')]
        m_ratio = peak / median([c['peak_mb'] for c in ce.values()]) \
            if ce else float('nan')
        ref = rows.get(0, {})
        print(f"| {name} | {t:.3f} s | {median(ratios):.2f} | "
              f"{min(ratios):.2f}-{max(ratios):.2f} | {peak:.0f} MB | "
              f"{m_ratio:.2f} | <= {TARGETS[name]}x | "
              f"{ref.get('loss_diff', float('nan')):.1e} | "
              f"{ref.get('grad_diff', float('nan')):.1e} |", flush=True)


if __name__ == '__main__':
    main()
