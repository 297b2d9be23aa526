"""Multi-frame, multi-view transforms for ``NuScenesBEVDataset`` results.

Images live in ``results['img']``: uint8 ``(T, N, H, W, 3)`` BGR (mmcv's
order), one size for all. Geometric image transforms apply the SAME parameters
to every frame and camera and keep ``cam2img`` / ``lidar2img`` exact (pixel
``(i, j)`` covers ``[j, j+1) x [i, i+1)`` of projected coordinates). GT boxes
are :class:`LiDARBoxes3D`; every GT filter keeps the parallel ``gt_*`` arrays
in step.
"""
import math

import mmcv
import numpy as np
import torch
from mmcv.transforms import BaseTransform
from mmdet.registry import TRANSFORMS
from mmdet.structures import DetDataSample
from mmengine.fileio import get
from mmengine.structures import InstanceData

from ..structures import LiDARBoxes3D

GT_KEYS = ('gt_bboxes_3d', 'gt_labels_3d', 'gt_names', 'gt_attr_labels',
           'gt_speeds', 'gt_num_pts')


def filter_gt(results, keep):
    """Index every ``gt_*`` entry of ``results`` with the boolean mask ``keep``."""
    keep = np.asarray(keep, dtype=bool)
    for key in GT_KEYS:
        if key in results:
            val = results[key]
            results[key] = val[torch.from_numpy(keep)] if isinstance(
                val, LiDARBoxes3D) else val[keep]
    return results


def _update_lidar2img(results):
    results['lidar2img'] = results['cam2img'] @ results['lidar2cam']


@TRANSFORMS.register_module()
class LoadMultiViewImages(BaseTransform):
    """Read the ``(T, N)`` images of ``results['img_paths']``.

    Adds ``img`` (uint8 ``(T, N, H, W, 3)``, BGR unless ``to_rgb``),
    ``img_shape`` and ``ori_shape`` ``(H, W)``. A missing or unreadable file,
    or cameras of different sizes, raise with the sample token, frame offset
    and camera.
    """

    def __init__(self, to_rgb=False, backend_args=None):
        self.to_rgb = to_rgb
        self.backend_args = backend_args

    def transform(self, results):
        cache, frames = {}, []
        for offset, paths in zip(results['frame_offsets'], results['img_paths']):
            views = []
            for cam, path in zip(results['cam_names'], paths):
                if path not in cache:
                    where = (f'sample {results.get("token")} frame {int(offset)} '
                             f'camera {cam}')
                    try:
                        buf = get(path, backend_args=self.backend_args)
                    except FileNotFoundError:
                        raise FileNotFoundError(
                            f'{where}: image {path} does not exist') from None
                    img = mmcv.imfrombytes(buf, flag='color',
                                           channel_order='rgb' if self.to_rgb
                                           else 'bgr')
                    if img is None:
                        raise ValueError(f'{where}: cannot decode {path}')
                    cache[path] = img
                views.append(cache[path])
            frames.append(views)
        shapes = {v.shape for views in frames for v in views}
        if len(shapes) != 1:
            raise ValueError(f'sample {results.get("token")}: cameras have '
                             f'different image sizes {sorted(shapes)}')
        results['img'] = np.stack([np.stack(v) for v in frames])
        results['img_shape'] = results['ori_shape'] = results['img'].shape[2:4]
        return results


@TRANSFORMS.register_module()
class PhotoMetricDistortionMultiView(BaseTransform):
    """The official photometric distortion, drawn independently per image:
    each step with probability ``prob``: brightness, contrast (before or after
    the colour steps), saturation, hue, channel swap. Keeps uint8."""

    def __init__(self, brightness_delta=32, contrast_range=(0.5, 1.5),
                 saturation_range=(0.5, 1.5), hue_delta=18, prob=0.5):
        self.brightness_delta = brightness_delta
        self.contrast_range = contrast_range
        self.saturation_range = saturation_range
        self.hue_delta = hue_delta
        self.prob = prob

    def _one(self, img, rng):
        img = img.astype(np.float32)
        if rng.uniform() < self.prob:
            img += rng.uniform(-self.brightness_delta, self.brightness_delta)
        contrast_first = rng.uniform() < 0.5
        if contrast_first and rng.uniform() < self.prob:
            img *= rng.uniform(*self.contrast_range)
        saturation = rng.uniform() < self.prob
        hue = rng.uniform() < self.prob
        if saturation or hue:
            hsv = mmcv.bgr2hsv(np.clip(img, 0, 255).astype(np.uint8)).astype(
                np.float32)
            if saturation:
                hsv[..., 1] *= rng.uniform(*self.saturation_range)
            if hue:
                # OpenCV 8-bit hue is degrees / 2
                hsv[..., 0] = (hsv[..., 0] + rng.uniform(
                    -self.hue_delta, self.hue_delta) / 2) % 180
            img = mmcv.hsv2bgr(np.clip(hsv, 0, [179, 255, 255]).astype(
                np.uint8)).astype(np.float32)
        if not contrast_first and rng.uniform() < self.prob:
            img *= rng.uniform(*self.contrast_range)
        if rng.uniform() < self.prob:
            img = img[..., rng.permutation(3)]
        return np.clip(np.round(img), 0, 255).astype(np.uint8)

    def transform(self, results):
        rng = np.random  # global state, seeded by mmengine's worker seeding
        imgs = results['img']
        out = np.empty_like(imgs)
        for t in range(imgs.shape[0]):
            for n in range(imgs.shape[1]):
                out[t, n] = self._one(imgs[t, n], rng)
        results['img'] = out
        return results


@TRANSFORMS.register_module()
class CropResizeFlipImage(BaseTransform):
    """Crop, resize and flip every image with the same parameters and fold the
    image transform into the intrinsics: ``cam2img <- ida @ cam2img`` and
    ``lidar2img = cam2img @ lidar2cam``. A flip gives a negative ``fx`` (the
    BEV encoder samples the flipped image at the exact places; the detector
    gives the perspective head the mirrored world, see ``BEVFormerV2``).

    Args:
        crop (tuple, optional): ``(x1, y1, x2, y2)`` in input pixels, first.
        heights (Sequence[int], optional): target heights after the crop (the
            width keeps the aspect ratio); one is drawn per sample (the first
            one when ``test_mode``).
        scale (float, optional): resize factor, instead of ``heights``.
        flip_prob (float): probability of a horizontal flip (last).
        test_mode (bool): no randomness (first height, no flip).
    """

    def __init__(self, crop=None, heights=None, scale=None, flip_prob=0.0,
                 test_mode=False):
        if heights is not None and scale is not None:
            raise ValueError('give heights or scale, not both')
        self.crop = crop
        self.heights = heights
        self.scale = scale
        self.flip_prob = flip_prob
        self.test_mode = test_mode

    def transform(self, results):
        imgs = results['img']
        h, w = imgs.shape[2:4]
        x1, y1, x2, y2 = self.crop if self.crop is not None else (0, 0, w, h)
        if not (0 <= x1 < x2 <= w and 0 <= y1 < y2 <= h):
            raise ValueError(f'crop {self.crop} is outside the {h}x{w} images of '
                             f'sample {results.get("token")}')
        ch, cw = y2 - y1, x2 - x1
        if self.heights is not None:
            new_h = (self.heights[0] if self.test_mode else
                     int(np.random.choice(self.heights)))
        else:
            new_h = int(round(ch * (self.scale or 1.0)))
        new_w = int(round(cw * new_h / ch))
        flip = (not self.test_mode) and np.random.uniform() < self.flip_prob
        sx, sy = new_w / cw, new_h / ch
        ida = np.array([[sx, 0, -sx * x1], [0, sy, -sy * y1], [0, 0, 1.0]])
        if flip:
            ida = np.array([[-1, 0, new_w], [0, 1, 0], [0, 0, 1.0]]) @ ida
        out = np.empty(imgs.shape[:2] + (new_h, new_w, 3), imgs.dtype)
        for t in range(imgs.shape[0]):
            for n in range(imgs.shape[1]):
                img = imgs[t, n, y1:y2, x1:x2]
                if (new_h, new_w) != (ch, cw):
                    img = mmcv.imresize(img, (new_w, new_h),
                                        interpolation='bilinear')
                out[t, n] = img[:, ::-1] if flip else img
        ida4 = np.eye(4)
        ida4[:3, :3] = ida
        results['img'] = out
        results['img_shape'] = (new_h, new_w)
        results['cam2img'] = ida4 @ results['cam2img']
        _update_lidar2img(results)
        results['ida_mat'] = ida4 @ results.get('ida_mat', np.eye(4))
        results['flip'] = bool(flip) != bool(results.get('flip', False))
        return results


@TRANSFORMS.register_module()
class ObjectRangeFilter(BaseTransform):
    """Keep GT whose bottom centre is strictly inside the BEV range of
    ``point_cloud_range`` (x_min, y_min, z_min, x_max, y_max, z_max), then wrap
    yaw to ``[-pi, pi)``."""

    def __init__(self, point_cloud_range):
        pcr = point_cloud_range
        self.bev_range = (pcr[0], pcr[1], pcr[3], pcr[4])

    def transform(self, results):
        keep = results['gt_bboxes_3d'].in_range_bev(self.bev_range).numpy()
        filter_gt(results, keep)
        results['gt_bboxes_3d'].limit_yaw()
        return results


@TRANSFORMS.register_module()
class ObjectNameFilter(BaseTransform):
    """Keep GT whose detection name is in ``classes`` (drops unmapped ones)."""

    def __init__(self, classes):
        self.classes = set(classes)

    def transform(self, results):
        keep = np.array([n in self.classes for n in results['gt_names']], bool)
        filter_gt(results, keep.reshape(-1))
        return results


@TRANSFORMS.register_module()
class GlobalRotScaleTrans(BaseTransform):
    """BEV augmentation of the GT boxes only (cameras untouched), recorded in
    ``bda_mat`` (4x4, ``p_aug = bda_mat @ p``, composed with any previous one):
    ``bda = flip @ translate @ scale @ rotate``.

    Args:
        rot_range (tuple): counter-clockwise angle (rad) about lidar z.
        scale_ratio_range (tuple): uniform scale.
        translation_std (tuple): std (m) of a Gaussian shift.
        flip_x_prob (float): probability of x -> -x (``flip('vertical')``).
        flip_y_prob (float): probability of y -> -y (``flip('horizontal')``).
    """

    def __init__(self, rot_range=(-math.pi / 8, math.pi / 8),
                 scale_ratio_range=(0.95, 1.05), translation_std=(0, 0, 0),
                 flip_x_prob=0.0, flip_y_prob=0.0):
        self.rot_range = rot_range
        self.scale_ratio_range = scale_ratio_range
        self.translation_std = translation_std
        self.flip_x_prob = flip_x_prob
        self.flip_y_prob = flip_y_prob

    @staticmethod
    def bda_matrix(angle=0.0, scale=1.0, translation=(0, 0, 0), flip_x=False,
                   flip_y=False):
        """``flip @ translate @ scale @ rotate`` as a 4x4 float64 matrix."""
        c, s = math.cos(angle), math.sin(angle)
        rot = np.eye(4)
        rot[:2, :2] = [[c, -s], [s, c]]
        mat = np.diag([scale, scale, scale, 1.0]) @ rot
        mat[:3, 3] += np.asarray(translation, dtype=np.float64)
        flip = np.diag([-1.0 if flip_x else 1.0, -1.0 if flip_y else 1.0, 1, 1])
        return flip @ mat

    def transform(self, results):
        mat = self.bda_matrix(
            np.random.uniform(*self.rot_range),
            np.random.uniform(*self.scale_ratio_range),
            np.random.normal(0, 1, 3) * np.asarray(self.translation_std),
            np.random.uniform() < self.flip_x_prob,
            np.random.uniform() < self.flip_y_prob)
        results['gt_bboxes_3d'].transform(mat)
        results['bda_mat'] = mat @ results.get('bda_mat', np.eye(4))
        return results


@TRANSFORMS.register_module()
class PerspectiveAnnotations(BaseTransform):
    """Per-camera (mono) targets of the current frame from ALL annotated
    boxes of the sample (``results['ann_info']``, untouched by the GT filters
    and the BEV augmentation, as the official perspective annotations) and
    the final ``lidar2img`` (run it after the image transforms): for each
    camera and box of a class with at least ``min_points`` lidar+radar points
    (official: 3) and its gravity centre at camera depth > ``min_depth``, the
    2D box is the bounding rectangle of the projected corners in front of the
    camera, clipped to the image; it is kept if clipped area / unclipped area
    >= ``min_visible``.

    Adds ``gt_mono`` (dict of arrays: cam_ids, bboxes, labels, bboxes_3d,
    centers_2d, depths, attr_labels, speeds). 2D boxes and centres are in the
    final (possibly flipped) image; ``bboxes_3d`` stay in the lidar frame (the
    detector mirrors them for a flipped image).
    """

    def __init__(self, min_points=3, min_depth=0.1, min_visible=0.2):
        self.min_points = min_points
        self.min_depth = min_depth
        self.min_visible = min_visible

    def transform(self, results):
        if 'ann_info' not in results:
            raise KeyError(f'sample {results.get("token")}: PerspectiveAnnotations '
                           "needs results['ann_info'] (all annotated boxes), "
                           'which NuScenesBEVDataset provides')
        ann = results['ann_info']
        boxes = LiDARBoxes3D(torch.as_tensor(ann['bboxes_3d'], dtype=torch.float64))
        cur = list(results['frame_offsets']).index(0)
        h, w = results['img_shape']
        corners = boxes.corners.numpy()
        centers = boxes.gravity_center.numpy()
        ok = ann['num_pts'] >= self.min_points
        ok &= ann['labels_3d'] >= 0
        out = {k: [] for k in ('cam_ids', 'bboxes', 'labels', 'bboxes_3d',
                               'centers_2d', 'depths', 'attr_labels', 'speeds')}
        for n in range(results['lidar2img'].shape[1]):
            l2i = results['lidar2img'][cur, n]
            cen = centers @ l2i[:3, :3].T + l2i[:3, 3]
            pts = corners @ l2i[:3, :3].T + l2i[:3, 3]
            for i in np.flatnonzero(ok & (cen[:, 2] > self.min_depth)):
                front = pts[i][pts[i][:, 2] > self.min_depth]
                uv = front[:, :2] / front[:, 2:3]
                x1, y1 = uv.min(0)
                x2, y2 = uv.max(0)
                cx1, cy1 = max(x1, 0), max(y1, 0)
                cx2, cy2 = min(x2, w), min(y2, h)
                area = (x2 - x1) * (y2 - y1)
                clipped = max(cx2 - cx1, 0) * max(cy2 - cy1, 0)
                if area <= 0 or clipped / area < self.min_visible:
                    continue
                out['cam_ids'].append(n)
                out['bboxes'].append([cx1, cy1, cx2, cy2])
                out['labels'].append(ann['labels_3d'][i])
                out['bboxes_3d'].append(boxes.tensor[i].numpy())
                out['centers_2d'].append(cen[i, :2] / cen[i, 2])
                out['depths'].append(cen[i, 2])
                out['attr_labels'].append(ann['attr_labels'][i])
                out['speeds'].append(ann['speeds'][i])
        shapes = dict(bboxes=(-1, 4), bboxes_3d=(-1, 9), centers_2d=(-1, 2))
        dtypes = dict(cam_ids=np.int64, labels=np.int64, attr_labels=np.int64)
        results['gt_mono'] = {
            k: np.asarray(v, dtypes.get(k, np.float32)).reshape(
                shapes.get(k, (-1,))) for k, v in out.items()}
        return results


@TRANSFORMS.register_module()
class PackBEVInputs(BaseTransform):
    """Pack into ``dict(inputs=dict(imgs=uint8 (T, N, 3, H, W)),
    data_samples=DetDataSample)`` with ``gt_instances_3d``,
    ``gt_instances_mono`` and the metainfo of projects/bevformer_v2/README.md.
    """

    META_KEYS = ('token', 'scene_token', 'sample_idx', 'timestamp',
                 'frame_offsets', 'frame_valid', 'lidar2img', 'cam2img',
                 'lidar2cam', 'img_shape', 'ori_shape', 'cam_names',
                 'lidar2ego', 'ego2global', 'bda_mat', 'flip')

    def __init__(self, meta_keys=META_KEYS):
        self.meta_keys = tuple(meta_keys)

    def transform(self, results):
        imgs = np.ascontiguousarray(results['img'].transpose(0, 1, 4, 2, 3))
        sample = DetDataSample()
        meta = {k: results[k] for k in self.meta_keys if k in results}
        meta.setdefault('bda_mat', np.eye(4))
        meta['img_shape'] = tuple(int(v) for v in results['img_shape'])
        sample.set_metainfo(meta)
        gt = InstanceData()
        boxes = results.get('gt_bboxes_3d', LiDARBoxes3D(np.zeros((0, 9))))
        gt.bboxes_3d = boxes.tensor.float()
        gt.labels_3d = torch.as_tensor(
            np.asarray(results.get('gt_labels_3d', np.zeros(0)), np.int64))
        sample.gt_instances_3d = gt
        mono = InstanceData()
        src = results.get('gt_mono')
        empty = dict(cam_ids=(0,), bboxes=(0, 4), labels=(0,),
                     bboxes_3d=(0, 9), centers_2d=(0, 2), depths=(0,),
                     attr_labels=(0,), speeds=(0,))
        for key, shape in empty.items():
            val = np.zeros(shape) if src is None else src[key]
            long = key in ('cam_ids', 'labels', 'attr_labels')
            setattr(mono, key, torch.as_tensor(
                np.asarray(val, np.int64 if long else np.float32)))
        sample.gt_instances_mono = mono
        return dict(inputs=dict(imgs=torch.from_numpy(imgs)),
                    data_samples=sample)
