"""Draw one sample (its ground truth, and predictions when given) with the
OpenMMLab visualizers: mmdet's ``DetLocalVisualizer`` (boxes), mmseg's
``SegLocalVisualizer`` (masks), mmpretrain's ``UniversalVisualizer``
(labels), and :mod:`.bev_drawing` for BEVFormer v2 samples. With both GT and
predictions the det / seg images are the visualizers' side-by-side
(GT left, prediction right)."""
import uuid

import mmcv
import numpy as np
from mmengine.registry import VISUALIZERS, DefaultScope

from .bev_drawing import draw_bev_sample
from .samples import to_rgb_image

VISUALIZER_TYPES = dict(det=('mmdet', 'DetLocalVisualizer'),
                        seg=('mmseg', 'SegLocalVisualizer'),
                        cls=('mmpretrain', 'UniversalVisualizer'))


def make_visualizer(task, dataset_meta):
    """A fresh visualizer of ``task`` (unique name: visualizers are
    process-wide singletons by name) with the dataset's classes/palette."""
    scope, kind = VISUALIZER_TYPES[task]
    with DefaultScope.overwrite_default_scope(scope):
        vis = VISUALIZERS.build(dict(type=kind,
                                     name=f'analysis_{uuid.uuid4().hex}'))
    meta = dict(dataset_meta or {})
    if task == 'seg' and meta.get('classes') and not meta.get('palette'):
        rng = np.random.RandomState(0)
        meta['palette'] = [tuple(int(v) for v in rng.randint(0, 255, 3))
                           for _ in meta['classes']]
    vis.dataset_meta = meta
    return vis


def read_rgb(path):
    img = mmcv.imread(str(path), channel_order='rgb')
    if img is None:
        raise FileNotFoundError(f'cannot read image {path}')
    return img


def draw_2d(task, image, data_sample, dataset_meta, out_file,
            draw_pred=False, score_thr=0.3):
    """Draw a det / seg / cls ``data_sample`` on the RGB ``image`` (in the
    frame of the sample's annotations) and write ``out_file``; returns the
    drawn image."""
    vis = make_visualizer(task, dataset_meta)
    if task == 'cls':
        short = min(image.shape[:2])
        vis.visualize_cls(image, data_sample,
                          classes=(dataset_meta or {}).get('classes'),
                          draw_gt='gt_label' in data_sample,
                          draw_pred=draw_pred,
                          rescale_factor=max(1.0, 224 / short),
                          out_file=str(out_file))
    else:
        for key in ('gt_instances', 'pred_instances'):
            boxes = data_sample.get(key, {}).get('bboxes', None)
            if hasattr(boxes, 'tensor'):  # mmdet's box type -> tensor
                data_sample.get(key).bboxes = boxes.tensor
        kwargs = dict(pred_score_thr=score_thr) if task == 'det' else {}
        vis.add_datasample('sample', image, data_sample, draw_gt=True,
                           draw_pred=draw_pred, out_file=str(out_file),
                           **kwargs)
    return vis.get_image()


def bev_inputs(sample):
    """``(imgs (N, H, W, 3) RGB of the current frame, lidar2img (N, 4, 4))``
    of a packed BEV sample."""
    imgs = sample['inputs']['imgs'][-1]  # (N, 3, H, W) BGR, current frame
    lidar2img = np.asarray(sample['data_samples'].metainfo['lidar2img'])[-1]
    return [to_rgb_image(img) for img in imgs], lidar2img


def draw_bev(sample, out_file, pc_range, pred_instances=None, score_thr=0.3):
    """Cameras + BEV plot of a packed BEV sample (GT, and predictions above
    ``score_thr`` when given) written to ``out_file``; returns the image."""
    ds = sample['data_samples']
    imgs, lidar2img = bev_inputs(sample)
    gt = ds.gt_instances_3d.bboxes_3d if 'gt_instances_3d' in ds else None
    pred = None
    if pred_instances is not None:
        keep = pred_instances.scores_3d >= score_thr
        pred = pred_instances.bboxes_3d[keep]
        pred = pred.tensor if hasattr(pred, 'tensor') else pred
        pred = pred.detach().cpu().numpy()
    if gt is not None:
        gt = (gt.tensor if hasattr(gt, 'tensor') else gt).detach().cpu().numpy()
    image = draw_bev_sample(imgs, lidar2img, gt, pred,
                            ds.metainfo.get('bda_mat'), pc_range,
                            ds.metainfo.get('cam_names'))
    mmcv.imwrite(image[..., ::-1], str(out_file))
    return image
