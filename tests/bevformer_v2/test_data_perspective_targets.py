"""Perspective (mono) targets: taken from all annotated boxes (not the
BEV-range-filtered GT), and mirrored consistently under an image flip
(2D boxes and centres mirrored in the image, camera-frame boxes, yaw and
allocentric rotation mirrored, BEV targets unchanged)."""
import math

import numpy as np
import pytest
import torch
from mmengine.registry import init_default_scope

from projects.bevformer_v2.datasets import (CLASSES, CropResizeFlipImage,
                                            NuScenesBEVDataset, PackBEVInputs,
                                            PerspectiveAnnotations)
from projects.bevformer_v2.models.detector import (mirror_lidar_boxes,
                                                   mirror_mono_geometry)
from projects.bevformer_v2.models.geometry import ray_rotation
from projects.bevformer_v2.models.perspective_head import NuscenesDD3D
from projects.bevformer_v2.structures import LiDARBoxes3D
from projects.synthetic_data import generate_nuscenes

W, H = 160, 90


def _results():
    """One frame, one front camera (lidar +y forward, off-centre principal
    point), three cars ahead with different yaws."""
    cam2img = np.eye(4)
    cam2img[:3, :3] = [[120.0, 0, 70], [0, 110, 40], [0, 0, 1]]
    lidar2cam = np.eye(4)
    lidar2cam[:3, :3] = [[1, 0, 0], [0, 0, -1], [0, 1, 0]]
    lidar2cam[:3, 3] = [0.1, 0.3, -0.2]
    boxes = np.array([[-3.0, 14, -1, 4.5, 1.9, 1.6, 0.4, 2, 1],
                      [2.5, 20, -1, 4.0, 1.8, 1.5, -2.0, 0, 0],
                      [0.5, 9, -0.8, 1.0, 0.8, 1.7, 1.4, 0, 0.5]])
    labels = np.array([3, 3, 6])
    info = dict(bboxes_3d=boxes, labels_3d=labels, attr_labels=np.array([0, 1, 0]),
                speeds=np.array([2.2, 0, 0.5], np.float32), num_pts=np.array([10, 5, 4]))
    rng = np.random.default_rng(0)
    return dict(
        token='t', img=rng.integers(0, 255, (1, 1, H, W, 3), dtype=np.uint8),
        img_shape=(H, W), frame_offsets=np.array([0]), cam2img=cam2img[None, None],
        lidar2cam=lidar2cam[None, None], lidar2img=(cam2img @ lidar2cam)[None, None],
        gt_bboxes_3d=LiDARBoxes3D(boxes), gt_labels_3d=labels, ann_info=info)


def _run(flip):
    out = _results()
    for t in (CropResizeFlipImage(flip_prob=float(flip)), PerspectiveAnnotations(),
              PackBEVInputs()):
        out = t.transform(out)
    return out['data_samples']


def _camera_boxes(sample):
    """What the perspective head is given: (R, centre, size) in its camera
    frame, its cam2img, and the 2D targets."""
    mono = sample.gt_instances_mono
    k = torch.as_tensor(sample.cam2img[0], dtype=torch.float64)
    l2c = torch.as_tensor(sample.lidar2cam[0], dtype=torch.float64)
    k, l2c, mirrored = mirror_mono_geometry(k, l2c)
    boxes = mono.bboxes_3d.double()
    if mirrored[0]:
        boxes = mirror_lidar_boxes(boxes)
    n = len(boxes)
    rot, ctr, size = NuscenesDD3D.gt_camera_boxes(boxes, l2c.expand(n, 4, 4))
    return rot, ctr, size, k[0], l2c[0], bool(mirrored[0]), mono


def test_flipped_sample_gives_mirrored_perspective_targets():
    plain, flipped = _run(False), _run(True)
    assert flipped.cam2img[0, 0, 0, 0] < 0 < plain.cam2img[0, 0, 0, 0]
    # BEV targets unchanged (as the official, which flips image features back)
    torch.testing.assert_close(flipped.gt_instances_3d.bboxes_3d,
                               plain.gt_instances_3d.bboxes_3d)
    flip = np.array([[-1.0, 0, W, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]])
    assert np.allclose(flipped.lidar2img, flip @ plain.lidar2img)
    r0, c0, s0, k0, _, m0, mono0 = _camera_boxes(plain)
    r1, c1, s1, k1, l2c1, m1, mono1 = _camera_boxes(flipped)
    assert not m0 and m1 and len(mono0) == len(mono1) == 3
    # 2D boxes and projected centres mirrored in the image
    b0, b1 = mono0.bboxes.double(), mono1.bboxes.double()
    torch.testing.assert_close(b1, torch.stack([W - b0[:, 2], b0[:, 1], W - b0[:, 0],
                                                b0[:, 3]], 1), atol=1e-4, rtol=0)
    u0, u1 = mono0.centers_2d.double(), mono1.centers_2d.double()
    torch.testing.assert_close(u1, torch.stack([W - u0[:, 0], u0[:, 1]], 1),
                               atol=1e-4, rtol=0)
    torch.testing.assert_close(mono1.depths, mono0.depths)
    # the head sees a proper camera (fx > 0, rotation lidar2cam) ...
    assert k1[0, 0] > 0 and torch.det(l2c1[:3, :3]) > 0
    assert torch.allclose(torch.det(r1), torch.ones(3, dtype=r1.dtype))
    # ... and the mirrored boxes: centre x -> -x, heading mirrored
    mc = torch.diag(torch.tensor([-1.0, 1, 1], dtype=torch.float64))
    flip_w = torch.diag(torch.tensor([1.0, -1, 1], dtype=torch.float64))
    torch.testing.assert_close(c1, c0 @ mc)
    torch.testing.assert_close(r1, mc @ r0 @ flip_w)
    torch.testing.assert_close(s1, s0)
    proj = c1 @ k1[:3, :3].T
    torch.testing.assert_close(proj[:, :2] / proj[:, 2:], u1, atol=1e-4, rtol=0)
    # egocentric yaw about the camera y axis and observation angle alpha
    ry = lambda r: torch.atan2(-r[:, 2, 0], r[:, 0, 0])  # noqa: E731
    wrap = lambda a: torch.remainder(a + math.pi, 2 * math.pi) - math.pi  # noqa: E731
    alpha = lambda r, c: ry(r) - torch.atan2(c[:, 0], c[:, 2])  # noqa: E731
    torch.testing.assert_close(wrap(ry(r1)), wrap(math.pi - ry(r0)))
    torch.testing.assert_close(wrap(alpha(r1, c1)), wrap(math.pi - alpha(r0, c0)))
    # the allocentric rotation (the quaternion target) is mirrored too
    a0 = ray_rotation(u0, torch.linalg.inv(k0[:3, :3]).expand(3, 3, 3)).transpose(1, 2) @ r0
    a1 = ray_rotation(u1, torch.linalg.inv(k1[:3, :3]).expand(3, 3, 3)).transpose(1, 2) @ r1
    torch.testing.assert_close(a1, mc @ a0 @ flip_w)
    # a box decoded in the mirrored camera maps back to the lidar box
    cam2lidar = torch.linalg.inv(l2c1)
    ctr = c1 @ cam2lidar[:3, :3].T + cam2lidar[:3, 3]
    rl = cam2lidar[:3, :3] @ r1
    yaw = torch.atan2(rl[:, 1, 0], rl[:, 0, 0])
    back = torch.cat([ctr[:, :2], ctr[:, 2:] - s1[:, 2:] / 2, s1, yaw[:, None],
                      torch.zeros(3, 2, dtype=ctr.dtype)], 1)
    back = mirror_lidar_boxes(back)
    orig = mono0.bboxes_3d.double()
    torch.testing.assert_close(back[:, :6], orig[:, :6])
    torch.testing.assert_close(wrap(back[:, 6]), wrap(orig[:, 6]))


def test_mirror_mono_geometry_keeps_projection():
    """``Mc @ l2c @ Ml`` with ``K @ Mc`` projects the mirrored point where the
    folded flip projects the original one."""
    k = torch.tensor([[-100.0, 0, 90, 0], [0, 100, 40, 0], [0, 0, 1, 0], [0, 0, 0, 1]])
    l2c = torch.eye(4)
    l2c[:3, :3] = torch.tensor([[1.0, 0, 0], [0, 0, -1], [0, 1, 0]])
    k1, l2c1, mirrored = mirror_mono_geometry(k[None], l2c[None])
    assert mirrored.tolist() == [True]
    p = torch.tensor([[1.5, 12.0, 0.3, 1.0]])
    mp = p * torch.tensor([1.0, -1, 1, 1])
    torch.testing.assert_close(mp @ (k1[0] @ l2c1[0]).T, p @ (k @ l2c).T)
    k2, l2c2, m2 = mirror_mono_geometry(k1, l2c[None])
    assert m2.tolist() == [False] and torch.equal(k2, k1) and torch.equal(l2c2, l2c[None])


@pytest.fixture(scope='module')
def root(tmp_path_factory):
    return generate_nuscenes(tmp_path_factory.mktemp('nuscenes_mono'), 1, 1,
                             seed=3, samples_per_scene=2)


def test_perspective_targets_ignore_the_bev_range(root):
    """Objects beyond the BEV square stay perspective targets; the minimum
    of 3 lidar+radar points and the class filter still apply."""
    init_default_scope('mmdet')
    tail = [dict(type='CropResizeFlipImage', crop=(0, 26, 160, 90), heights=(48, )),
            dict(type='PerspectiveAnnotations', min_points=3),
            dict(type='PackBEVInputs')]
    small = [-6, -6, -5, 6, 6, 3]
    filtered = [dict(type='LoadMultiViewImages'),
                dict(type='ObjectRangeFilter', point_cloud_range=small),
                dict(type='ObjectNameFilter', classes=CLASSES)]
    full = NuScenesBEVDataset(ann_file='nuscenes_infos_train.json', data_root=str(root),
                              pipeline=[dict(type='LoadMultiViewImages')] + tail)
    cut = NuScenesBEVDataset(ann_file='nuscenes_infos_train.json', data_root=str(root),
                             pipeline=filtered + tail)
    outside = 0
    for idx in range(len(full)):
        a = full[idx]['data_samples']
        b = cut[idx]['data_samples']
        assert len(b.gt_instances_3d) < len(a.gt_instances_3d)
        for key in ('cam_ids', 'labels', 'bboxes', 'bboxes_3d', 'centers_2d', 'depths'):
            torch.testing.assert_close(getattr(b.gt_instances_mono, key),
                                       getattr(a.gt_instances_mono, key))
        xy = b.gt_instances_mono.bboxes_3d[:, :2]
        outside += int(((xy <= -6) | (xy >= 6)).any(1).sum())
        info = full.get_data_info(idx)
        rows = torch.as_tensor(info['gt_bboxes_3d'], dtype=torch.float32)
        keep = (info['gt_num_pts'] >= 3) & (info['gt_labels_3d'] >= 0)
        # every mono target is an annotated box with >= 3 points of a class
        d = torch.cdist(b.gt_instances_mono.bboxes_3d[:, :3], rows[:, :3])
        assert d.min(1).values.max() < 1e-4
        assert torch.from_numpy(keep)[d.argmin(1)].all()
    assert outside > 0
