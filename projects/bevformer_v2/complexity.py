"""Parameters and inference FLOPs of a BEVFormer v2 config (meta device).

What is counted: one test-time forward of one sample, i.e. for every frame
in ``frames`` the image backbone + FPN on all cameras and the BEV encoder
(history frames too, as at test time), then the temporal fusion, the
decoder with its cls/reg branches and, with hybrid queries, the perspective
head's convolutions. Convs and linears/matmuls are torch's
``FlopCounterMode`` (multiply-accumulates = FLOPs / 2, the OpenMMLab
"FLOPs" convention); each deformable-attention sampling adds
``5 * queries * heads * levels * points * head_dims`` (bilinear sampling and
weighting, as the official InternImage ``get_flops.py`` counts DCNv3) and
each DCNv3 core ``5 * H * W * P * C``. Norms, activations, softmax, the box
decoding and the proposals' NMS are not counted.

The BEV queries that spatial cross-attention gathers per camera are
data-dependent; they are taken from the projection of the BEV pillars into
the nuScenes camera rig of the synthetic generator (the real intrinsics and
mounting to about a degree) at the test crop (rows 260..900 of 1600x900),
with the same geometry for every frame (a static ego).

Run: ``python -m projects.bevformer_v2.complexity CONFIG [CONFIG ...]``.
"""
import argparse
import contextlib
import math
from unittest import mock

import numpy as np
import torch
from mmengine.registry import DefaultScope
from torch.utils.flop_counter import FlopCounterMode

from mmdet.registry import MODELS
from mmdet.structures import DetDataSample
from .models import attention as attention_module
from .models.attention import SpatialCrossAttention
from .models.encoder import bev_grid_3d, point_sampling

FULL_SIZE = (900, 1600)


def rig_geometry(num_cams=6, crop_top=260, img_shape=(640, 1600),
                 full_size=FULL_SIZE):
    """``lidar2img``, ``cam2img``, ``lidar2cam`` (num_cams, 4, 4) of the
    synthetic nuScenes rig for ``full_size`` images, cropped from row
    ``crop_top`` (no resize: ``img_shape`` must be the crop's size)."""
    from projects.synthetic_data.nuscenes import (LIDAR, camera_geometry,
                                                  pose_matrix, rot_z)
    if img_shape[1] != full_size[1] or crop_top + img_shape[0] > full_size[0]:
        raise ValueError(f'img_shape {img_shape} is not a crop of {full_size} '
                         f'from row {crop_top}')
    lidar2ego = pose_matrix(rot_z(-math.pi / 2), LIDAR[1])
    cams = camera_geometry(full_size)
    if not 1 <= num_cams <= len(cams):
        raise ValueError(f'num_cams must be in 1..{len(cams)}, got {num_cams}')
    l2i, c2i, l2c = [], [], []
    for _, cam2ego, k, _ in cams[:num_cams]:
        k4 = np.eye(4)
        k4[:3, :3] = k
        k4[1, 2] -= crop_top
        lidar2cam = np.linalg.inv(cam2ego) @ lidar2ego
        l2i.append(k4 @ lidar2cam)
        c2i.append(k4)
        l2c.append(lidar2cam)
    return np.stack(l2i), np.stack(c2i), np.stack(l2c)


def sca_rebatch_length(head, lidar2img, img_shape):
    """Largest number of BEV queries one camera sees (what SCA gathers)."""
    enc = head.transformer.encoder
    ref = bev_grid_3d(head.bev_h, head.bev_w, enc.num_points_in_pillar, 1, 'cpu',
                      z_size=enc.pc_range[5] - enc.pc_range[2])
    _, mask = point_sampling(ref, enc.pc_range,
                             torch.as_tensor(lidar2img, dtype=torch.float32)[None],
                             img_shape, img_shape)
    return int(mask.any(-1).sum(-1).max())


@contextlib.contextmanager
def _count_sampling(record):
    """Deformable-attention sampling: record its MACs, return zeros."""
    def msda(value, spatial_shapes, level_start_index, loc, weights, *args):
        bs, _, heads, dims = value.shape
        nq, levels, points = loc.shape[1], loc.shape[3], loc.shape[4]
        record.append(5 * bs * nq * heads * levels * points * dims)
        return value.new_zeros(bs, nq, heads * dims)
    with mock.patch.object(attention_module, 'ms_deform_attn', msda):
        yield


def bevformer_v2_complexity(model_cfg, img_shape=(640, 1600), crop_top=260,
                            full_size=FULL_SIZE):
    """Params and inference MACs of a BEVFormer v2 ``model`` config.

    Returns a dict: ``params`` and, in multiply-accumulates, ``total`` and
    its parts ``img_backbone``, ``img_neck``, ``fcos3d_bbox_head`` (hybrid
    queries only), ``pts_bbox_head`` (BEV encoder, fusion, decoder,
    branches; its deformable sampling included) and the sampling terms
    ``msda_sampling`` and ``dcnv3_sampling`` (already inside the parts);
    ``sca_queries_per_camera``. The BEV part is the total minus the image
    parts (the encoder also runs outside the head's forward, for history).
    """
    with DefaultScope.overwrite_default_scope('mmdet'):
        with torch.device('meta'):
            model = MODELS.build(model_cfg)
    model.eval().requires_grad_(False)  # no autograd hooks in the counter
    head = model.pts_bbox_head
    num_cams, frames = head.transformer.num_cams, model.frames
    lidar2img, cam2img, lidar2cam = rig_geometry(num_cams, crop_top, img_shape,
                                                 full_size)
    max_len = sca_rebatch_length(head, lidar2img, img_shape)
    t = len(frames)
    sample = DetDataSample(metainfo=dict(
        lidar2img=np.stack([lidar2img] * t), cam2img=np.stack([cam2img] * t),
        lidar2cam=np.stack([lidar2cam] * t), img_shape=img_shape,
        pad_shape=img_shape, batch_input_shape=img_shape,
        frame_valid=np.ones(t, bool)))
    imgs = torch.empty(1, t, num_cams, 3, *img_shape, device='meta')
    msda, dcn = [], []
    counter = FlopCounterMode(display=False)
    stack = contextlib.ExitStack()
    if any(type(m).__name__ == 'InternImage' for m in model.modules()):
        from projects.internimage import count_dcnv3_cores
        stack.enter_context(count_dcnv3_cores(dcn))
    with stack, _count_sampling(msda), mock.patch.object(
            SpatialCrossAttention, 'rebatch_length',
            staticmethod(lambda counts: max_len)), mock.patch.object(
                model, '_proposals', lambda *args: None), counter:
        model._run(dict(imgs=imgs), [sample], with_mono_loss=False)
    counts = counter.get_flop_counts()  # keyed by the called modules' class

    def macs(attr):
        module = getattr(model, attr)
        if module is None:
            return 0
        return sum(counts.get(type(module).__name__, {}).values()) // 2

    out = dict(params=sum(p.numel() for p in model.parameters()),
               img_backbone=macs('img_backbone') + sum(dcn),
               img_neck=macs('img_neck'),
               fcos3d_bbox_head=macs('fcos3d_bbox_head'),
               msda_sampling=sum(msda), dcnv3_sampling=sum(dcn),
               sca_queries_per_camera=max_len)
    out['total'] = sum(counts['Global'].values()) // 2 + sum(msda) + sum(dcn)
    out['pts_bbox_head'] = out['total'] - sum(
        out[k] for k in ('img_backbone', 'img_neck', 'fcos3d_bbox_head'))
    return out


def main(argv=None):
    from projects.run_config import load_config
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('configs', nargs='+')
    args = parser.parse_args(argv)
    print('| config | params | GFLOPs (MACs) total | backbone | neck | '
          'perspective head | BEV head |')
    print('|---|---|---|---|---|---|---|')
    for path in args.configs:
        r = bevformer_v2_complexity(load_config(path).model)
        g = {k: v / 1e9 for k, v in r.items()}
        print(f'| {path} | {r["params"] / 1e6:.2f}M | {g["total"]:.1f} | '
              f'{g["img_backbone"]:.1f} | {g["img_neck"]:.1f} | '
              f'{g["fcos3d_bbox_head"]:.1f} | {g["pts_bbox_head"]:.1f} |')


if __name__ == '__main__':
    main()
