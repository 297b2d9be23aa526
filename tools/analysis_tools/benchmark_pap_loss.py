"""Benchmark the exact fast PAP loss against the dense [K, |P|] formulation
and the official implementation.

    python tools/analysis_tools/benchmark_pap_loss.py
        [--positives 100 500 2000] [--topk 100000] [--entries N]
        [--classes 80] [--device cpu] [--impls fast dense]
        [--official CHECKOUT] [--ref-max-positives 500] [--threads 1]
        [--warmup 1] [--repeat 3] [--out result.json]

Each (implementation, |P|) case runs forward + backward in float32 in its own
process, so its peak memory is its own (and an implementation that runs out
of memory fails alone): ``fast`` (``pap_loss``), ``dense``
(``reference.py``) and, with ``--official`` (a checkout of
fundamentalvision/Parameterized-AP-Loss, or its
``mmdet/models/losses/paploss.py``), ``official``: its ``paploss`` on the
same inputs, with the [N, C] quality matrix its heads build counted in its
call. The inputs have ``--entries`` (anchor, class) entries (default
``max(2 K, 4 |P| C)``), 5% of the anchors ignored.

Time: median of ``--repeat`` calls after ``--warmup`` untimed ones (on CUDA
synchronised before and after each call). Peak: on the CPU the peak resident
set minus the resident set after the inputs were built and a small warm-up
call; on CUDA ``max_memory_allocated`` during the timed calls minus the
memory allocated before them (inputs and their copies). The table gives
times, peaks, their ratios to ``fast`` and the largest relative differences
(to the largest magnitude) of the loss and its gradients against the
reference: the dense formulation in float64 (run up to
``--ref-max-positives``), else dense float32, else the official code; all
from this one run.
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
PARAMS = 'projects/pap_loss/params/retinanet.json'
OFFICIAL_FILE = 'mmdet/models/losses/paploss.py'
KEYS = ('loss', 'grad_logits', 'grad_quality')


def rss_kb():
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE') // 1024


def make_inputs(num_pos, num_topk, num_classes, num_entries=None, seed=0):
    """Logits of ``num_entries`` entries (default: more valid entries than
    ``num_topk``) with ``num_pos`` positive anchors, 5% of the anchors
    ignored."""
    import torch
    g = torch.Generator().manual_seed(seed)
    num_anchors = (num_entries // num_classes if num_entries else
                   max(2 * num_topk // num_classes, 4 * num_pos))
    logits = torch.randn(num_anchors, num_classes, generator=g) * 2 - 2
    targets = torch.zeros(num_anchors, num_classes, dtype=torch.long)
    perm = torch.randperm(num_anchors, generator=g)
    pos = perm[:num_pos]
    targets[pos, torch.randint(0, num_classes, (num_pos,), generator=g)] = 1
    targets[perm[num_pos:num_pos + num_anchors // 20]] = -1
    logits[pos] += 1.5
    quality = torch.rand(num_anchors, generator=g)
    return logits, targets, quality


def load_official(path):
    """The official ``paploss`` function, loaded from its file alone (the
    checkout's own ``mmdet`` 2.x package is not imported)."""
    path = Path(path)
    if path.is_dir():
        path = path / OFFICIAL_FILE
    if not path.is_file():
        raise FileNotFoundError(f'no official PAP loss at {path}')
    spec = importlib.util.spec_from_file_location('official_paploss', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.paploss


def loss_fn(impl, args, device):
    """``fn(logits, targets, quality, num_topk) -> loss`` of ``impl``."""
    import torch

    from projects.pap_loss import PAPFunctions, pap_loss
    from projects.pap_loss.params import load_params
    from projects.pap_loss.reference import pap_loss_dense
    rows = load_params(PARAMS)[0]
    if impl == 'official':
        paploss = load_official(args.official)
        # official rows: 12 numbers, (0, 0) and (1, 1) included
        ctrl = torch.tensor([[0., 0.] + r + [1., 1.] for r in rows],
                            device=device)

        def official(logits, targets, quality, num_topk):
            ious = quality[:, None] * (targets == 1)  # as its heads build it
            return paploss(logits, ious, targets, ctrl, num_topk, 'searched')
        return official
    functions = PAPFunctions.from_ctrl_points(rows)
    ours = pap_loss if impl == 'fast' else pap_loss_dense
    return lambda lg, tg, q, k: ours(lg, tg, q, functions, num_topk=k)


def worker(impl, num_pos, args, out_file):
    """Time one implementation (``fast``, ``dense``, ``dense64`` or
    ``official``); print its figures as JSON, save its outputs."""
    import torch
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    cuda = device.type == 'cuda'
    dtype = torch.float64 if impl == 'dense64' else torch.float32
    fn = loss_fn(impl.replace('64', ''), args, device)
    small = [t.to(device) for t in make_inputs(4, 1000, args.classes)]
    fn(small[0].requires_grad_(), small[1], small[2], 1000).backward()
    logits, targets, quality = make_inputs(num_pos, args.topk, args.classes,
                                           args.entries)
    logits = logits.to(device, dtype)
    targets, quality = targets.to(device), quality.to(device, dtype)
    if cuda:
        torch.cuda.synchronize(device)
    base, times = rss_kb(), []
    for i in range(args.warmup + args.repeat):
        lg = logits.clone().requires_grad_()
        q = quality.clone().requires_grad_()
        if cuda:
            torch.cuda.synchronize(device)
            if i == args.warmup:
                torch.cuda.reset_peak_memory_stats(device)
                base = torch.cuda.memory_allocated(device)
        start = time.perf_counter()
        loss = fn(lg, targets, q, args.topk)
        loss.backward()
        if cuda:
            torch.cuda.synchronize(device)
        if i >= args.warmup:
            times.append(time.perf_counter() - start)
        out = dict(loss=loss.detach(), grad_logits=lg.grad,
                   grad_quality=q.grad)
        del lg, q, loss
    if cuda:
        peak_mb = (torch.cuda.max_memory_allocated(device) - base) / 2**20
        machine = torch.cuda.get_device_name(device)
    else:
        peak_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss -
                   base) / 1024
        machine = f'cpu, {args.threads} thread(s)'
    torch.save({k: v.cpu() for k, v in out.items()}, out_file)
    times.sort()
    print(json.dumps(dict(time=times[len(times) // 2], times=times,
                          peak_mb=max(peak_mb, 0), machine=machine,
                          entries=logits.numel(), torch=torch.__version__)))


def run_case(impl, num_pos, args, out_file):
    """Figures of one case from its own process, or ``(None, error)``."""
    cmd = [sys.executable, __file__, '--worker', impl, str(num_pos), out_file]
    for key in ('topk', 'classes', 'threads', 'warmup', 'repeat', 'device',
                'entries', 'official'):
        if getattr(args, key) is not None:
            cmd += [f'--{key}', str(getattr(args, key))]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True,
                              timeout=args.case_timeout)
    except subprocess.TimeoutExpired:
        return None, f'timed out after {args.case_timeout} s'
    if proc.returncode != 0:
        lines = proc.stderr.strip().splitlines() or [f'exit {proc.returncode}']
        return None, lines[-1][:300]
    return json.loads(proc.stdout.strip().splitlines()[-1]), None


def max_rel_diff(a, b):
    a, b = a.double(), b.double()
    scale = b.abs().max().clamp_min(1e-30)
    return float((a - b).abs().max() / scale)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--positives', type=int, nargs='+',
                        default=[100, 500, 2000])
    parser.add_argument('--topk', type=int, default=100000)
    parser.add_argument('--entries', type=int,
                        help='(anchor, class) entries; default max(2 K, '
                        '4 |P| C)')
    parser.add_argument('--classes', type=int, default=80)
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--impls', nargs='+', default=['fast', 'dense'],
                        choices=['fast', 'dense', 'official'])
    parser.add_argument('--official',
                        help='official checkout (or its paploss.py); adds '
                        'the official implementation')
    parser.add_argument('--threads', type=int, default=1)
    parser.add_argument('--warmup', type=int, default=1)
    parser.add_argument('--repeat', type=int, default=3)
    parser.add_argument('--ref-max-positives', type=int, default=500,
                        help='largest |P| with a float64 dense reference')
    parser.add_argument('--case-timeout', type=float, default=1800,
                        help='seconds one case may run')
    parser.add_argument('--out', help='write the figures as JSON')
    parser.add_argument('--worker', nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        impl, num_pos, out_file = args.worker
        return worker(impl, int(num_pos), args, out_file)

    import torch
    impls = list(dict.fromkeys(args.impls +
                               ['official'] * bool(args.official)))
    if 'official' in impls and not args.official:
        parser.error('--impls official needs --official CHECKOUT')
    print(f'K={args.topk} rows, {args.classes} classes, {args.device}, '
          f'forward+backward float32, median of {args.repeat} after '
          f'{args.warmup} warm-up')
    print('| entries | |P| | impl | time | peak | time / fast | peak / fast | '
          'reference | rel. diff: loss / dlogits / dquality |')
    print('|---|---|---|---|---|---|---|---|---|')
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for num_pos in args.positives:
            case = impls + ['dense64'] * (num_pos <= args.ref_max_positives)
            res, out = {}, {}
            for impl in case:
                path = os.path.join(tmp, f'{impl}_{num_pos}.pt')
                res[impl], err = run_case(impl, num_pos, args, path)
                if err:
                    res[impl] = dict(error=err)
                    print(f'{impl} |P|={num_pos} failed: {err}')
                else:
                    out[impl] = torch.load(path)
                    os.remove(path)
            ref = next((r for r in ('dense64', 'dense', 'official')
                        if r in out), None)
            fast = res.get('fast', {})
            for impl in case:
                r = res[impl]
                row = dict(positives=num_pos, topk=args.topk, impl=impl, **r)
                results.append(row)
                if 'error' in r:
                    continue
                if 'time' in fast:
                    row['time_ratio'] = r['time'] / fast['time']
                    row['peak_ratio'] = r['peak_mb'] / max(fast['peak_mb'],
                                                           0.1)
                if ref and impl != ref:
                    row['reference'] = ref
                    row['rel_diff'] = {k: max_rel_diff(out[impl][k],
                                                       out[ref][k])
                                       for k in KEYS}
                ratios = (f"{row['time_ratio']:.1f}x | "
                          f"{row['peak_ratio']:.1f}x" if 'time_ratio' in row
                          else '- | -')
                diffs = (' / '.join(f"{row['rel_diff'][k]:.1e}" for k in KEYS)
                         if 'rel_diff' in row else '-')
                print(f"| {r['entries']} | {num_pos} | {impl} | "
                      f"{r['time'] * 1000:.2f} ms | {r['peak_mb']:.1f} MB | "
                      f"{ratios} | {row.get('reference', '-')} | {diffs} |")
    machines = {r['machine'] for r in results if 'machine' in r}
    print('machine: ' + ', '.join(sorted(machines)))
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(dict(args={k: v for k, v in vars(args).items()
                                 if k != 'worker'}, results=results), f,
                      indent=1)


if __name__ == '__main__':
    main()
