"""Time per training step and peak memory of BEVFormer v2 on CPU, split into
backbone (+FPN), BEV encoder, decoder (+ heads' branches and loss) and
perspective head (forward, loss, proposals), for the tiny config and the
R-50 config at a reduced resolution. Each config runs in its own process
(clean peak RSS); ratios are printed against the tiny config measured in
the same run.

Usage:
    OMP_NUM_THREADS=1 python tools/analysis_tools/benchmark_bevformer_v2.py \
        [--steps 3] [--r50-size 128 320] [--r50-bev 50]

Timings on a shared CPU are noisy: compare ratios, not absolute seconds.
"""
import argparse
import json
import math
import resource
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TINY = 'configs/bevformer_v2/bevformer-v2_r18_tiny_1xb2-600it_synthetic-nuscenes.py'
R50 = 'configs/bevformer_v2/bevformer-v2_r50_t1_16xb1-24e_nuscenes.py'


def _inputs(num_cams, frames, h, w, seed=0):
    import numpy as np
    import torch
    from mmengine.structures import InstanceData

    from mmdet.structures import DetDataSample
    g = torch.Generator().manual_seed(seed)
    f = 0.8 * w
    k = np.array([[f, 0, w / 2, 0], [0, f, h / 2, 0], [0, 0, 1, 0], [0, 0, 0, 1]])
    l2c = []
    for n in range(num_cams):
        yaw = 2 * math.pi * n / num_cams
        c, s = math.cos(yaw), math.sin(yaw)
        m = np.eye(4)
        m[:3, :3] = np.array([[1., 0, 0], [0, 0, -1], [0, 1, 0]]) @ np.array(
            [[c, s, 0], [-s, c, 0], [0, 0, 1]])
        l2c.append(m)
    l2c = np.stack(l2c)
    cam2img = np.stack([k] * num_cams)
    rep = lambda a: np.stack([a] * frames)  # noqa: E731
    ds = DetDataSample(metainfo=dict(
        lidar2img=rep(cam2img @ l2c), cam2img=rep(cam2img), lidar2cam=rep(l2c),
        img_shape=(h, w), frame_valid=np.ones(frames, bool), bda_mat=np.eye(4)))
    boxes = torch.tensor([[1.0, 10.0, -1.0, 4.0, 2.0, 1.6, 0.3, 1.0, 0.0],
                          [-3.0, 15.0, -1.0, 0.7, 0.6, 1.8, 0.0, 0.0, 0.0]])
    ds.gt_instances_3d = InstanceData(bboxes_3d=boxes, labels_3d=torch.tensor([3, 6]))
    u = w / 2 + f * boxes[:, 0] / boxes[:, 1]
    v = h / 2 + f * 0.2 / boxes[:, 1]
    half = f * boxes[:, 5] / boxes[:, 1] / 2
    ds.gt_instances_mono = InstanceData(
        cam_ids=torch.tensor([0, 0]),
        bboxes=torch.stack([u - half, v - half, u + half, v + half], -1),
        labels=torch.tensor([3, 6]), bboxes_3d=boxes, centers_2d=torch.stack([u, v], -1),
        depths=boxes[:, 1], attr_labels=torch.tensor([0, 1]), speeds=torch.tensor([1., 0.]))
    imgs = torch.randint(0, 255, (frames, num_cams, 3, h, w), generator=g, dtype=torch.uint8)
    return dict(inputs=dict(imgs=[imgs]), data_samples=[ds])


def _build(config, r50_size, r50_bev):
    import torch

    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules
    from projects.run_config import load_config
    register_all_modules()
    cfg = load_config(str(ROOT / config))
    model_cfg = cfg.model
    if config == R50:
        # reduced resolution; BN instead of SyncBN (single process)
        model_cfg.img_backbone.norm_cfg = dict(type='BN')
        model_cfg.fcos3d_bbox_head.norm_cfg = dict(type='BN')
        model_cfg.pts_bbox_head.transformer.fusion_norm_cfg = dict(type='BN')
        model_cfg.pts_bbox_head.bev_h = model_cfg.pts_bbox_head.bev_w = r50_bev
        h, w = r50_size
        cams = model_cfg.pts_bbox_head.transformer.num_cams
    else:
        h, w = 64, 160
        cams = model_cfg.pts_bbox_head.transformer.num_cams
    torch.manual_seed(0)
    model = MODELS.build(model_cfg)
    return model, _inputs(cams, len(model_cfg.frames), h, w), (cams, h, w)


def run_one(config, steps, r50_size, r50_bev):
    import torch
    torch.set_num_threads(1)
    model, data, shape = _build(config, r50_size, r50_bev)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    parts = defaultdict(float)
    stack = []

    def timed(name, module, method='forward'):
        fn = getattr(module, method)

        def wrapper(*a, **k):
            t = time.perf_counter()
            stack.append(name)
            try:
                return fn(*a, **k)
            finally:
                stack.pop()
                if name not in stack:
                    parts[name] += time.perf_counter() - t
        setattr(module, method, wrapper)

    timed('backbone', model, 'extract_img_feat')
    timed('encoder', model.pts_bbox_head.transformer.encoder)
    timed('fusion', model.pts_bbox_head.transformer, 'fuse')
    timed('decoder', model.pts_bbox_head.transformer.decoder)
    timed('decoder', model.pts_bbox_head, 'loss_by_feat')
    if model.fcos3d_bbox_head is not None:
        timed('perspective', model.fcos3d_bbox_head)
        timed('perspective', model.fcos3d_bbox_head, 'loss')
        timed('perspective', model.fcos3d_bbox_head, 'predict')
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    total = fwd = 0.
    for i in range(steps + 1):
        if i == 1:  # the first step is a warm-up
            parts.clear()
            total = fwd = 0.
        t0 = time.perf_counter()
        batch = model.data_preprocessor(data, True)
        losses = model(**batch, mode='loss')
        t1 = time.perf_counter()
        loss = sum(losses.values())
        opt.zero_grad()
        loss.backward()
        opt.step()
        fwd += t1 - t0
        total += time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return dict(config=Path(config).name, shape=shape, step_s=total / steps,
                forward_s=fwd / steps, parts={k: v / steps for k, v in parts.items()},
                peak_rss_mb=peak / 1024, step_growth_mb=(peak - rss0) / 1024,
                params_m=sum(p.numel() for p in model.parameters()) / 1e6)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--steps', type=int, default=3)
    parser.add_argument('--r50-size', type=int, nargs=2, default=[128, 320])
    parser.add_argument('--r50-bev', type=int, default=50)
    parser.add_argument('--only', help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.only:
        print(json.dumps(run_one(args.only, args.steps, args.r50_size, args.r50_bev)))
        return
    rows = []
    for config in (TINY, R50):
        cmd = [sys.executable, __file__, '--only', config, '--steps', str(args.steps),
               '--r50-size', *map(str, args.r50_size), '--r50-bev', str(args.r50_bev)]
        out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=True)
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    base = rows[0]
    names = ['backbone', 'encoder', 'fusion', 'decoder', 'perspective']
    print(f'{"config":<58} {"cams,H,W":>14} {"params":>8} {"step s":>8} {"fwd s":>7} '
          + ' '.join(f'{n:>11}' for n in names) + f' {"peak MB":>8} {"x tiny":>7}')
    for r in rows:
        secs = [r['parts'].get(n, 0.) for n in names]
        share = ' '.join(f'{s:>6.3f}({s / r["forward_s"]:>3.0%})'.rjust(11) for s in secs)
        print(f'{r["config"]:<58} {str(tuple(r["shape"])):>14} {r["params_m"]:>7.2f}M '
              f'{r["step_s"]:>8.3f} {r["forward_s"]:>7.3f} {share} {r["peak_rss_mb"]:>8.0f} '
              f'{r["step_s"] / base["step_s"]:>6.1f}x')
    print('parts: forward seconds per step (share of the forward pass); backward and the '
          'optimizer step are in "step s" only. Peak MB = peak RSS of the process.')


if __name__ == '__main__':
    main()
