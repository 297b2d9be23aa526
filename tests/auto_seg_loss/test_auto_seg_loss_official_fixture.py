"""Fidelity: our Auto Seg-Loss against fixtures of the official loss.

``tests/data/official/auto_seg_loss.pt`` was written by
``tools/model_converters/official_fixtures/auto_seg_loss.py`` from
fundamentalvision/Auto-Seg-Loss @ e2349db: the official ``AutoSegLoss``
run in float64 on seeded random logits [2, 5, 20, 20] (class 4 absent) and
blocky labels, with the released control points of every metric, and its
loss and gradient with respect to the logits. No network and no official
checkout are needed. Tolerances (relative):

- mIoU, FWIoU, BIoU: the same math, float64 1e-10.
- mAcc, gAcc: float64 1e-9. The official code adds ``eps = 1e-8`` to the
  class count of its float32 one-hot target, where it rounds away for
  counts >= 1; ours adds it in float64, a relative difference of
  eps / count (~1e-10 here). With ``eps=0`` gAcc agrees to 1e-14.
- BF1 without ignored pixels: 1e-5 (float32 level; ours in float64 and in
  float32): the official ``dilate`` casts the soft edges to float32.
- BF1 with ignored pixels differs by design (README, "Differences from the
  official code"): the official loss keeps the prediction on ignored
  pixels, ours sets it to void there. The test pins that difference.
"""
from pathlib import Path

import pytest
import torch

from projects.auto_seg_loss import AutoSegLoss
from projects.auto_seg_loss.params import load_params

FIXTURE = (Path(__file__).resolve().parents[1] /
           'data/official/auto_seg_loss.pt')
DATA = torch.load(FIXTURE, weights_only=True)
CASES = {c['name']: c for c in DATA['cases']}
TOL64 = dict(mIoU=1e-10, FWIoU=1e-10, BIoU=1e-10, mAcc=1e-9, gAcc=1e-9,
             BF1=1e-5)


def rel_diff(a, b):
    a, b = torch.as_tensor(a).double(), torch.as_tensor(b).double()
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-300))


def inputs(case, dtype=torch.float64):
    data = DATA['inputs'][case['inputs']]
    return data['logits'].to(dtype).clone(), data['label'].long()


def ours(case, logits, label, **kwargs):
    loss_fn = AutoSegLoss(target_metric=case['target_metric'],
                          ctrl_points=case['ctrl_points'].tolist(),
                          tol=case['tol'], drop_bg=case['drop_bg'], **kwargs)
    logits = logits.requires_grad_()
    loss = loss_fn(logits, label, ignore_index=255)
    loss.backward()
    return loss.detach(), logits.grad


def test_fixture_covers_the_brief():
    assert DATA['dtype'] == 'float64' and 'e2349db' in DATA['official']
    metrics = {c['target_metric'] for c in CASES.values()}
    assert metrics == {'mIoU', 'FWIoU', 'BIoU', 'mAcc', 'gAcc', 'BF1'}
    for key, data in DATA['inputs'].items():
        logits, label = data['logits'], data['label'].long()
        assert logits.dtype == torch.float64 and logits.shape == (2, 5, 20, 20)
        assert not (label == 4).any()  # an absent class
        assert (label == 255).any() == (key == 'ignored')


@pytest.mark.parametrize('name', list(CASES))
def test_control_points_are_the_released_ones(name):
    case = CASES[name]
    rows = load_params(case['params'], case['target_metric'])[0]
    assert case['ctrl_points'].tolist() == [v for r in rows for v in r]


@pytest.mark.parametrize('name', [n for n, c in CASES.items()
                                  if c['inputs'] == 'ignored'
                                  and c['target_metric'] != 'BF1'] +
                         ['BF1', 'BF1_drop_bg_tol2'])
def test_matches_official_float64(name):
    case = CASES[name]
    loss, grad = ours(case, *inputs(case))
    tol = TOL64[case['target_metric']]
    assert rel_diff(loss, case['loss']) < tol
    assert rel_diff(grad, case['grad_logits']) < tol
    assert case['grad_logits'].abs().max() > 1e-4
    assert 0 < float(case['loss']) < 1


@pytest.mark.parametrize('name', list(CASES)[:-1])
def test_matches_official_float32(name):
    case = CASES[name]
    loss, grad = ours(case, *inputs(case, torch.float32))
    assert loss.dtype == grad.dtype == torch.float32
    assert rel_diff(loss, case['loss']) < 1e-5
    assert rel_diff(grad, case['grad_logits']) < 1e-5


def test_gacc_without_eps_is_exact():
    """The mAcc/gAcc tolerance is the official float32 count absorbing
    eps: without eps gAcc agrees to float64 rounding."""
    case = CASES['gAcc']
    loss, grad = ours(case, *inputs(case), eps=0.0)
    assert rel_diff(loss, case['loss']) < 1e-14
    assert rel_diff(grad, case['grad_logits']) < 1e-12


def test_bf1_ignored_pixels_differ_by_design():
    case = CASES['BF1_ignored']
    logits, label = inputs(case)
    ignored = label == 255
    loss, grad = ours(case, logits.clone(), label)
    # official: the prediction on ignored pixels enters the loss
    assert abs(float(loss) - float(case['loss'])) > 1e-3
    official_grad = case['grad_logits'].permute(0, 2, 3, 1)[ignored]
    assert official_grad.abs().max() > 1e-4
    # ours: ignored pixels are void, no gradient, logits there irrelevant
    assert float(grad.permute(0, 2, 3, 1)[ignored].abs().max()) == 0.0
    changed = logits.clone()
    changed.permute(0, 2, 3, 1)[ignored] = torch.randn(
        int(ignored.sum()), 5, generator=torch.Generator().manual_seed(0),
        dtype=torch.float64) * 3
    loss2, _ = ours(case, changed, label)
    assert rel_diff(loss2, loss) < 1e-12
