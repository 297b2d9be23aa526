"""Fixtures of the official Parameterized AP Loss for the fidelity test.

    python tools/model_converters/official_fixtures/pap_loss.py CHECKOUT
        [--out tests/data/official/pap_loss.pt]

``CHECKOUT``: a checkout of fundamentalvision/Parameterized-AP-Loss at
commit e0ab2ff (or its ``mmdet/models/losses/paploss.py``); only that file
is read, through the adapter of ``tools/analysis_tools/benchmark_pap_loss.py``
(``load_official``; the checkout's mmdet 2.x package is not imported).

For each case (seeded random logits [N, C] of the benchmark's generator,
some positives, 5% of the anchors ignored, one released parameter file)
the official ``paploss(logits, ious, targets, ctrl_points, num_topk,
'searched')`` runs forward and backward in float64 with ``ious`` built as
its heads build it (``quality[:, None] * (targets == 1)``) and the released
control points (12 numbers a row, (0, 0) and (1, 1) included). The file
holds plain tensors, ints and strings only (``torch.load(...,
weights_only=True)``): per case the inputs, ``num_topk``, the control
points, the loss and its gradients with respect to the logits and the
quality. ``tests/pap_loss/test_pap_loss_official_fixture.py`` checks our
loss on it.
"""
import argparse
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / 'tools' / 'analysis_tools'))

from benchmark_pap_loss import load_official, make_inputs  # noqa: E402

from projects.pap_loss.params import load_params  # noqa: E402

OFFICIAL_COMMIT = 'e0ab2ff'
# name, parameter file, anchors, classes, positives, num_topk, seed
CASES = [
    ('retinanet_topk', 'projects/pap_loss/params/retinanet.json', 40, 5, 4,
     60, 0),
    ('rpn_topk', 'projects/pap_loss/params/faster_rcnn_rpn.json', 60, 1, 6,
     25, 1),
    ('rcnn_all_rows', 'projects/pap_loss/params/faster_rcnn_rcnn.json', 30,
     4, 5, 1000, 2),
]


def official_ctrl(rows):
    """Released inner rows -> the official [F, 12] control points."""
    return torch.tensor([[0., 0.] + list(r) + [1., 1.] for r in rows],
                        dtype=torch.float64)


def make_case(paploss, name, params, anchors, classes, positives, topk,
              seed):
    logits, targets, quality = make_inputs(positives, topk, classes,
                                           anchors * classes, seed)
    assert logits.shape == (anchors, classes)
    logits = logits.double().requires_grad_()
    quality = quality.double().requires_grad_()
    ctrl = official_ctrl(load_params(params)[0])
    ious = quality[:, None] * (targets == 1)  # as the official heads
    loss = paploss(logits, ious, targets, ctrl, topk, 'searched')
    loss.backward()
    return dict(name=name, params=params, logits=logits.detach(),
                targets=targets, quality=quality.detach(), num_topk=topk,
                ctrl_points=ctrl, loss=loss.detach(),
                grad_logits=logits.grad, grad_quality=quality.grad)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('official', help='official checkout or paploss.py')
    parser.add_argument('--out', default=str(
        ROOT / 'tests/data/official/pap_loss.pt'))
    args = parser.parse_args()
    paploss = load_official(args.official)
    cases = [make_case(paploss, *case) for case in CASES]
    torch.save(dict(official=f'fundamentalvision/Parameterized-AP-Loss @ '
                    f'{OFFICIAL_COMMIT}, mmdet/models/losses/paploss.py',
                    dtype='float64', cases=cases), args.out)
    for c in cases:
        valid = int((c['targets'] != -1).sum())
        print(f"{c['name']}: {tuple(c['logits'].shape)}, "
              f"{int((c['targets'] == 1).sum())} positives, {valid} valid "
              f"entries, top-k {c['num_topk']}, loss {float(c['loss']):.6f}")
    print(f'wrote {args.out}')


if __name__ == '__main__':
    main()
