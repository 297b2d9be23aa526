"""BEVFormer v2 detector: scene-start history slots carry no gradient, and
each sample of a batch is masked by its own image shape (multi-scale)."""
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.structures import InstanceData

from mmdet.registry import MODELS
from mmdet.structures import DetDataSample
from mmdet.utils import register_all_modules
from projects.bevformer_v2.models import encoder as encoder_module
from projects.run_config import load_config

ROOT = Path(__file__).resolve().parents[2]
TINY = 'configs/bevformer_v2/bevformer-v2_r18_tiny_1xb2-600it_synthetic-nuscenes.py'


def _model():
    register_all_modules()
    cfg = load_config(str(ROOT / TINY)).model
    torch.manual_seed(0)
    return MODELS.build(cfg)


def _sample(h, w, valid=(True, True), seed=0):
    """Two frames, front (+y) and back (-y) cameras, one car ahead."""
    k = np.array([[60., 0, w / 2, 0], [0, 60., h / 2, 0], [0, 0, 1, 0], [0, 0, 0, 1]])
    l2c = []
    for yaw in (0.0, math.pi):
        c, s = math.cos(yaw), math.sin(yaw)
        m = np.eye(4)
        m[:3, :3] = np.array([[1., 0, 0], [0, 0, -1], [0, 1, 0]]) @ np.array(
            [[c, s, 0], [-s, c, 0], [0, 0, 1]])
        l2c.append(m)
    l2c, cam2img = np.stack(l2c), np.stack([k, k])
    ds = DetDataSample(metainfo=dict(
        lidar2img=np.stack([cam2img @ l2c] * 2), cam2img=np.stack([cam2img] * 2),
        lidar2cam=np.stack([l2c] * 2), img_shape=(h, w), frame_valid=np.array(valid),
        bda_mat=np.eye(4)))
    boxes = torch.tensor([[1.0, 10.0, -1.0, 4.0, 2.0, 1.6, 0.3, 1.0, 0.0]])
    ds.gt_instances_3d = InstanceData(bboxes_3d=boxes, labels_3d=torch.tensor([3]))
    ds.gt_instances_mono = InstanceData(
        cam_ids=torch.tensor([0]), bboxes=torch.tensor([[w * .4, h * .3, w * .6, h * .6]]),
        labels=torch.tensor([3]), bboxes_3d=boxes,
        centers_2d=torch.tensor([[w * .5, h * .45]]), depths=torch.tensor([10.]),
        attr_labels=torch.tensor([0]), speeds=torch.tensor([1.0]))
    gen = torch.Generator().manual_seed(seed)
    imgs = torch.randint(0, 255, (2, 2, 3, h, w), dtype=torch.uint8, generator=gen)
    return imgs, ds


def _batch(*samples):
    return dict(inputs=dict(imgs=[s[0] for s in samples]),
                data_samples=[s[1] for s in samples])


def test_scene_start_history_copy_has_no_grad():
    model = _model().train()
    fused = []
    orig = model.pts_bbox_head.transformer.fuse

    def fuse(bevs, *a):
        fused.append(list(bevs))
        return orig(bevs, *a)

    model.pts_bbox_head.transformer.fuse = fuse
    data = model.data_preprocessor(_batch(_sample(64, 160, valid=(False, True))), True)
    losses = model(**data, mode='loss')
    (history, current), = fused
    # the slot copies the current BEV's values but not its graph
    torch.testing.assert_close(history, current.detach())
    assert current.requires_grad and not history.requires_grad
    assert history.grad_fn is None
    sum(losses.values()).backward()


def test_each_sample_masked_by_its_own_image_shape(monkeypatch):
    """A 32x96 and a 64x160 sample in one batch (padded to 64x160): each
    sample's projections are masked by its own image, so the outputs of a
    sample do not depend on the order of the batch."""
    model = _model().eval()
    masks = []
    orig = encoder_module.point_sampling

    def point_sampling(*args, **kwargs):
        ref_cam, mask = orig(*args, **kwargs)
        masks.append((ref_cam, mask))
        return ref_cam, mask

    monkeypatch.setattr(encoder_module, 'point_sampling', point_sampling)
    big, small = _sample(64, 160, seed=1), _sample(32, 96, seed=2)
    with torch.no_grad():
        cls_a, reg_a = model(**model.data_preprocessor(_batch(small, big), False),
                             mode='tensor')
        ref_cam, mask = masks[-1]  # current frame of (small, big)
        cls_b, reg_b = model(**model.data_preprocessor(_batch(big, small), False),
                             mode='tensor')
    pix = ref_cam * ref_cam.new_tensor([160, 64])  # padded batch is 64x160
    for b, (h, w) in enumerate([(32, 96), (64, 160)]):
        u, v = pix[b, ..., 0][mask[b]], pix[b, ..., 1][mask[b]]
        assert u.max() < w and v.max() < h
    # the big sample sees points beyond the small image
    assert (pix[1, ..., 0][mask[1]] >= 96).any()
    torch.testing.assert_close(cls_a[:, 0], cls_b[:, 1], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(cls_a[:, 1], cls_b[:, 0], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(reg_a[:, 1], reg_b[:, 0], atol=1e-4, rtol=1e-5)


def test_flipped_sample_reaches_the_perspective_head_mirrored(monkeypatch):
    """Batch (plain, flipped): the flipped sample's images get a positive-fx
    camera, a rotation lidar2cam and y-mirrored 3D targets; its perspective
    detections are mirrored back before they become proposals."""
    from projects.bevformer_v2.models import detector as detector_module
    model = _model().train()
    head = model.fcos3d_bbox_head
    plain = _sample(64, 160)
    flipped = _sample(64, 160, seed=3)
    meta = flipped[1].metainfo
    flip = np.array([[-1.0, 0, 160, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]])
    flipped[1].set_metainfo(dict(cam2img=flip @ meta['cam2img'],
                                 lidar2img=flip @ meta['lidar2img']))
    seen, dets_seen = {}, []
    orig_loss = head.loss

    def loss(out, gts, cam2img, lidar2cam):
        seen.update(gts=gts, cam2img=cam2img, lidar2cam=lidar2cam)
        return orig_loss(out, gts, cam2img, lidar2cam)

    box = torch.tensor([[1.0, 10.0, -1.0, 4.0, 2.0, 1.6, 0.3, 1.0, 0.5]])

    def predict(out, cam2img, lidar2cam):
        return [InstanceData(bboxes_3d=box.clone(), scores_3d=torch.tensor([0.9]))
                for _ in range(cam2img.shape[0])]

    orig_encode = detector_module.encode_proposals

    def encode(dets, *a, **k):
        dets_seen.extend(dets)
        return orig_encode(dets, *a, **k)

    monkeypatch.setattr(head, 'loss', loss)
    monkeypatch.setattr(head, 'predict', predict)
    monkeypatch.setattr(detector_module, 'encode_proposals', encode)
    model(**model.data_preprocessor(_batch(plain, flipped), True), mode='loss')
    k, l2c, gts = seen['cam2img'], seen['lidar2cam'], seen['gts']
    assert (k[:, 0, 0] > 0).all() and (torch.det(l2c[:, :3, :3]) > 0).all()
    # images 0, 1: plain sample; 2, 3: flipped sample (camera 0 has the car)
    torch.testing.assert_close(gts[0].bboxes_3d, plain[1].gt_instances_mono.bboxes_3d)
    mirrored = flipped[1].gt_instances_mono.bboxes_3d * torch.tensor(
        [1.0, -1, 1, 1, 1, 1, -1, 1, -1])
    torch.testing.assert_close(gts[2].bboxes_3d, mirrored)
    # the head's camera sees the mirrored box where the flipped image shows it
    c = mirrored[0, :3] + torch.tensor([0, 0, 0.8])  # gravity centre
    p = k[2, :3, :3] @ (l2c[2, :3, :3] @ c + l2c[2, :3, 3])
    q = flipped[1].lidar2img[1, 0] @ np.r_[box[0, :2].numpy(), -0.2, 1.0]
    torch.testing.assert_close(p[:2] / p[2], torch.tensor(q[:2] / q[2]).float(),
                               atol=1e-3, rtol=0)
    assert [d[0].bboxes_3d[0, 1].item() for d in dets_seen] == [10.0, -10.0]
    assert dets_seen[1][0].bboxes_3d[0, 6].item() == pytest.approx(-0.3)
