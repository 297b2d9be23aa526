"""PAP functions: released golden values, the theta map, the gradient scale."""
import math

import pytest
import torch

from projects.pap_loss import (PAPLoss, PiecewisePoly, grad_scale,
                               grad_scale_from_theta, theta_to_points)
from projects.pap_loss.released_params import (FASTER_RCNN_RCNN,
                                               FASTER_RCNN_RPN, RETINANET)


def test_released_retinanet_golden_values():
    loss = PAPLoss(ctrl_points=RETINANET['ctrl_points'])
    x = torch.tensor([0, .1, .25, .5, .75, .9, 1], dtype=torch.float64)
    expected = [0, .007, .017, .220, .483, .833, 1]
    torch.testing.assert_close(loss.functions.H2(x),
                               torch.tensor(expected, dtype=torch.float64),
                               atol=1e-3, rtol=0)
    assert float(loss.functions.H1(torch.tensor(0.5))) == pytest.approx(
        0.581, abs=1e-3)
    rpn = PAPLoss(ctrl_points=FASTER_RCNN_RPN['ctrl_points']).functions
    rcnn = PAPLoss(ctrl_points=FASTER_RCNN_RCNN['ctrl_points']).functions
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
    theta = (math.log10(RETINANET['reg_weight']) + 1) / 2
    assert theta == pytest.approx(0.8076, abs=1e-4)
    assert grad_scale_from_theta(theta) == pytest.approx(4.1231)
    assert grad_scale_from_theta(0) == pytest.approx(0.1)
    assert grad_scale_from_theta(1) == pytest.approx(10)
    x = torch.ones(3, requires_grad=True)
    y = grad_scale(x, 4.1231)
    (y * torch.tensor([1., 2., 3.])).sum().backward()
    torch.testing.assert_close(y, torch.ones(3))
    torch.testing.assert_close(x.grad, 4.1231 * torch.tensor([1., 2., 3.]))
