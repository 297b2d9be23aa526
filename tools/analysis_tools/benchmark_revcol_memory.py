"""Saved-activation memory of RevCol's reversible vs plain backward.

    python tools/analysis_tools/benchmark_revcol_memory.py
        [--columns 1 2 4 8 16] [--size 64] [--batch 2] [--arch t]

For each number of columns, one training forward (drop path 0.1) runs under
``torch.autograd.graph.saved_tensors_hooks``; every tensor autograd saves for
backward is recorded, parameters excluded, and distinct storages are summed
(bytes). Three runs share the same weights: the plain autograd path
(``save_memory=False``), the reversible path keeping every column's outputs
(``keep_every=1``, the default, what the official code saves) and keeping
only the last column's (``keep_every=0``). Ratios are plain / reversible from
this one run. The architecture is ``--arch``'s channels and blocks with the
number of columns varied.
"""
import argparse
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


def saved_bytes(model, x):
    """Bytes of distinct non-parameter storages saved for backward."""
    params = {p.untyped_storage().data_ptr() for p in model.parameters()}
    storages = {}

    def pack(t):
        s = t.untyped_storage()
        if s.data_ptr() not in params:
            storages[s.data_ptr()] = s.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        outs = model(x)
    sum(o.float().sum() for o in outs).backward()
    return sum(storages.values())


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--columns', type=int, nargs='+',
                        default=[1, 2, 4, 8, 16])
    parser.add_argument('--arch', default='t')
    parser.add_argument('--size', type=int, default=64)
    parser.add_argument('--batch', type=int, default=2)
    parser.add_argument('--threads', type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    from projects.revcol import RevCol
    base = RevCol.arch_zoo[args.arch]
    mib = 2.0**20
    print(f'arch {args.arch} channels {base["channels"]} layers '
          f'{base["layers"]}, input {args.batch}x3x{args.size}x{args.size}, '
          'float32, drop path 0.1; saved activations in MiB')
    print('| columns | plain | reversible keep_every=1 | ratio | '
          'reversible keep_every=0 | ratio |')
    print('|---|---|---|---|---|---|')
    x = torch.randn(args.batch, 3, args.size, args.size)
    for n in args.columns:
        arch = dict(base, num_subnet=n)
        res = []
        for save, keep in ((False, 1), (True, 1), (True, 0)):
            torch.manual_seed(0)
            model = RevCol(arch=arch, drop_path_rate=0.1, save_memory=save,
                           keep_every=keep).train()
            res.append(saved_bytes(model, x))
        plain, keep1, keep0 = res
        print(f'| {n} | {plain / mib:.2f} | {keep1 / mib:.2f} | '
              f'{plain / keep1:.1f}x | {keep0 / mib:.2f} | '
              f'{plain / keep0:.1f}x |')


if __name__ == '__main__':
    main()
