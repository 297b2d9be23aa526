"""Fidelity: our PAP loss against fixtures of the official ``paploss``.

``tests/data/official/pap_loss.pt`` was written by
``tools/model_converters/official_fixtures/pap_loss.py`` from
fundamentalvision/Parameterized-AP-Loss @ e0ab2ff: seeded random logits,
targets (positives, ignored anchors), quality and the released control
points, with the official float64 loss and its gradients with respect to
the logits and the quality. The math is the same, so our fast loss and the
dense reference agree with it to 1e-10 (relative) in float64. No network
and no official checkout are needed.
"""
from pathlib import Path

import pytest
import torch

from projects.pap_loss import PAPFunctions, pap_loss
from projects.pap_loss.params import load_params
from projects.pap_loss.reference import pap_loss_dense

FIXTURE = Path(__file__).resolve().parents[1] / 'data/official/pap_loss.pt'
DATA = torch.load(FIXTURE, weights_only=True)
CASES = DATA['cases']


def rel_diff(a, b):
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-300))


def test_fixture_covers_the_brief():
    assert DATA['dtype'] == 'float64' and 'e0ab2ff' in DATA['official']
    assert {c['params'] for c in CASES} == {
        f'projects/pap_loss/params/{n}.json'
        for n in ('retinanet', 'faster_rcnn_rpn', 'faster_rcnn_rcnn')}
    for c in CASES:
        t = c['targets']
        assert (t == 1).any() and (t == -1).any()
    # top-k shorter than the valid entries in some cases, not in others
    short = [c['num_topk'] < int((c['targets'] != -1).sum()) for c in CASES]
    assert any(short) and not all(short)


@pytest.mark.parametrize('case', CASES, ids=[c['name'] for c in CASES])
def test_control_points_are_the_released_ones(case):
    rows = load_params(case['params'])[0]
    ctrl = case['ctrl_points']
    assert ctrl.shape == (len(rows), 12)
    assert ctrl.dtype == torch.float64
    assert (ctrl[:, :2] == 0).all() and (ctrl[:, -2:] == 1).all()
    assert ctrl[:, 2:-2].tolist() == rows


@pytest.mark.parametrize('impl', [pap_loss, pap_loss_dense],
                         ids=['fast', 'dense'])
@pytest.mark.parametrize('case', CASES, ids=[c['name'] for c in CASES])
def test_matches_official_float64(case, impl):
    functions = PAPFunctions.from_ctrl_points(case['ctrl_points'][:, 2:-2]
                                              .tolist())
    logits = case['logits'].clone().requires_grad_()
    quality = case['quality'].clone().requires_grad_()
    loss = impl(logits, case['targets'], quality, functions,
                num_topk=case['num_topk'])
    loss.backward()
    assert loss.dtype == torch.float64
    assert rel_diff(loss.detach(), case['loss']) < 1e-10
    assert rel_diff(logits.grad, case['grad_logits']) < 1e-10
    assert rel_diff(quality.grad, case['grad_quality']) < 1e-10
    # the gradients are not trivially zero, and ignored anchors get none
    assert case['grad_logits'].abs().max() > 1e-3
    assert case['grad_quality'].abs().max() > 1e-3
    ignored = case['targets'] == -1
    assert float(logits.grad[ignored].abs().max()) == 0.0
