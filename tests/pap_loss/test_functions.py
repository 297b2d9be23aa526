"""PAP functions: released golden values, the theta map, the gradient scale."""
import json
import math

import pytest
import torch

from projects.pap_loss import (PAPLoss, PiecewisePoly, grad_scale,
                               grad_scale_from_theta, theta_to_points)
from projects.pap_loss.params import load_params

PARAMS = 'projects/pap_loss/params/{}.json'
RETINANET, DOC = load_params(PARAMS.format('retinanet'))


def test_released_retinanet_golden_values():
    loss = PAPLoss(params_file=PARAMS.format('retinanet'))
    x = torch.tensor([0, .1, .25, .5, .75, .9, 1], dtype=torch.float64)
    expected = [0, .007, .017, .220, .483, .833, 1]
    torch.testing.assert_close(loss.functions.H2(x),
                               torch.tensor(expected, dtype=torch.float64),
                               atol=1e-3, rtol=0)
    assert float(loss.functions.H1(torch.tensor(0.5))) == pytest.approx(
        0.581, abs=1e-3)
    rpn = PAPLoss(params_file=PARAMS.format('faster_rcnn_rpn')).functions
    rcnn = PAPLoss(params_file=PARAMS.format('faster_rcnn_rcnn')).functions
    assert float(rpn.H1(torch.tensor(0.5))) == pytest.approx(0.464, abs=1e-3)
    assert float(rcnn.H1(torch.tensor(0.5))) == pytest.approx(0.401, abs=1e-3)


def test_piecewise_linear_interpolates_its_points():
    fn = PiecewisePoly.from_points([0.2, 0.1, 0.5, 0.5, 0.5, 0.9, 0.8, 0.95])
    x = torch.tensor([0., 0.1, 0.2, 0.35, 0.5, 0.65, 0.8, 0.9, 1.0, 1.5, -1])
    # (0.5, 0.5)-(0.5, 0.9) is a vertical jump: right-continuous at 0.5
    expected = [0, .05, .1, .3, .9, .925, .95, .975, 1, 1, 0]
    torch.testing.assert_close(fn(x), torch.tensor(expected))
    with pytest.raises(ValueError, match='non-decreasing'):
        PiecewisePoly.from_points([0.5, 0.5, 0.4, 0.6])


def test_theta_map_identity_init_and_monotone():
    init = [0.2, 0.2, 0.25, 0.25, 1 / 3, 1 / 3, 0.5, 0.5]
    torch.testing.assert_close(
        theta_to_points(init),
        torch.tensor([[.2, .2], [.4, .4], [.6, .6], [.8, .8]],
                     dtype=torch.float64))
    gen = torch.Generator().manual_seed(0)
    pts = theta_to_points(torch.rand(8, generator=gen))
    assert (pts.diff(dim=0) >= 0).all() and (pts <= 1).all()
    with pytest.raises(ValueError, match=r'\[0, 1\]'):
        theta_to_points([1.5] * 8)


def test_gradient_scale():
    assert grad_scale_from_theta(0.5) == pytest.approx(1.0)
    # released RetinaNet scale 4.1231 <-> theta 0.8076; range [0.1, 10]
    theta = (math.log10(DOC['reg_weight']) + 1) / 2
    assert theta == pytest.approx(0.8076, abs=1e-4)
    assert grad_scale_from_theta(theta) == pytest.approx(4.1231)
    assert grad_scale_from_theta(0) == pytest.approx(0.1)
    assert grad_scale_from_theta(1) == pytest.approx(10)
    x = torch.ones(3, requires_grad=True)
    y = grad_scale(x, 4.1231)
    (y * torch.tensor([1., 2., 3.])).sum().backward()
    torch.testing.assert_close(y, torch.ones(3))
    torch.testing.assert_close(x.grad, 4.1231 * torch.tensor([1., 2., 3.]))


def test_parameter_files_theta_matches_ctrl_points():
    for name in ('retinanet', 'faster_rcnn_rpn', 'faster_rcnn_rcnn'):
        _, doc = load_params(PARAMS.format(name))
        assert grad_scale_from_theta(doc['reg_weight_theta']) == \
            pytest.approx(doc['reg_weight'], rel=1e-5)
        for fn in doc['functions'].values():
            torch.testing.assert_close(
                theta_to_points(fn['theta']).reshape(-1),
                torch.tensor(fn['ctrl_points'], dtype=torch.float64),
                atol=1e-5, rtol=0)


@pytest.mark.parametrize('change,message', [
    (lambda d: d['functions']['I2'].update(ctrl_points=[0.5] * 7),
     'function I2 ctrl_points: expected 8 numbers'),
    (lambda d: d['functions']['H1'].update(theta=[1.2] + [0.5] * 7),
     r'function H1 theta: values must lie in \[0, 1\]'),
    (lambda d: d['functions']['I3'].update(
        ctrl_points=[0.5, 0.5, 0.4, 0.6, 0.7, 0.7, 0.8, 0.8]),
     'function I3 ctrl_points: control points must be non-decreasing'),
    (lambda d: d['functions'].pop('H2'), 'function H2 needs ctrl_points'),
])
def test_bad_parameter_files_name_file_and_row(tmp_path, change, message):
    _, doc = load_params(PARAMS.format('retinanet'))
    doc = json.loads(json.dumps(doc))
    change(doc)
    path = tmp_path / 'bad.json'
    path.write_text(json.dumps(doc))
    with pytest.raises(ValueError, match=f'{path}: {message}'):
        PAPLoss(params_file=str(path))
