"""Browse a config's dataset after its pipeline, and draw a checkpoint's
predictions on validation samples next to the ground truth.

Frames: mmdet / mmseg test pipelines load the annotations after ``Resize``,
so their GT stays in the original image frame, as the predictions do
(``rescale=True``); such samples are drawn on the original image. Samples
whose GT went through the resize are drawn on the pipeline's image when
browsing, and their GT is mapped back to the original frame for the
predictions.
"""
import os.path as osp
from pathlib import Path

import numpy as np
import torch

from .drawing import draw_2d, draw_bev, read_rgb
from .samples import (build_dataset, build_model, collate_fn, dataset_cfg,
                      set_data_root, task_of_model, task_of_sample,
                      to_rgb_image)


def gt_in_original_frame(cfg, phase):
    """True when the ``phase`` pipeline loads annotations after resizing."""
    pipeline = dataset_cfg(cfg, phase).get('pipeline') or []
    kinds = [str(t.get('type', '')) for t in pipeline]
    resize = [i for i, k in enumerate(kinds) if 'Resize' in k]
    load = [i for i, k in enumerate(kinds) if k.startswith('LoadAnnotations')]
    return bool(resize and load and load[0] > resize[0])


def pc_range_of(cfg):
    rng = cfg.get('point_cloud_range')
    if rng is None:
        rng = cfg.model.get('pts_bbox_head', {}).get('pc_range')
    return tuple(rng) if rng is not None else (-51.2, -51.2, -5, 51.2, 51.2, 3)


def _out_name(index, sample):
    meta = sample['data_samples'].metainfo
    name = meta.get('img_path') or meta.get('token') or 'sample'
    return f'{index:04d}_{osp.splitext(osp.basename(str(name)))[0]}.png'


def _prepare(cfg, out_dir, data_root):
    if data_root is not None:
        if not osp.isdir(str(data_root)):
            raise FileNotFoundError(f'data root {data_root} does not exist')
        set_data_root(cfg, data_root)
    Path(out_dir).mkdir(parents=True, exist_ok=True)


def browse_dataset(cfg, out_dir, num=5, phase='train', data_root=None):
    """Draw the first ``num`` samples of the ``phase`` dataset after its
    pipeline into ``out_dir``. Returns one dict per sample: ``out_file``,
    ``task``, ``raw`` (the image(s) drawn on, before drawing), ``drawn``,
    ``sample`` and ``meta`` (the dataset's metainfo)."""
    _prepare(cfg, out_dir, data_root)
    dataset = build_dataset(cfg, phase)
    original = gt_in_original_frame(cfg, phase)
    results = []
    for i in range(min(num, len(dataset))):
        sample = dataset[i]
        task = task_of_sample(sample)
        out_file = osp.join(str(out_dir), _out_name(i, sample))
        ds = sample['data_samples']
        if task == 'bev':
            raw = [to_rgb_image(img) for img in sample['inputs']['imgs'][-1]]
            drawn = draw_bev(sample, out_file, pc_range_of(cfg))
        else:
            raw = to_rgb_image(sample['inputs'])
            if original and ds.metainfo.get('img_path'):
                raw = read_rgb(ds.img_path)
            drawn = draw_2d(task, raw, ds, dataset.metainfo, out_file)
        results.append(dict(out_file=out_file, task=task, raw=raw,
                            drawn=drawn, sample=sample,
                            meta=dataset.metainfo))
    return results


def _gt_to_original(task, ds):
    """Map a det / seg GT that went through the resize back to the original
    image frame (in place)."""
    if task == 'det' and 'gt_instances' in ds and 'scale_factor' in ds:
        from mmdet.structures.bbox import scale_boxes
        sx, sy = ds.scale_factor
        ds.gt_instances.bboxes = scale_boxes(ds.gt_instances.bboxes,
                                             (1 / sx, 1 / sy))
    elif task == 'seg' and 'gt_sem_seg' in ds:
        seg = ds.gt_sem_seg.data
        h, w = ds.ori_shape[:2]
        if tuple(seg.shape[-2:]) != (h, w):
            ds.gt_sem_seg.data = torch.nn.functional.interpolate(
                seg[None].float(), size=(h, w), mode='nearest')[0].to(seg.dtype)


def load_model(cfg, checkpoint, device='cpu'):
    """The config's model with ``checkpoint`` loaded (``FileNotFoundError``
    naming a missing checkpoint), in eval mode."""
    from mmengine.runner import load_checkpoint
    if not osp.isfile(str(checkpoint)):
        raise FileNotFoundError(f'checkpoint {checkpoint} does not exist')
    model = build_model(cfg, device)
    load_checkpoint(model, str(checkpoint), map_location=device,
                    logger='silent')
    return model.eval()


def visualize_predictions(cfg, checkpoint, out_dir, num=5, score_thr=0.3,
                          data_root=None, device='cpu', model=None):
    """Run the model on the first ``num`` validation samples and draw its
    predictions next to the ground truth (same drawing as
    :func:`browse_dataset`). Returns one dict per sample like
    :func:`browse_dataset`, ``sample`` being the predicted data sample."""
    _prepare(cfg, out_dir, data_root)
    model = model if model is not None else load_model(cfg, checkpoint, device)
    task = task_of_model(model)
    phase = 'val' if cfg.get('val_dataloader') else 'test'
    dataset = build_dataset(cfg, phase)
    collate = collate_fn(cfg, phase)
    original = gt_in_original_frame(cfg, phase)
    results = []
    for i in range(min(num, len(dataset))):
        sample = dataset[i]
        with torch.no_grad():
            pred = model.test_step(collate([sample]))[0]
        out_file = osp.join(str(out_dir), _out_name(i, sample))
        if task == 'bev':
            packed = dict(inputs=sample['inputs'], data_samples=pred)
            raw = [to_rgb_image(img) for img in sample['inputs']['imgs'][-1]]
            drawn = draw_bev(packed, out_file, pc_range_of(cfg),
                             pred.pred_instances_3d, score_thr)
        elif task == 'cls':
            raw = to_rgb_image(sample['inputs'])
            drawn = draw_2d(task, raw, pred, dataset.metainfo, out_file,
                            draw_pred=True)
        else:
            raw = read_rgb(pred.img_path)
            if not original:
                _gt_to_original(task, pred)
            drawn = draw_2d(task, raw, pred, dataset.metainfo, out_file,
                            draw_pred=True, score_thr=score_thr)
        results.append(dict(out_file=out_file, task=task, raw=raw,
                            drawn=np.asarray(drawn), sample=pred,
                            meta=dataset.metainfo))
    return results
