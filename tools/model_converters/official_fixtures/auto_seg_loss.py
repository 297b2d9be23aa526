"""Fixtures of the official Auto Seg-Loss for the fidelity test.

    python tools/model_converters/official_fixtures/auto_seg_loss.py CHECKOUT
        [--out tests/data/official/auto_seg_loss.pt]

``CHECKOUT``: a checkout of fundamentalvision/Auto-Seg-Loss at commit
e2349db; only ``mmseg/models/losses/auto_seg_loss.py`` and
``mmseg/core/evaluation/utils.py`` are read, through the adapter of
``tools/analysis_tools/benchmark_auto_seg_loss.py`` (``load_official``: its
mmseg 0.x package is stubbed). The official loss runs on the CPU when
``theta`` is given as a tensor.

Each case runs the official ``AutoSegLoss(num_class, theta,
parameterization='bezier', target_metric, drop_bg, tol)`` forward and
backward in float64 on seeded random logits [2, 5, 20, 20] and blocky
labels (4 px blocks of classes 0-3, so class 4 is absent) with the released
control points
of ``projects/auto_seg_loss/params`` (flat, the official ``theta=``
layout). Two input sets are shared by the cases: ``ignored`` (5% of the
pixels 255) and ``clean`` (none). The file holds plain tensors, numbers,
bools and strings (``torch.load(..., weights_only=True)``): the inputs
(labels as uint8), and per case its input set, the settings, the control
points, the loss and its gradient with respect to the logits.
``tests/auto_seg_loss/test_auto_seg_loss_official_fixture.py`` checks our
loss on it.
"""
import argparse
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / 'tools' / 'analysis_tools'))

from benchmark_auto_seg_loss import PARAMS, load_official  # noqa: E402

from projects.auto_seg_loss.params import load_params  # noqa: E402

OFFICIAL_COMMIT = 'e2349db'
BATCH, CLASSES, SIZE, BLOCK = 2, 5, 20, 4
INPUTS = dict(ignored=(0.05, 0), clean=(0.0, 1))  # fraction ignored, seed
# name, metric, drop_bg, tol, input set
CASES = [
    ('mIoU', 'mIoU', False, 5, 'ignored'),
    ('FWIoU', 'FWIoU', False, 5, 'ignored'),
    ('BIoU', 'BIoU', True, 5, 'ignored'),
    ('BIoU_all_classes_tol2', 'BIoU', False, 2, 'ignored'),
    ('mAcc', 'mAcc', False, 5, 'ignored'),
    ('gAcc', 'gAcc', False, 5, 'ignored'),
    ('BF1', 'BF1', False, 5, 'clean'),
    ('BF1_drop_bg_tol2', 'BF1', True, 2, 'clean'),
    ('BF1_ignored', 'BF1', False, 5, 'ignored'),
]


def make_inputs(ignored, seed):
    """Logits [B, C, S, S] (the label's class favoured) and labels of
    classes 0..C-2 in BLOCK px blocks, ``ignored`` of the pixels 255."""
    g = torch.Generator().manual_seed(seed)
    coarse = torch.randint(0, CLASSES - 1, (BATCH, SIZE // BLOCK,
                                            SIZE // BLOCK), generator=g)
    label = coarse.repeat_interleave(BLOCK, 1).repeat_interleave(BLOCK, 2)
    logits = torch.randn(BATCH, CLASSES, SIZE, SIZE, generator=g,
                         dtype=torch.float64)
    logits.scatter_add_(1, label[:, None],
                        torch.full((BATCH, 1, SIZE, SIZE), 1.5,
                                   dtype=torch.float64))
    label[torch.rand(BATCH, SIZE, SIZE, generator=g) < ignored] = 255
    return logits, label


def make_case(official, inputs, name, metric, drop_bg, tol, input_set):
    logits, label = inputs[input_set]
    params = f'projects/auto_seg_loss/params/{PARAMS[metric]}'
    rows = load_params(params, metric)[0]
    theta = torch.tensor([v for r in rows for v in r], dtype=torch.float64)
    loss_fn = official(num_class=CLASSES, theta=theta,
                       parameterization='bezier', target_metric=metric,
                       drop_bg=drop_bg, tol=tol)
    lg = logits.clone().requires_grad_()
    loss = loss_fn(lg, label)
    loss.backward()
    return dict(name=name, target_metric=metric, params=params,
                drop_bg=drop_bg, tol=tol, inputs=input_set,
                ctrl_points=theta, loss=loss.detach(), grad_logits=lg.grad)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('official', help='official Auto-Seg-Loss checkout')
    parser.add_argument('--out', default=str(
        ROOT / 'tests/data/official/auto_seg_loss.pt'))
    args = parser.parse_args()
    official = load_official(args.official)
    inputs = {k: make_inputs(*v) for k, v in INPUTS.items()}
    cases = [make_case(official, inputs, *case) for case in CASES]
    torch.save(dict(official=f'fundamentalvision/Auto-Seg-Loss @ '
                    f'{OFFICIAL_COMMIT}, mmseg/models/losses/'
                    f'auto_seg_loss.py', dtype='float64',
                    inputs={k: dict(logits=lg, label=lb.to(torch.uint8))
                            for k, (lg, lb) in inputs.items()},
                    cases=cases), args.out)
    for c in cases:
        print(f"{c['name']}: loss {float(c['loss']):.8f}, ignored "
              f"{int((inputs[c['inputs']][1] == 255).sum())} px")
    print(f'wrote {args.out}')


if __name__ == '__main__':
    main()
