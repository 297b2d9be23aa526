"""Memory and time of RevCol's reversible vs plain training step.

    python tools/analysis_tools/benchmark_revcol_memory.py [--arch t b]
        [--columns 1 2 4 8 16] [--size 64] [--batch 2] [--keep-every 1 0]
        [--device cpu] [--warmup 1] [--iters 3] [--drop-path 0.1]
        [--threads 1] [--out result.json]

For each architecture (``--arch``) and number of columns (``--columns``,
default the arch's own), models with the same weights run the plain autograd
path (``save_memory=False``) and the reversible one for each
``--keep-every`` (1: every column's outputs kept, the default and what the
official code saves; 0: only the last column's). One training step is a
forward of the backbone (drop path ``--drop-path``, four levels out) and
the backward of the sum of the outputs' means, float32, no optimizer.

- saved: bytes autograd saves for backward in the forward of a step (what
  it holds until backward), counted with
  ``torch.autograd.graph.saved_tensors_hooks`` (distinct storages,
  parameters excluded); exact and deterministic.
- peak: memory above the model and the input during a step (parameter
  gradients included): on CUDA ``max_memory_allocated`` over the timed
  steps, on the CPU the live-tensor peak of one more, untimed step
  (:class:`projects.analysis.memory.PeakMemory`).
- time: median of ``--iters`` steps after ``--warmup`` untimed ones (on CUDA
  synchronised before and after each step).

Ratios are plain / reversible for memory and reversible / plain for time,
all from this one run.
"""
import argparse
import json
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
MIB = 2.0**20


def loss_of(outs):
    return sum(o.float().mean() for o in outs)


def train_step(model, x):
    model.zero_grad(set_to_none=True)
    loss_of(model(x)).backward()


def saved_bytes(model, x):
    """Bytes of distinct non-parameter storages saved for backward."""
    params = {p.untyped_storage().data_ptr() for p in model.parameters()}
    storages = {}

    def pack(t):
        s = t.untyped_storage()
        if s.data_ptr() not in params:
            storages[s.data_ptr()] = s.nbytes()
        return t

    model.zero_grad(set_to_none=True)
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        outs = model(x)
    loss_of(outs).backward()
    return sum(storages.values())


def measure(model, x, warmup, iters):
    """``(saved bytes, peak MiB, median step ms)`` of one model."""
    from projects.analysis.memory import PeakMemory
    device = x.device
    cuda = device.type == 'cuda'

    def sync():
        if cuda:
            torch.cuda.synchronize(device)

    saved = saved_bytes(model, x)
    for _ in range(warmup):
        train_step(model, x)
    model.zero_grad(set_to_none=True)
    times = []
    with PeakMemory(device) as peak:
        for _ in range(iters):
            model.zero_grad(set_to_none=True)
            sync()
            start = time.perf_counter()
            train_step(model, x)
            sync()
            times.append(time.perf_counter() - start)
        model.zero_grad(set_to_none=True)
    if not cuda:  # the CPU probe slows the step: one more, untimed
        with PeakMemory(device) as peak:
            train_step(model, x)
        model.zero_grad(set_to_none=True)
    times.sort()
    return saved, peak.mb, times[len(times) // 2] * 1000


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--arch', nargs='+', default=['t'])
    parser.add_argument('--columns', type=int, nargs='+',
                        help="numbers of columns; default the arch's own")
    parser.add_argument('--size', type=int, default=64)
    parser.add_argument('--batch', type=int, default=2)
    parser.add_argument('--keep-every', type=int, nargs='+', default=[1, 0])
    parser.add_argument('--drop-path', type=float, default=0.1)
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--warmup', type=int, default=1)
    parser.add_argument('--iters', type=int, default=3)
    parser.add_argument('--threads', type=int, default=1)
    parser.add_argument('--out', help='write the figures as JSON')
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    from projects.revcol import RevCol
    device = torch.device(args.device)
    machine = (torch.cuda.get_device_name(device) if device.type == 'cuda'
               else f'cpu, {args.threads} thread(s)')
    print(f'{machine}, torch {torch.__version__}, input {args.batch}x3x'
          f'{args.size}x{args.size}, float32, drop path {args.drop_path}; '
          f'step = forward + backward, median of {args.iters} after '
          f'{args.warmup} warm-up')
    print('| arch | columns | backward | saved | saved ratio | peak | '
          'peak ratio | step | time ratio |')
    print('|---|---|---|---|---|---|---|---|---|')
    x = torch.randn(args.batch, 3, args.size, args.size,
                    generator=torch.Generator().manual_seed(0)).to(device)
    variants = [('plain', False, 1)] + [(f'reversible keep_every={k}', True, k)
                                        for k in args.keep_every]
    rows = []
    for name in args.arch:
        base = RevCol.arch_zoo[name]
        for n in args.columns or [base['num_subnet']]:
            plain = None
            for label, save, keep in variants:
                torch.manual_seed(0)
                model = RevCol(arch=dict(base, num_subnet=n),
                               drop_path_rate=args.drop_path,
                               save_memory=save, keep_every=keep)
                model = model.to(device).train()
                saved, peak, ms = measure(model, x, args.warmup, args.iters)
                del model
                row = dict(arch=name, columns=n, backward=label,
                           saved_mib=saved / MIB, peak_mib=peak, step_ms=ms)
                plain = plain or row
                row.update(saved_ratio=plain['saved_mib'] / row['saved_mib'],
                           peak_ratio=plain['peak_mib'] / max(peak, 1e-6),
                           time_ratio=ms / plain['step_ms'])
                rows.append(row)
                print(f'| {name} | {n} | {label} | {saved / MIB:.2f} MiB | '
                      f"{row['saved_ratio']:.1f}x | {peak:.1f} MiB | "
                      f"{row['peak_ratio']:.1f}x | {ms:.1f} ms | "
                      f"{row['time_ratio']:.2f}x |")
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(dict(machine=machine, torch=torch.__version__,
                           args=vars(args), results=rows), f, indent=1)


if __name__ == '__main__':
    main()
