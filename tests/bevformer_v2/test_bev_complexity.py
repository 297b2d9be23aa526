"""FLOP counter of BEVFormer v2 configs (meta device) on the tiny config:
the backbone part is frames x cameras x one image's count, the deformable
sampling term has its closed form, and SCA's gathered queries are the
pillars that a direct projection puts inside the image."""
from pathlib import Path

import numpy as np
import torch
from mmengine.registry import DefaultScope
from torch.utils.flop_counter import FlopCounterMode

from mmdet.registry import MODELS
from projects.bevformer_v2.complexity import bevformer_v2_complexity, rig_geometry
from projects.run_config import load_config

ROOT = Path(__file__).resolve().parents[2]
TINY = 'configs/bevformer_v2/bevformer-v2_r18_tiny_1xb2-600it_synthetic-nuscenes.py'
SHAPE, CROP, FULL = (64, 160), 26, (90, 160)


def test_counts_of_the_tiny_config():
    cfg = load_config(str(ROOT / TINY)).model
    r = bevformer_v2_complexity(cfg, SHAPE, CROP, FULL)
    head_cfg, enc_cfg = cfg.pts_bbox_head, cfg.pts_bbox_head.transformer.encoder
    frames, cams = len(cfg.frames), cfg.pts_bbox_head.transformer.num_cams
    hw = head_cfg.bev_h * head_cfg.bev_w
    dims = head_cfg.embed_dims // 4  # 4 heads everywhere in the tiny config

    # SCA: largest number of pillars (any of 4 heights) inside one camera
    l2i = rig_geometry(cams, CROP, SHAPE, FULL)[0]
    x0, y0, z0, x1, y1, z1 = enc_cfg.pc_range
    cx = x0 + (np.arange(head_cfg.bev_w) + 0.5) / head_cfg.bev_w * (x1 - x0)
    cy = y0 + (np.arange(head_cfg.bev_h) + 0.5) / head_cfg.bev_h * (y1 - y0)
    cz = z0 + np.linspace(0.5, (z1 - z0) - 0.5, 4)  # the official pillar heights
    hits = []
    for m in l2i:
        seen = 0
        for y in cy:
            for x in cx:
                p = m @ np.stack([np.full(4, x), np.full(4, y), cz, np.ones(4)])
                d = p[2]
                u, v = p[0] / np.maximum(d, 1e-5), p[1] / np.maximum(d, 1e-5)
                seen += bool(np.any((d > 1e-5) & (u > 0) & (u < SHAPE[1])
                                    & (v > 0) & (v < SHAPE[0])))
        hits.append(seen)
    assert r['sca_queries_per_camera'] == max(hits) > 0

    # sampling: per frame, TSA (2 queues, 1 level, 4 points) and SCA (2
    # levels, 4 points) in the 1 encoder layer; once, the decoder's
    # cross-attention over 30 queries + 10 proposals (1 level, 4 points)
    tsa = 5 * 2 * hw * 4 * 1 * 4 * dims
    sca = 5 * cams * max(hits) * 4 * 2 * 4 * dims
    dec = 5 * (30 + 10) * 4 * 1 * 4 * dims
    assert r['msda_sampling'] == frames * (tsa + sca) + dec

    # the backbone part: every camera of every frame at the input size
    with DefaultScope.overwrite_default_scope('mmdet'):
        model = MODELS.build(cfg)
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model.img_backbone(torch.zeros(1, 3, *SHAPE))
    assert r['img_backbone'] == frames * cams * counter.get_total_flops() // 2
    assert r['params'] == sum(p.numel() for p in model.parameters())
    assert r['dcnv3_sampling'] == 0 and r['fcos3d_bbox_head'] > 0  # hybrid
    assert r['pts_bbox_head'] > r['msda_sampling'] > 0
