"""Benchmark the exact fast PAP loss against the dense [K, |P|] formulation.

    python tools/analysis_tools/benchmark_pap_loss.py [--positives 100 500 2000]
        [--topk 100000] [--classes 80] [--threads 1] [--repeat 3]

Each (implementation, |P|) case runs forward + backward in float32 in its own
process (one thread by default), so its peak memory is its own: the peak
resident set minus the resident set after the inputs were built and a small
warm-up call. The table gives times, peaks, their ratios and the largest
relative differences (to the largest magnitude) of the loss and its gradients
against the dense formulation in float64 (the accurate reference, up to
``--ref-max-positives``; the dense float32 run beyond), all from this one run.
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


def make_inputs(num_pos, num_topk, num_classes, seed=0):
    """Logits with more valid entries than ``num_topk`` and ``num_pos``
    positive anchors, 5% of the anchors ignored."""
    import torch
    g = torch.Generator().manual_seed(seed)
    num_anchors = max(2 * num_topk // num_classes, 4 * num_pos)
    logits = torch.randn(num_anchors, num_classes, generator=g) * 2 - 2
    targets = torch.zeros(num_anchors, num_classes, dtype=torch.long)
    perm = torch.randperm(num_anchors, generator=g)
    pos = perm[:num_pos]
    targets[pos, torch.randint(0, num_classes, (num_pos,), generator=g)] = 1
    targets[perm[num_pos:num_pos + num_anchors // 20]] = -1
    logits[pos] += 1.5
    quality = torch.rand(num_anchors, generator=g)
    return logits, targets, quality


def worker(impl, num_pos, args, out_file):
    """Time one implementation (``fast``, ``dense`` or ``dense64``)."""
    import torch

    from projects.pap_loss import PAPFunctions, pap_loss
    from projects.pap_loss.reference import pap_loss_dense
    from projects.pap_loss.params import load_params
    torch.set_num_threads(args.threads)
    fn = pap_loss if impl == 'fast' else pap_loss_dense
    dtype = torch.float64 if impl == 'dense64' else torch.float32
    functions = PAPFunctions.from_ctrl_points(
        load_params('projects/pap_loss/params/retinanet.json')[0])
    small = make_inputs(4, 1000, args.classes)  # warm-up: lazy kernels
    fn(small[0].requires_grad_(), small[1], small[2], functions).backward()
    logits, targets, quality = make_inputs(num_pos, args.topk, args.classes)
    logits, quality = logits.to(dtype), quality.to(dtype)
    base = rss_kb()
    times = []
    for _ in range(args.repeat):
        lg = logits.clone().requires_grad_()
        q = quality.clone().requires_grad_()
        start = time.perf_counter()
        loss = fn(lg, targets, q, functions, num_topk=args.topk)
        loss.backward()
        times.append(time.perf_counter() - start)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base
    torch.save(dict(loss=loss.detach(), grad_logits=lg.grad,
                    grad_quality=q.grad), out_file)
    print(json.dumps(dict(time=min(times), peak_mb=max(peak, 0) / 1024)))


def run_case(impl, num_pos, args, out_file):
    cmd = [sys.executable, __file__, '--worker', impl, str(num_pos),
           out_file, '--topk', str(args.topk), '--classes', str(args.classes),
           '--threads', str(args.threads), '--repeat', str(args.repeat)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        return None, proc.stderr.strip().splitlines()[-1:]
    return json.loads(proc.stdout.strip().splitlines()[-1]), None


def max_rel_diff(a, b):
    scale = b.abs().max().clamp_min(1e-30)
    return float((a - b).abs().max() / scale)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--positives', type=int, nargs='+',
                        default=[100, 500, 2000])
    parser.add_argument('--topk', type=int, default=100000)
    parser.add_argument('--classes', type=int, default=80)
    parser.add_argument('--threads', type=int, default=1)
    parser.add_argument('--repeat', type=int, default=3)
    parser.add_argument('--ref-max-positives', type=int, default=500,
                        help='largest |P| with a float64 dense reference')
    parser.add_argument('--worker', nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        impl, num_pos, out_file = args.worker
        return worker(impl, int(num_pos), args, out_file)

    import torch
    print(f'K={args.topk} rows, {args.classes} classes, {args.threads} '
          f'thread(s), forward+backward, best of {args.repeat}')
    print('| |P| | dense time | fast time | speed-up | dense peak | fast peak '
          '| memory ratio | reference | rel. diff fast: loss / dlogits / '
          'dquality | rel. diff dense float32 |')
    print('|---|---|---|---|---|---|---|---|---|---|')
    keys = ('loss', 'grad_logits', 'grad_quality')
    with tempfile.TemporaryDirectory() as tmp:
        for num_pos in args.positives:
            impls = ['dense', 'fast']
            if num_pos <= args.ref_max_positives:
                impls.append('dense64')
            res, out = {}, {}
            for impl in impls:
                path = os.path.join(tmp, f'{impl}_{num_pos}.pt')
                res[impl], err = run_case(impl, num_pos, args, path)
                if err:
                    print(f'{impl} |P|={num_pos} failed: {err}')
                else:
                    out[impl] = torch.load(path)
            dense, fast = res['dense'], res['fast']
            if not (dense and fast):
                continue
            ref = 'dense64' if 'dense64' in out else 'dense'

            def diffs(impl):
                return ' / '.join(f'{max_rel_diff(out[impl][k].double(), out[ref][k].double()):.1e}'
                                  for k in keys)
            print(f"| {num_pos} | {dense['time']:.3f} s | "
                  f"{fast['time']:.4f} s | "
                  f"{dense['time'] / fast['time']:.0f}x | "
                  f"{dense['peak_mb']:.0f} MB | {fast['peak_mb']:.1f} MB | "
                  f"{dense['peak_mb'] / max(fast['peak_mb'], 0.1):.0f}x | "
                  f"{'float64' if ref == 'dense64' else 'float32'} dense | "
                  f"{diffs('fast')} | "
                  f"{diffs('dense') if ref == 'dense64' else '-'} |")

if __name__ == '__main__':
    main()
