"""AutoSegLoss against the float64 reference and the exact metrics."""
import numpy as np
import pytest
import torch
from mmseg.evaluation import IoUMetric

from projects.auto_seg_loss import (AutoSegLoss, BF1Metric, BIoUMetric,
                                    FUNCTIONS, theta_to_control_points)
from projects.auto_seg_loss.metrics import (bf1_from_counts,
                                            boundary_f1_counts,
                                            boundary_iou_counts)
from projects.auto_seg_loss.reference import surrogate_reference

PARAMS = dict(mIoU='miou.json', FWIoU='fwiou.json', BIoU='biou.json',
              mAcc='macc.json', gAcc='gacc.json', BF1='bf1.json')
METRICS = list(PARAMS)
C = 5


def blocky_labels(n=2, h=18, w=20, c=C, seed=0, ignore=True):
    """Labels of 3-6 px blocks, so that boundaries and interiors exist."""
    g = torch.Generator().manual_seed(seed)
    coarse = torch.randint(0, c, (n, 1, h // 3 + 1, w // 3 + 1), generator=g)
    lab = torch.nn.functional.interpolate(coarse.float(), scale_factor=3,
                                          mode='nearest')[:, 0, :h, :w]
    lab = lab.long()
    if ignore:
        lab[0, :2] = 255
        lab[1, 6:9, 4:8] = 255
    return lab


def logits_for(n=2, h=18, w=20, c=C, seed=1, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return (2.5 * torch.randn(n, c, h, w, generator=g)).to(dtype)


def random_rows(metric, seed):
    names, pieces = FUNCTIONS[metric]
    g = torch.Generator().manual_seed(seed)
    block = 2 * (2 * pieces - 1)
    theta = torch.rand(block * len(names), generator=g, dtype=torch.float64)
    return theta_to_control_points(theta, num_pieces=pieces).tolist()


def make_loss(metric, tol=2, **kw):
    return AutoSegLoss(target_metric=metric, params_file=PARAMS[metric],
                       tol=tol, drop_bg=metric == 'BIoU', chunk_elems=300,
                       **kw)


@pytest.mark.parametrize('metric', METRICS)
def test_equals_float64_reference(metric):
    loss_fn = make_loss(metric, loss_weight=0.7)
    lab = blocky_labels()
    x0 = logits_for()
    out = {}
    for dtype in (torch.float64, torch.float32):
        x = x0.to(dtype).detach().clone().requires_grad_()
        loss = loss_fn(x, lab)
        loss.backward()
        out[dtype] = (loss.detach().double(), x.grad.double())
    ref_x = x0.clone().requires_grad_()
    ref = 0.7 * (1 - surrogate_reference(
        ref_x, lab, metric, loss_fn.ctrl_points, tol=2,
        drop_bg=metric == 'BIoU'))
    ref.backward()
    scale = ref_x.grad.abs().max()
    assert scale > 0
    v64, g64 = out[torch.float64]
    assert float(v64) == pytest.approx(float(ref), abs=1e-12)
    assert float((g64 - ref_x.grad).abs().max() / scale) < 1e-10
    v32, g32 = out[torch.float32]
    assert float(v32) == pytest.approx(float(ref), abs=1e-5)
    assert float((g32 - ref_x.grad).abs().max() / scale) < 1e-4


@pytest.mark.parametrize('drop_bg', [False, True])
def test_bf1_plane_selection_and_blocks(drop_bg):
    # class 4 absent (no planes computed), class 2 only in image 1 (plane
    # (0, 2) has no GT boundary: only its sum of e), so image 0's boundary
    # planes are not consecutive; one plane per block or whole images
    lab = blocky_labels()
    lab[lab == 4] = 3
    lab[0][lab[0] == 2] = 1
    x0 = logits_for()
    ref_x = x0.clone().requires_grad_()
    rows = random_rows('BF1', 5)
    ref = 1 - surrogate_reference(
        ref_x, lab, 'BF1', AutoSegLoss(target_metric='BF1',
                                       ctrl_points=rows).ctrl_points,
        tol=2, drop_bg=drop_bg)
    ref.backward()
    for chunk in (300, 1 << 20):
        loss_fn = AutoSegLoss(target_metric='BF1', ctrl_points=rows, tol=2,
                              drop_bg=drop_bg, chunk_elems=chunk)
        x = x0.clone().requires_grad_()
        loss = loss_fn(x, lab)
        loss.backward()
        assert float(loss) == pytest.approx(float(ref), abs=1e-12)
        assert torch.allclose(x.grad, ref_x.grad, rtol=0, atol=1e-12)


def exact_region(pred, lab, c):
    """Per-class IoU, accuracy and frequencies with mmseg's IoUMetric."""
    inter, union, area_lab = 0, 0, 0
    for p, g in zip(pred, lab):
        i, u, _, al = IoUMetric.intersect_and_union(p, g, c, 255)
        inter, union, area_lab = inter + i, union + u, area_lab + al
    iou = (inter / union).double()
    acc = (inter / area_lab).double()
    return iou, acc, area_lab.double(), inter.sum() / area_lab.sum()


@pytest.mark.parametrize('metric', METRICS)
@pytest.mark.parametrize('seed', [0, 1])
def test_truth_table_equals_exact_metric(metric, seed):
    # random valid functions, one-hot predictions: surrogate == metric
    lab = blocky_labels(seed=seed)
    pred = blocky_labels(seed=seed + 10, ignore=False)
    pred[0, 3:5, 3:9] = lab[0, 3:5, 3:9].clamp(max=C - 1)  # some overlap
    x = 1e4 * torch.nn.functional.one_hot(pred, C).permute(0, 3, 1, 2)
    x = x.double().requires_grad_()
    loss_fn = AutoSegLoss(target_metric=metric,
                          ctrl_points=random_rows(metric, seed), tol=2,
                          drop_bg=metric == 'BF1')
    value = 1 - float(loss_fn(x, lab))
    if metric in ('mIoU', 'FWIoU', 'mAcc', 'gAcc'):
        iou, acc, freq, aacc = exact_region(pred, lab, C)
        expected = dict(mIoU=np.nansum(iou.numpy()) / C,
                        FWIoU=float((iou.nan_to_num() * freq).sum() /
                                    freq.sum()),
                        mAcc=np.nansum(acc.numpy()) / C,
                        gAcc=float(aacc))[metric]
    else:
        valid = torch.where(lab == 255, -1, lab)
        if metric == 'BIoU':
            inter, union = boundary_iou_counts(pred, valid, C, tol=2)
            expected = float((inter / union).nan_to_num().sum() / C)
        else:
            counts = boundary_f1_counts(pred, valid, C, tol=2)
            expected = np.nanmean(bf1_from_counts(*counts, drop_bg=True))
    assert value == pytest.approx(expected, abs=1e-7)


def _samples(pred, lab):
    return [dict(pred_sem_seg=dict(data=p[None]),
                 gt_sem_seg=dict(data=g[None])) for p, g in zip(pred, lab)]


@pytest.mark.parametrize('name', ['BIoU', 'BF1'])
def test_boundary_metrics_registered_and_match_surrogate(name):
    # every class present in GT (and its trimap): nanmean == mean over C
    lab = blocky_labels(seed=4)
    pred = blocky_labels(seed=5, ignore=False)
    metric = (BIoUMetric if name == 'BIoU' else BF1Metric)(tol=2)
    metric.dataset_meta = dict(classes=[str(i) for i in range(C)])
    metric.process(None, _samples(pred, lab))
    result = metric.compute_metrics(metric.results)[name] / 100
    x = 1e4 * torch.nn.functional.one_hot(pred, C).permute(0, 3, 1, 2)
    loss_fn = AutoSegLoss(target_metric=name,
                          ctrl_points=random_rows(name, 3), tol=2)
    assert 1 - float(loss_fn(x.double(), lab)) == pytest.approx(
        result, abs=5e-5)  # the metric rounds to 2 decimals (in %)
    from mmseg.registry import METRICS
    assert METRICS.get(f'{name}Metric') is type(metric)


def test_identity_functions_give_soft_metrics():
    lab = blocky_labels()
    x = logits_for()
    p = x.softmax(1)
    valid = lab != 255
    y = torch.nn.functional.one_hot(lab.clamp(max=C - 1), C)
    y = y.permute(0, 3, 1, 2).double() * valid[:, None]
    m = valid[:, None].double()
    inter = (p * y).sum((0, 2, 3))
    union = ((p + y - p * y) * m).sum((0, 2, 3))
    ident = [0.25, 0.25, 0.5, 0.5, 0.75, 0.75]
    jaccard = AutoSegLoss(target_metric='mIoU', ctrl_points=ident * 2)
    assert float(jaccard(x, lab)) == pytest.approx(
        1 - float((inter / (union + 1e-8)).mean()), abs=1e-12)
    gacc = AutoSegLoss(target_metric='gAcc', ctrl_points=ident)
    assert float(gacc(x, lab)) == pytest.approx(
        1 - float(inter.sum() / (y.sum() + 1e-8)), abs=1e-12)  # mean p_gt


@pytest.mark.parametrize('metric', METRICS)
def test_ignored_pixels_change_neither_value_nor_gradient(metric):
    loss_fn = make_loss(metric)
    lab = blocky_labels()
    ignored = (lab == 255)[:, None].expand(-1, C, -1, -1)
    x1 = logits_for().requires_grad_()
    x2 = torch.where(ignored, 50 * logits_for(seed=7), x1.detach())
    x2.requires_grad_()
    lab2 = torch.where(lab == 255, -3, lab)  # any out-of-range label
    l1, l2 = loss_fn(x1, lab), loss_fn(x2, lab2)
    l1.backward()
    l2.backward()
    assert float(l1) == pytest.approx(float(l2), abs=1e-14)
    assert torch.allclose(x1.grad, x2.grad, atol=1e-15)
    assert x1.grad[ignored].abs().max() == 0


@pytest.mark.parametrize('metric', METRICS)
def test_finite_gradients_low_precision_and_edge_cases(metric):
    loss_fn = make_loss(metric)
    lab = blocky_labels()
    for dtype in (torch.float32, torch.float16, torch.bfloat16):
        x = (8 * logits_for()).to(dtype).requires_grad_()  # saturated
        loss = loss_fn(x, lab)
        loss.backward()
        assert loss.dtype == torch.float32 and x.grad.dtype == dtype
        assert torch.isfinite(loss) and torch.isfinite(x.grad).all()
        assert 0 <= float(loss) <= 1
    with torch.autocast('cpu', dtype=torch.bfloat16):
        x = logits_for(dtype=torch.float32).requires_grad_()
        loss = loss_fn(x, lab)
    loss.backward()
    assert loss.dtype == torch.float32 and torch.isfinite(x.grad).all()
    # absent classes, and a batch that is entirely ignored
    for labels in (torch.where(lab >= 2, 1, lab), torch.full_like(lab, 255)):
        x = logits_for().requires_grad_()
        loss = AutoSegLoss(target_metric=metric, params_file=PARAMS[metric],
                           loss_weight=2.0, tol=2)(x, labels)
        loss.backward()
        assert torch.isfinite(x.grad).all() and 0 <= float(loss) <= 2.0
        if bool((labels == 255).all()):
            assert float(loss) == 2.0 and x.grad.abs().max() == 0


@pytest.mark.parametrize('metric', METRICS)
def test_range_and_batch_permutation(metric):
    loss_fn = make_loss(metric, loss_weight=3.0)
    lab = blocky_labels(n=3, seed=2)
    for seed in range(3):
        x = logits_for(n=3, seed=seed)
        value = float(loss_fn(x, lab))
        assert 0 <= value <= 3.0
        perm = torch.tensor([2, 0, 1])
        assert float(loss_fn(x[perm], lab[perm])) == pytest.approx(
            value, abs=1e-12)
    # a perfect, confident prediction with every class present
    lab = blocky_labels(ignore=False, seed=6)
    assert set(lab.unique().tolist()) == set(range(C))
    x = 1e4 * torch.nn.functional.one_hot(lab, C).permute(0, 3, 1, 2)
    assert float(loss_fn(x.double(), lab)) == pytest.approx(0.0, abs=1e-6)


def test_mmseg_conventions():
    loss_fn = AutoSegLoss(target_metric='mIoU', params_file='miou.json',
                          loss_name='loss_asl_miou', class_mean='present')
    assert loss_fn.loss_name == 'loss_asl_miou'
    lab = blocky_labels()
    x = logits_for()
    with pytest.raises(ValueError, match='per-pixel weight'):
        loss_fn(x, lab, weight=torch.ones_like(lab))
    # an ignore_index inside [0, C) (from the head) is ignored as well
    lab0 = torch.where(lab == 0, 255, lab)
    assert float(loss_fn(x, lab, ignore_index=0)) == pytest.approx(
        float(loss_fn(x, lab0)), abs=1e-12)
