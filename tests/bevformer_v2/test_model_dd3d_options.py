"""Perspective-head details matched to the official DD3D, and the options
that keep our deliberate differences: feature locations, the +1-smoothed
GIoU, (1,)-shaped scales, the 3D corner loss below beta."""
import pytest
import torch

from mmdet.structures.bbox import bbox_overlaps
from projects.bevformer_v2.models import NuscenesDD3D
from projects.bevformer_v2.models.perspective_head import giou_loss_ltrb


def test_feature_locations():
    shapes = [(2, 3), (1, 2)]
    none = NuscenesDD3D(in_channels=8, strides=(8, 16), num_convs=1)
    half = NuscenesDD3D(in_channels=8, strides=(8, 16), num_convs=1,
                        feature_locations_offset='half')
    locs, lvls = none.locations(shapes, 'cpu')
    assert locs[:6].tolist() == [[0, 0], [8, 0], [16, 0], [0, 8], [8, 8], [16, 8]]
    assert locs[6:].tolist() == [[0, 0], [16, 0]] and lvls.tolist() == [0] * 6 + [1] * 2
    shift = torch.tensor([4.] * 6 + [8.] * 2)[:, None]
    assert torch.equal(half.locations(shapes, 'cpu')[0], locs + shift)
    with pytest.raises(ValueError, match='feature_locations_offset'):
        NuscenesDD3D(in_channels=8, strides=(8, ), num_convs=1, feature_locations_offset='x')


def test_scales_and_offsets_are_1d_parameters():
    head = NuscenesDD3D(in_channels=8, strides=(8, 16), num_convs=1)
    sd = head.state_dict()
    for key in ('fcos2d_head.scales_box2d_reg.1.scale', 'fcos3d_head.scales_depth.0.scale',
                'fcos3d_head.offsets_depth.1.bias'):
        assert sd[key].shape == (1, ), key
    assert float(sd['fcos2d_head.scales_box2d_reg.1.scale']) == 16.0
    assert float(sd['fcos3d_head.offsets_depth.1.bias']) == pytest.approx(20.252)


def test_giou_loss_ltrb():
    torch.manual_seed(0)
    t = torch.rand(50, 4, dtype=torch.float64) * 60 + 1
    p = torch.rand(50, 4, dtype=torch.float64) * 60 + 1
    assert torch.allclose(giou_loss_ltrb(t, t), torch.zeros(50, dtype=torch.float64))
    # with a location at the origin: boxes (-l, -t, r, b); the +1 smoothing of
    # the IoU is the only difference to the plain GIoU loss
    to_box = lambda d: torch.cat([-d[:, :2], d[:, 2:]], -1)  # noqa: E731
    giou = bbox_overlaps(to_box(p), to_box(t), mode='giou', is_aligned=True)
    area_p = (p[:, 0] + p[:, 2]) * (p[:, 1] + p[:, 3])
    area_t = (t[:, 0] + t[:, 2]) * (t[:, 1] + t[:, 3])
    inter = ((torch.minimum(p[:, 0], t[:, 0]) + torch.minimum(p[:, 2], t[:, 2]))
             * (torch.minimum(p[:, 1], t[:, 1]) + torch.minimum(p[:, 3], t[:, 3])))
    union = area_p + area_t - inter
    smoothing = (inter + 1) / (union + 1) - inter / union
    torch.testing.assert_close(giou_loss_ltrb(p, t), 1 - giou - smoothing, rtol=1e-6, atol=1e-6)


def test_corner_loss_below_beta():
    ours = NuscenesDD3D(in_channels=8, strides=(8, ), num_convs=1)
    official = NuscenesDD3D(in_channels=8, strides=(8, ), num_convs=1,
                            box3d_smooth_l1_over_beta=False)
    beta = ours.beta
    target = torch.zeros(6)
    pred = torch.tensor([0.01, 0.03, 0.049, 0.051, 0.2, -3.0])
    a, b = ours._corner_loss(pred, target), official._corner_loss(pred, target)
    above = pred.abs() >= beta
    assert torch.equal(a[above], b[above])
    torch.testing.assert_close(b[~above], a[~above] * beta)
    # ours is continuous at beta, the official jumps by 0.5 beta - 0.5 beta^2
    eps = torch.tensor([beta - 1e-6, beta + 1e-6])
    assert float(ours._corner_loss(eps, torch.zeros(2)).diff().abs()) < 1e-5
    assert float(official._corner_loss(eps, torch.zeros(2)).diff()) == pytest.approx(
        0.5 * beta - 0.5 * beta**2, rel=1e-3)
