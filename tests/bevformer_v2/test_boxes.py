"""LiDARBoxes3D: the project box convention against nuscenes-devkit's Box,
the BEV head's box code, and BEV augmentation against its ``bda_mat``."""
import math

import numpy as np
import pytest
import torch
from pyquaternion import Quaternion

from projects.bevformer_v2.datasets import GlobalRotScaleTrans
from projects.bevformer_v2.structures import (LiDARBoxes3D, denormalize_bbox,
                                              normalize_bbox)


def random_boxes(n=7, seed=0):
    rng = np.random.default_rng(seed)
    t = np.concatenate([
        rng.uniform(-40, 40, (n, 2)), rng.uniform(-2, 1, (n, 1)),
        rng.uniform(0.3, 12, (n, 3)), rng.uniform(-math.pi, math.pi, (n, 1)),
        rng.uniform(-8, 8, (n, 2))], 1)
    return LiDARBoxes3D(torch.tensor(t, dtype=torch.float64))


def random_pose(rng):
    """A 4x4 rigid transform with a little roll/pitch, as in nuScenes."""
    q = (Quaternion(axis=[0, 0, 1], angle=rng.uniform(-math.pi, math.pi))
         * Quaternion(axis=[1, 0, 0], angle=rng.uniform(-0.02, 0.02)))
    mat = np.eye(4)
    mat[:3, :3] = q.rotation_matrix
    mat[:3, 3] = rng.uniform(-500, 500, 3)
    return mat


def same_points(a, b, atol=1e-6):
    """Every point of ``a`` has a match in ``b`` and vice versa (sets)."""
    d = np.linalg.norm(np.asarray(a)[:, None] - np.asarray(b)[None], axis=-1)
    return d.min(1).max() < atol and d.min(0).max() < atol


def test_corners_closed_form_and_devkit_box():
    boxes = LiDARBoxes3D(torch.tensor(
        [[1.0, 2.0, -1.0, 4.0, 2.0, 1.5, 0.0, 0.0, 0.0],
         [0.0, 0.0, 0.0, 4.0, 2.0, 1.0, math.pi / 2, 0.0, 0.0]],
        dtype=torch.float64))
    c = boxes.corners.numpy()
    # yaw 0: l along x, w along y, bottom at z, top at z + h
    assert np.allclose(c[0, :, 0], [3, -1, -1, 3, 3, -1, -1, 3])
    assert np.allclose(c[0, :, 1], [3, 3, 1, 1, 3, 3, 1, 1])
    assert np.allclose(c[0, :, 2], [-1] * 4 + [0.5] * 4)
    # yaw 90 deg: l along y
    assert np.allclose(np.ptp(c[1, :, 0]), 2) and np.allclose(np.ptp(c[1, :, 1]), 4)
    assert np.allclose(boxes.gravity_center[0].numpy(), [1, 2, -0.25])
    # the devkit Box (gravity centre, wlh, yaw quaternion) has the same corners
    for box, corners in zip(random_boxes().to_nusc_boxes(),
                            random_boxes().corners.numpy()):
        assert same_points(box.corners().T, corners, 1e-5)


@pytest.mark.parametrize('frame', ['lidar', 'ego', 'global'])
def test_round_trip_devkit_box_and_code(frame):
    rng = np.random.default_rng(1)
    boxes = random_boxes()
    l2e = random_pose(rng) if frame != 'lidar' else None
    e2g = random_pose(rng) if frame == 'global' else None
    nusc = boxes.to_nusc_boxes(lidar2ego=l2e, ego2global=e2g)
    # the devkit box carries the same centre/extent/velocity in that frame
    to_frame = np.eye(4)
    for mat in (l2e, e2g):
        if mat is not None:
            to_frame = mat @ to_frame
    for i, box in enumerate(nusc):
        g = boxes.gravity_center[i].numpy()
        assert np.allclose(box.center, to_frame[:3, :3] @ g + to_frame[:3, 3])
        assert np.allclose(box.wlh, boxes.tensor[i, [4, 3, 5]].numpy())
        v = np.r_[boxes.velocity[i].numpy(), 0]
        assert np.allclose(box.velocity, to_frame[:3, :3] @ v)
    back = LiDARBoxes3D.from_nusc_boxes(
        nusc, global2ego=None if e2g is None else np.linalg.inv(e2g),
        ego2lidar=None if l2e is None else np.linalg.inv(l2e))
    diff = back.tensor.double() - boxes.tensor
    diff[:, 6] = torch.remainder(diff[:, 6] + math.pi, 2 * math.pi) - math.pi
    assert diff.abs().max() < 1e-3  # float32 output, coordinates up to 500 m
    # box code: (cx, cy, log l, log w, cz, log h, sin, cos, vx, vy)
    code = normalize_bbox(boxes.tensor)
    assert torch.allclose(code[:, 4], boxes.gravity_center[:, 2])
    assert torch.allclose(code[:, 2], boxes.tensor[:, 3].log())
    assert torch.allclose(code[:, 6], boxes.yaw.sin())
    assert torch.allclose(denormalize_bbox(code), boxes.tensor)
    assert torch.allclose(denormalize_bbox(code[:, :8]), boxes.tensor[:, :7])


OPS = {
    'rotate': lambda b: b.rotate(0.7),
    'rotate_neg': lambda b: b.rotate(-2.9),
    'flip_horizontal': lambda b: b.flip('horizontal'),
    'flip_vertical': lambda b: b.flip('vertical'),
    'scale': lambda b: b.scale(1.07),
    'translate': lambda b: b.translate([1.0, -2.0, 0.5]),
    'bda_all': lambda b: _transform(b, GlobalRotScaleTrans.bda_matrix(
        0.35, 0.96, (0.2, 0.1, 0.0), True, True)),
}


def _transform(boxes, mat):
    boxes.transform(mat)
    return mat


@pytest.mark.parametrize('op', sorted(OPS))
def test_bev_augmentation_matches_bda_mat(op):
    boxes = random_boxes()
    aug = boxes.clone()
    mat = OPS[op](aug)
    apply = lambda p: p @ mat[:3, :3].T + mat[:3, 3]  # noqa: E731
    for i in range(len(boxes)):
        # the augmented box is the image of the box under bda_mat (as a set) ...
        assert same_points(apply(boxes.corners[i].numpy()),
                           aug.corners[i].numpy(), 1e-6)
        # ... with the heading following the front face, not just the footprint
        front = boxes.bottom_center[i].numpy() + 0.5 * boxes.dims[i, 0].item() * \
            np.r_[math.cos(boxes.yaw[i]), math.sin(boxes.yaw[i]), 0]
        front_aug = aug.bottom_center[i].numpy() + 0.5 * aug.dims[i, 0].item() * \
            np.r_[math.cos(aug.yaw[i]), math.sin(aug.yaw[i]), 0]
        assert np.allclose(apply(front[None])[0], front_aug, atol=1e-6)
    assert np.allclose(aug.velocity.numpy(), boxes.velocity.numpy() @ mat[:2, :2].T)
    assert (aug.yaw >= -math.pi).all() and (aug.yaw < math.pi).all()
    if op.startswith('flip'):
        assert np.allclose(mat @ mat, np.eye(4))  # involution
        expected = -boxes.yaw if op == 'flip_horizontal' else math.pi - boxes.yaw
        d = torch.remainder(aug.yaw - expected + math.pi, 2 * math.pi) - math.pi
        assert d.abs().max() < 1e-9


def test_gt_transform_of_pipeline_uses_the_same_matrix():
    np.random.seed(3)
    boxes = random_boxes()
    results = dict(gt_bboxes_3d=boxes.clone())
    results = GlobalRotScaleTrans(flip_x_prob=0.5, flip_y_prob=0.5).transform(
        results)
    expected = boxes.clone().transform(results['bda_mat'])
    assert torch.allclose(results['gt_bboxes_3d'].tensor, expected.tensor)


def test_range_yaw_indexing_and_bad_input():
    boxes = LiDARBoxes3D([[0, 0, 0, 1, 1, 1, 3.5, 0, 0],
                          [51.2, 0, 0, 1, 1, 1, -3.2, 0, 0],
                          [10, -51.1, 0, 1, 1, 1, math.pi, 0, 0]])
    assert boxes.in_range_bev([-51.2, -51.2, 51.2, 51.2]).tolist() == [
        True, False, True]  # strict bounds
    boxes.limit_yaw()
    assert np.allclose(boxes.yaw.numpy(), [3.5 - 2 * math.pi,
                                           -3.2 + 2 * math.pi, -math.pi],
                       atol=1e-6)
    sub = boxes[torch.tensor([True, False, True])]
    assert isinstance(sub, LiDARBoxes3D) and len(sub) == 2
    assert len(boxes[1]) == 1 and len(LiDARBoxes3D(np.zeros((0, 9)))) == 0
    with pytest.raises(ValueError, match='similarity'):
        boxes.transform(np.array([[1, 0.5, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0],
                                  [0, 0, 0, 1.0]]))
    with pytest.raises(ValueError, match=r'\(N, 9\)'):
        LiDARBoxes3D(torch.zeros(3, 5))
    with pytest.raises(ValueError, match='horizontal'):
        boxes.flip('diagonal')
