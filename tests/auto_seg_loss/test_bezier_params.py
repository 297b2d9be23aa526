"""Bezier functions, theta map and parameter files of Auto Seg-Loss."""
import json

import pytest
import torch

from projects.auto_seg_loss import (AutoSegLoss, PiecewiseBezier,
                                    control_points_to_theta, load_params,
                                    theta_to_control_points)
from projects.auto_seg_loss.reference import bezier_reference

XS = [0, .01, .05, .1, .25, .5, .75, .9, .99, 1]
# research notes section 2.4 (fp64 re-derivation, 3 decimals)
GOLDEN = {
    ('miou.json', 0): [0, .203, .408, .527, .677, .756, .864, .943, .994, 1],
    ('miou.json', 1): [0, .000, .002, .007, .041, .191, .606, .974, .997, 1],
    ('miou_2020.json', 0): [0, .189, .396, .531, .748, .910, .976, .990,
                            .997, 1],
    ('miou_2020.json', 1): [0, .008, .038, .076, .190, .386, .751, .906,
                            .991, 1],
    ('macc.json', 0): [0, .163, .398, .541, .734, .825, .904, .956, .994, 1],
}
FILES = ['miou.json', 'miou_2020.json', 'fwiou.json', 'biou.json',
         'macc.json', 'gacc.json', 'gacc_auxiliary.json', 'bf1.json']


@pytest.mark.parametrize('key', sorted(GOLDEN))
def test_golden_curve_values(key):
    rows, _, _ = load_params(key[0])
    y = PiecewiseBezier(rows[key[1]]).evaluate(
        torch.tensor(XS, dtype=torch.float64))
    assert y.tolist() == pytest.approx(GOLDEN[key], abs=1e-3)


@pytest.mark.parametrize('name', FILES)
def test_released_files_monotone_and_truth_table(name):
    rows, metric, doc = load_params(name)
    assert {'source', 'log', 'notes'} <= set(doc)
    grid = torch.linspace(0, 1, 100001, dtype=torch.float64)
    for row in rows:
        y = PiecewiseBezier(row).evaluate(grid)
        assert y[0] == 0 and y[-1] == pytest.approx(1.0, abs=1e-12)
        assert bool((y.diff() >= -1e-12).all())
        # the stored theta maps to the stored control points
    for fn in doc['functions'].values():
        pts = theta_to_control_points(fn['theta']).tolist()
        assert pts == pytest.approx(fn['ctrl_points'], abs=1e-6)


SINGULAR = [0.5, 0.5 + 1e-6, 0.5 - 1e-6, 0.500025, 5.7e-4, 1e-7, 0.0, 1.0]


@pytest.mark.parametrize('a', SINGULAR)
def test_stable_inversion_float32(a):
    # one piece with control ratio a: float32 values and slopes against the
    # float64 official root form
    pts = [a, 0.7]
    x64 = torch.cat([torch.linspace(0, 1, 20001, dtype=torch.float64),
                     torch.logspace(-9, 0, 500, dtype=torch.float64)])
    ref = bezier_reference(x64, pts)
    y32, d32 = PiecewiseBezier(pts).evaluate(x64.float(), slope=True)
    assert (y32.double() - ref).abs().max() < 3e-6
    xg = x64.clone().requires_grad_()
    (g, ) = torch.autograd.grad(bezier_reference(xg, pts).sum(), xg)
    inner = (x64 > 1e-6) & (x64 < 1 - 1e-6)
    rel = (d32.double() - g).abs() / (g.abs() + 1)
    assert rel[inner].max() < (1e-3 if a in (0.0, 1.0, 1e-7) else 1e-5)
    assert torch.isfinite(d32).all()
    if 0 < abs(a - 0.5) < 1e-4:
        # the official root form itself cancels catastrophically in fp32
        u = torch.logspace(-6, 0, 200)
        t_root = (a - torch.sqrt(a * a + (1 - 2 * a) * u)) / (2 * a - 1)
        u64 = u.double()
        t_true = u64 / (a + torch.sqrt(a * a + (1 - 2 * a) * u64))
        assert ((t_root.double() - t_true).abs() / t_true).max() > 1e-2


def test_theta_map_identity_and_round_trip():
    init = theta_to_control_points([0.25, 0.25, 1 / 3, 1 / 3, 0.5, 0.5])
    assert init.tolist() == pytest.approx([.25, .25, .5, .5, .75, .75])
    x = torch.rand(1000, dtype=torch.float64)
    assert torch.allclose(PiecewiseBezier(init).evaluate(x), x, atol=1e-12)
    assert torch.allclose(PiecewiseBezier([0.5, 0.5]).evaluate(x), x,
                          atol=1e-12)
    g = torch.Generator().manual_seed(0)
    for pieces, n in ((2, 12), (1, 8)):
        theta = torch.rand(n, generator=g, dtype=torch.float64)
        pts = theta_to_control_points(theta, num_pieces=pieces)
        for row in pts.reshape(-1, 2 * (2 * pieces - 1)):
            PiecewiseBezier(row)  # valid (monotone, in [0, 1])
        back = control_points_to_theta(pts, num_pieces=pieces)
        assert torch.allclose(back, theta, atol=1e-12)
    loss = AutoSegLoss(theta=[0.25, 0.25, 1 / 3, 1 / 3, 0.5, 0.5] * 2)
    assert loss.ctrl_points[1] == pytest.approx([.25, .25, .5, .5, .75, .75])


def _write(tmp_path, doc):
    path = tmp_path / 'p.json'
    path.write_text(json.dumps(doc))
    return str(path)


def test_validation_errors_name_file_and_row(tmp_path):
    good = json.loads(open(
        'projects/auto_seg_loss/params/miou.json').read())
    bad = json.loads(json.dumps(good))
    bad['functions']['h_or']['ctrl_points'] = [0.5, 0.5, 0.4, 0.6, 0.9, 0.9]
    del bad['functions']['h_or']['theta']
    with pytest.raises(ValueError, match=r'p\.json: function h_or '
                       r'ctrl_points: x coordinates must be non-decreasing'):
        load_params(_write(tmp_path, bad))
    bad['functions']['h_or']['ctrl_points'] = [0.1, 0.2, 0.3]
    with pytest.raises(ValueError, match=r'function h_or ctrl_points: '
                       r'expected 6 numbers'):
        load_params(_write(tmp_path, bad))
    bad['functions']['h_or']['ctrl_points'] = [0.1, 0.2, 0.3, 0.4, 1.5, 1]
    with pytest.raises(ValueError, match=r'function h_or .*\[0, 1\]'):
        load_params(_write(tmp_path, bad))
    bad = dict(good, target_metric='miou')
    with pytest.raises(ValueError, match="unknown target_metric 'miou'.*"
                       "did you mean 'mIoU'"):
        load_params(_write(tmp_path, bad))
    with pytest.raises(ValueError, match='holds mIoU functions but the loss '
                       "has target_metric='BF1'"):
        AutoSegLoss(target_metric='BF1', params_file='miou.json')
    with pytest.raises(ValueError, match='unknown target_metric'):
        AutoSegLoss(target_metric='Dice', theta=[0.5] * 12)
    with pytest.raises(ValueError, match='exactly one of'):
        AutoSegLoss(target_metric='mIoU')
    with pytest.raises(ValueError, match=r'mAcc needs 1 function.*got 12'):
        AutoSegLoss(target_metric='mAcc', ctrl_points=[0.5] * 12)
    with pytest.raises(FileNotFoundError, match='missing.json does not'):
        AutoSegLoss(params_file='missing.json')


def test_boundary_ops_equal_pooling():
    import torch.nn.functional as F

    from projects.auto_seg_loss.boundary import dilate_mask, erode, \
        label_edges, row_window_max
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, 9, 11, generator=g, dtype=torch.float64)
    x1 = x.clone().requires_grad_()
    x2 = x.clone().requires_grad_()
    w = torch.rand(x.shape, generator=g, dtype=torch.float64)
    (erode(x1, chunk_elems=50) * w).sum().backward()
    ref = -F.max_pool2d(-F.pad(x2, (1, 1, 1, 1), value=1.0), 3, stride=1)
    (ref * w).sum().backward()
    assert torch.equal(erode(x), ref.detach())
    assert torch.allclose(x1.grad, x2.grad)  # one argmin per output
    b = torch.rand(2, 3, 9, 11, generator=g) > 0.9
    for tol in (1, 2, 5):
        pooled = F.max_pool2d(b.double(), 2 * tol + 1, 1, tol) > 0
        assert torch.equal(dilate_mask(b, tol), pooled)
        rows = F.max_pool2d(x - 1, (1, 2 * tol + 1), 1, (0, tol))
        assert torch.equal(row_window_max(x - 1, tol), rows)  # e may be < 0
    # the official edge detector: 3x3 average pool without padding counts
    lab = torch.randint(0, 3, (2, 9, 11), generator=g)
    lab[0, :2] = -1
    onehot = F.one_hot(lab.clamp(min=0), 3).permute(0, 3, 1, 2).double()
    onehot *= (lab >= 0)[:, None]
    avg = F.avg_pool2d(onehot, 3, 1, 1, count_include_pad=False)
    official = ((onehot != avg) & (onehot > 0)).any(1)
    assert torch.equal(label_edges(lab), official)
