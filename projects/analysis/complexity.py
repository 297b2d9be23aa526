"""Parameters and FLOPs of a zoo config's model, with mmengine's
``get_model_complexity_info`` (fvcore's counter: one multiply-add = one
FLOP, as OpenMMLab's ``get_flops.py`` tools report them).

What is counted (``counted`` in the result):

- det: ``model(inputs, data_samples, mode='tensor')`` (backbone, neck and
  the dense head / RoI head forward; no post-processing), as mmdet's tool;
- seg: ``model(inputs, mode='tensor')`` (backbone, neck, decode head; the
  auxiliary head is a training-only branch and is removed), as mmseg's tool;
- cls: ``model(inputs, mode='tensor')`` (backbone, neck, head);
- ssl: ``model.extract_feat(inputs)`` (the encoder used downstream);
- bev: the image backbone + neck over every image of the sample
  (T frames x N cameras; the history frames go through the same backbone),
  and separately the whole forward as ``projects.bevformer_v2.complexity``
  counts it (history BEVs, perspective head, BEV encoder, decoder, with
  the deformable sampling).

A model containing an InternImage backbone also gets the official
InternImage count (``projects.internimage.complexity``, DCNv3 cores
included) of its backbone.
"""
import logging
import math
import re

import numpy as np
import torch
from mmengine.analysis import get_model_complexity_info
from mmengine.logging import MMLogger
from torch import nn

from .samples import build_model, task_of_model

DEFAULT_SHAPES = dict(det=(800, 1333), seg=(512, 512), cls=(224, 224),
                      ssl=(224, 224), bev=(480, 800))


class _Call(nn.Module):
    """Wrap ``fn(model, *tensors)`` as a module for the tracer."""

    def __init__(self, model, fn):
        super().__init__()
        self.model = model
        self.fn = fn

    def forward(self, *args):
        return self.fn(self.model, *args)


def _pipeline_shape(cfg, task):
    """(H, W) the config's test pipeline produces, when it says."""
    pre = cfg.model.get('data_preprocessor') or {}
    if task == 'seg' and pre.get('size'):
        return tuple(pre['size'])
    loader = cfg.get('test_dataloader') or cfg.get('val_dataloader') or {}
    pipeline = loader.get('dataset', {}).get('pipeline', []) if isinstance(
        loader, dict) else []
    for t in pipeline:
        kind = str(t.get('type', ''))
        if kind == 'CropResizeFlipImage' and t.get('crop') and t.get('heights'):
            x0, y0, x1, y1 = t['crop']
            h = int(t['heights'][0])
            return h, int(round((x1 - x0) * h / (y1 - y0)))
        if kind == 'CenterCrop' and t.get('crop_size'):
            size = t['crop_size']
            return (size, size) if isinstance(size, int) else tuple(size[::-1])
        if kind == 'Resize' and t.get('scale') and task == 'det':
            w, h = t['scale'] if not isinstance(t['scale'], int) else (
                t['scale'], t['scale'])
            return int(h), int(w)
    return None


def default_shape(cfg, task):
    """``((H, W), source)``: the test pipeline's size, else the task's."""
    shape = _pipeline_shape(cfg, task)
    if shape is not None:
        return tuple(int(v) for v in shape), 'config test pipeline'
    return DEFAULT_SHAPES[task], f'default for {task}'


def camera_ring(num_cams, height, width, focal=None):
    """``(lidar2img, cam2img, lidar2cam)``, each ``(N, 4, 4)``: N pinhole
    cameras at the lidar origin looking outwards, evenly spaced in yaw
    (camera 0 along +y), principal point at the image centre."""
    focal = focal or width / 2
    k = np.eye(4)
    k[0, 0] = k[1, 1] = focal
    k[0, 2], k[1, 2] = width / 2, height / 2
    l2c = []
    for i in range(num_cams):
        yaw = 2 * math.pi * i / num_cams
        c, s = math.cos(yaw), math.sin(yaw)
        rot_z = np.array([[c, s, 0], [-s, c, 0], [0, 0, 1.]])
        m = np.eye(4)  # lidar (x right, y forward, z up) -> camera (x, y down, z fwd)
        m[:3, :3] = np.array([[1., 0, 0], [0, 0, -1], [0, 1, 0]]) @ rot_z
        l2c.append(m)
    l2c = np.stack(l2c)
    cam2img = np.stack([k] * num_cams)
    return cam2img @ l2c, cam2img, l2c


def random_batch(model, task, shape, cfg=None, seed=0):
    """A batch of one random uint8 image (or BEV sample) through the
    model's ``data_preprocessor``: ``(inputs, data_samples)``."""
    from mmdet.structures import DetDataSample
    gen = torch.Generator().manual_seed(seed)
    h, w = shape
    meta = dict(img_shape=(h, w), ori_shape=(h, w), pad_shape=(h, w),
                scale_factor=(1.0, 1.0))
    if task == 'bev':
        frames = len(getattr(model, 'frames', (0,)))
        trans = cfg.model.pts_bbox_head.get('transformer', {}) if cfg else {}
        cams = int(trans.get('num_cams', 6))
        l2i, c2i, l2c = camera_ring(cams, h, w)
        rep = lambda a: np.stack([a] * frames)  # noqa: E731
        sample = DetDataSample(metainfo=dict(
            img_shape=(h, w), ori_shape=(h, w), lidar2img=rep(l2i),
            cam2img=rep(c2i), lidar2cam=rep(l2c), bda_mat=np.eye(4),
            frame_valid=np.ones(frames, bool)))
        imgs = torch.randint(0, 256, (frames, cams, 3, h, w), generator=gen,
                             dtype=torch.uint8)
        data = dict(inputs=dict(imgs=[imgs]), data_samples=[sample])
    else:
        if task == 'seg':
            from mmseg.structures import SegDataSample as Sample
        elif task == 'det':
            Sample = DetDataSample
        else:
            from mmpretrain.structures import DataSample as Sample
        img = torch.randint(0, 256, (3, h, w), generator=gen, dtype=torch.uint8)
        data = dict(inputs=[img], data_samples=[Sample(metainfo=meta)])
    data = model.data_preprocessor(data, False)
    return data['inputs'], data['data_samples']


class _CaptureWarnings(logging.Filter):
    """Collect the counter's 'Unsupported operator aten::x encountered n
    time(s)' warnings (and drop its long list of uncalled submodules)."""

    def __init__(self):
        super().__init__()
        self.unsupported = {}

    def filter(self, record):
        msg = record.getMessage()
        match = re.match(r'Unsupported operator (\S+) encountered (\d+)', msg)
        if match:
            self.unsupported[match.group(1)] = int(match.group(2))
            return False
        return 'never called during the trace' not in msg


def _count(module, fn, inputs):
    """FLOPs and params of ``fn(module, *inputs)``; params are those of
    ``module``; ``unsupported_ops`` the ops counted as zero."""
    capture = _CaptureWarnings()
    logger = MMLogger.get_current_instance()
    logger.addFilter(capture)
    try:
        out = get_model_complexity_info(_Call(module, fn), inputs=inputs,
                                        show_table=False, show_arch=False)
    finally:
        logger.removeFilter(capture)
    return dict(flops=int(out['flops']), params=int(out['params']),
                unsupported_ops=capture.unsupported)


def _test_crop(cfg):
    """``(x0, y0, x1, y1)`` of the test pipeline's CropResizeFlipImage."""
    loader = cfg.get('test_dataloader') or cfg.get('val_dataloader') or {}
    for t in loader.get('dataset', {}).get('pipeline', []):
        if t.get('type') == 'CropResizeFlipImage' and t.get('crop'):
            return tuple(t['crop'])
    return None


def _bev_whole(cfg, shape):
    """The whole BEVFormer v2 forward with ``projects.bevformer_v2.complexity``
    (deformable sampling and DCNv3 cores included, SCA queries from the
    nuScenes rig); the image is the test crop of the config's pipeline."""
    from projects.bevformer_v2.complexity import bevformer_v2_complexity
    name = 'whole BEVFormer v2 forward (projects.bevformer_v2.complexity)'
    crop = _test_crop(cfg)
    if crop is None:
        return {name: dict(error='no CropResizeFlipImage crop in the test pipeline')}
    try:
        whole = bevformer_v2_complexity(cfg.model, img_shape=tuple(shape),
                                        crop_top=crop[1],
                                        full_size=(crop[3], crop[2]))
    except ValueError as err:  # e.g. a --shape that is not the test crop
        return {name: dict(error=str(err))}
    return {name: dict(flops=int(whole['total']), params=int(whole['params']))}


def _internimage_part(model, shape, images):
    from projects.internimage.internimage import InternImage
    for name, mod in model.named_modules():
        if isinstance(mod, InternImage):
            from projects.internimage.complexity import internimage_flops
            total, core = internimage_flops(mod, (images, 3) + tuple(shape),
                                            device='cpu')
            return {f'{name} (InternImage official: MACs + DCNv3 cores)': dict(
                flops=int(total), params=sum(p.numel() for p in mod.parameters()),
                dcnv3_core_flops=int(core))}
    return {}


def model_complexity(cfg, shape=None, full_bev=True):
    """Parameters and FLOPs of ``cfg.model`` on one input.

    Args:
        cfg (Config): a loaded config.
        shape (tuple[int, int], optional): input (H, W); default: the
            config's test pipeline size (see :func:`default_shape`).
        full_bev (bool): for BEV models also count the whole forward.

    Returns:
        dict: ``task``, ``input_shape``, ``shape_source``, ``flops``,
        ``params`` (of the counted part), ``counted`` (what that is),
        ``model_params`` (the whole model), ``parts`` (``{name: dict(flops,
        params)}``; BEV models and InternImage backbones).
    """
    torch.manual_seed(0)
    model = build_model(cfg).eval()
    task = task_of_model(model)
    if shape is None:
        shape, source = default_shape(cfg, task)
    else:
        shape, source = tuple(int(v) for v in shape), '--shape'
    result = dict(task=task, input_shape=list(shape), shape_source=source,
                  model_params=sum(p.numel() for p in model.parameters()),
                  parts={})
    with torch.no_grad():
        inputs, samples = random_batch(model, task, shape, cfg)
    result['padded_shape'] = list(
        (inputs['imgs'] if task == 'bev' else inputs).shape[-2:])
    images = 1
    if task == 'bev':
        imgs = inputs['imgs']  # (1, T, N, 3, H, W)
        images = imgs.shape[1] * imgs.shape[2]
        flat = imgs.flatten(0, 2)
        part = _count(nn.ModuleDict(dict(backbone=model.img_backbone,
                                         neck=model.img_neck)),
                      lambda m, x: m['neck'](m['backbone'](x)), (flat,))
        name = (f'image backbone + neck ({imgs.shape[1]} frame(s) x '
                f'{imgs.shape[2]} camera(s) = {images} images)')
        result.update(part, counted=name)
        if full_bev:
            result['parts'].update(_bev_whole(cfg, shape))
    else:
        if task == 'seg' and getattr(model, 'auxiliary_head', None) is not None:
            model.auxiliary_head = None
        if task == 'det':
            fn = lambda m, x: m(x, samples, mode='tensor')  # noqa: E731
            counted = "model(inputs, data_samples, mode='tensor')"
        elif task == 'ssl':
            fn = lambda m, x: m.extract_feat(x)  # noqa: E731
            counted = 'model.extract_feat(inputs)'
        else:
            fn = lambda m, x: m(x, mode='tensor')  # noqa: E731
            counted = "model(inputs, mode='tensor')" + (
                ' (auxiliary head removed)' if task == 'seg' else '')
        result.update(_count(model, fn, (inputs,)), counted=counted)
    result['parts'].update(_internimage_part(model, result['padded_shape'],
                                             images))
    return result


def _ops(ops):
    return ', '.join(f'{k.replace("aten::", "")} x{v}'
                     for k, v in sorted(ops.items()))


def format_complexity(result, config=''):
    """Human-readable report of :func:`model_complexity`."""
    lines = [f'config: {config}', f'task: {result["task"]}',
             f'input shape (H, W): {tuple(result["input_shape"])} '
             f'({result["shape_source"]}), padded to '
             f'{tuple(result["padded_shape"])}',
             f'counted: {result["counted"]}',
             f'FLOPs: {result["flops"] / 1e9:.3f} G',
             f'params (counted part): {result["params"] / 1e6:.3f} M',
             f'params (whole model): {result["model_params"] / 1e6:.3f} M']
    if result.get('unsupported_ops'):
        lines.append('not counted (zero FLOPs): '
                     + _ops(result['unsupported_ops']))
    for name, part in result['parts'].items():
        if 'error' in part:
            lines.append(f'  {name}: not counted ({part["error"]})')
        else:
            lines.append(f'  {name}: {part["flops"] / 1e9:.3f} GFLOPs, '
                         f'{part["params"] / 1e6:.3f} M params')
            if part.get('unsupported_ops'):
                lines.append('    not counted: ' + _ops(part['unsupported_ops']))
    lines.append('FLOPs: one multiply-add = one FLOP (fvcore / OpenMMLab); '
                 'ops the counter does not know count zero.')
    return '\n'.join(lines)
