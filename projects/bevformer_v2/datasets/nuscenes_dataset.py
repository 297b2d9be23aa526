"""``NuScenesBEVDataset``: the project's nuScenes infos (JSON, or an
official BEVFormer ``.pkl`` converted on load) as temporal, multi-view
samples, on mmengine's ``BaseDataset``."""
import math
from pathlib import Path

import numpy as np
from mmdet.registry import DATASETS
from mmengine.dataset import BaseDataset

from ..structures import LiDARBoxes3D
from .converter import (CAMERAS, CLASSES, INFOS_FORMAT, INFOS_FORMAT_VERSION)
from .official_infos import load_infos

# attribute id within the class's nuScenes attributes (DD3D's numbering)
ATTRIBUTE_IDS = {'vehicle.moving': 0, 'vehicle.parked': 1,
                 'vehicle.stopped': 2, 'pedestrian.moving': 0,
                 'pedestrian.standing': 1, 'pedestrian.sitting_lying_down': 2,
                 'cycle.with_rider': 0, 'cycle.without_rider': 1}
SAMPLE_FIELDS = ('token', 'scene_token', 'timestamp', 'prev', 'next',
                 'lidar2ego', 'ego2global', 'cams', 'instances')
CAMERA_FIELDS = ('data_path', 'cam2img', 'lidar2cam')
INSTANCE_FIELDS = ('bbox_3d', 'detection_name', 'attribute', 'num_lidar_pts',
                   'num_radar_pts', 'valid_flag')


def _matrix(value, shape, where):
    arr = None if value is None else np.asarray(value, dtype=np.float64)
    if arr is None or arr.shape != shape or not np.isfinite(arr).all():
        raise ValueError(f'{where} must be a finite {shape} matrix, got '
                         f'{value if arr is None else arr.shape}')
    return arr


@DATASETS.register_module()
class NuScenesBEVDataset(BaseDataset):
    """nuScenes for BEV detection, read from ``nuscenes_infos_<split>.json``
    (``tools/dataset_converters/create_nuscenes_infos.py``) or from the
    official BEVFormer ``nuscenes_infos_temporal_<split>.pkl`` (converted on
    load, see :mod:`.official_infos`).

    Each item is a results dict for the pipeline with all frames and cameras:
    ``img_paths`` (T lists of N paths), ``cam2img``, ``lidar2cam``,
    ``lidar2img`` (T, N, 4, 4) float64 with history frames mapped into the
    current lidar frame through the ego poses, ``frame_offsets``,
    ``frame_valid`` and the GT (``gt_bboxes_3d`` :class:`LiDARBoxes3D`,
    ``gt_labels_3d``, ``gt_names``, ``gt_attr_labels``, ``gt_speeds``,
    ``gt_num_pts``), plus ``ann_info``: the same annotations as arrays
    (``bboxes_3d``, ``labels_3d``, ``attr_labels``, ``speeds``, ``num_pts``)
    that no GT filter or BEV augmentation touches (the perspective targets).

    Args:
        ann_file (str): the infos ``.json`` or official ``.pkl`` (relative
            to ``data_root``).
        cameras (Sequence[str]): cameras to load, a subset of the six in the
            project order.
        frame_offsets (Sequence[int]): key-frame offsets, oldest first and
            ending with 0 (e.g. ``(-1, 0)``). A history slot beyond the start
            of the scene repeats the nearest real frame (``frame_valid`` False).
        use_valid_flag (bool): drop GT with no lidar and no radar point (as the
            official pipeline does).
        filter_empty_gt (bool): in training, drop samples without GT of the
            classes.
        **kwargs: ``BaseDataset`` arguments (``data_root``, ``pipeline``,
            ``test_mode``, ``indices``, ``metainfo`` ...).
    """

    METAINFO = dict(classes=CLASSES, cameras=CAMERAS)

    def __init__(self, ann_file, cameras=CAMERAS, frame_offsets=(0,),
                 use_valid_flag=True, filter_empty_gt=False, **kwargs):
        cameras = tuple(cameras)
        unknown = [c for c in cameras if c not in CAMERAS]
        if unknown or not cameras:
            raise ValueError(f'cameras must be a non-empty subset of {CAMERAS}, '
                             f'got unknown {unknown}')
        if list(cameras) != sorted(cameras, key=CAMERAS.index):
            raise ValueError(f'cameras must keep the project order {CAMERAS}, '
                             f'got {cameras}')
        offsets = tuple(int(o) for o in frame_offsets)
        if not offsets or offsets[-1] != 0 or list(offsets) != sorted(set(offsets)):
            raise ValueError('frame_offsets must be strictly increasing and end '
                             f'with 0 (the current frame), got {frame_offsets}')
        self.cameras = cameras
        self.frame_offsets = offsets
        self.use_valid_flag = use_valid_flag
        self.filter_empty_gt = filter_empty_gt
        self._frames = {}
        super().__init__(ann_file=ann_file, **kwargs)

    # ------------------------------------------------------------------ load
    def load_data_list(self):
        path = str(self.ann_file)
        raw = load_infos(path)
        if not isinstance(raw, dict) or 'data_list' not in raw:
            keys = sorted(raw) if isinstance(raw, dict) else type(raw).__name__
            raise ValueError(f'{path} is not an infos file of '
                             'create_nuscenes_infos.py: expected keys metainfo '
                             f'and data_list, got {keys}')
        meta = raw.get('metainfo') or {}
        first = raw['data_list'][0] if raw['data_list'] else {}
        if (meta.get('format') != INFOS_FORMAT
                or meta.get('format_version') != INFOS_FORMAT_VERSION):
            missing = [f for f in SAMPLE_FIELDS if f not in first]
            raise ValueError(
                f'{path} was written by another converter or version: '
                f'metainfo.format={meta.get("format")!r}, '
                f'metainfo.format_version={meta.get("format_version")!r} '
                f'(expected {INFOS_FORMAT!r}, {INFOS_FORMAT_VERSION}); first '
                f'sample {first.get("token", first.get("sample_idx"))!r} '
                f'lacks {missing}. Re-run '
                'tools/dataset_converters/create_nuscenes_infos.py')
        if tuple(meta.get('classes', ())) != CLASSES:
            raise ValueError(f'{path}: metainfo.classes {meta.get("classes")} '
                             f'differ from the project order {CLASSES}')
        self._infos_meta = meta
        self._frames = {}
        for info in raw['data_list']:
            self._check_sample(info, path)
            self._frames[info['token']] = info
        return [self.parse_data_info(info) for info in raw['data_list']]

    def _check_sample(self, info, path):
        tok = info.get('token', '<no token>')
        for field in SAMPLE_FIELDS:
            if info.get(field) is None:
                raise ValueError(f'{path}: sample {tok} has no {field!r}')
        _matrix(info['lidar2ego'], (4, 4), f'sample {tok}: lidar2ego')
        _matrix(info['ego2global'], (4, 4), f'sample {tok}: ego2global')
        for cam in self.cameras:
            if cam not in info['cams']:
                raise ValueError(f'{path}: sample {tok} has no camera {cam} '
                                 f'(cams: {sorted(info["cams"])})')
            for field in CAMERA_FIELDS:
                if info['cams'][cam].get(field) is None:
                    raise ValueError(f'{path}: sample {tok} has no '
                                     f'cams.{cam}.{field}')
            _matrix(info['cams'][cam]['cam2img'], (3, 3),
                    f'sample {tok}: cams.{cam}.cam2img')
            _matrix(info['cams'][cam]['lidar2cam'], (4, 4),
                    f'sample {tok}: cams.{cam}.lidar2cam')
        for i, inst in enumerate(info['instances']):
            for field in INSTANCE_FIELDS:
                if field not in inst:
                    raise ValueError(f'{path}: sample {tok} instance {i} has '
                                     f'no {field!r}')

    def parse_data_info(self, info):
        classes = list(self.metainfo['classes'])
        boxes, labels, names, attrs, speeds, pts = [], [], [], [], [], []
        for inst in info['instances']:
            if self.use_valid_flag and not inst['valid_flag']:
                continue
            row = [math.nan if v is None else float(v) for v in inst['bbox_3d']]
            name = inst['detection_name']
            speeds.append(math.hypot(row[7], row[8]))
            row[7:9] = [0.0 if math.isnan(v) else v for v in row[7:9]]
            boxes.append(row)
            names.append(name or '')
            labels.append(classes.index(name) if name in classes else -1)
            attrs.append(ATTRIBUTE_IDS.get(inst['attribute'], -1))
            pts.append(inst['num_lidar_pts'] + inst['num_radar_pts'])
        return dict(
            token=info['token'], scene_token=info['scene_token'],
            sample_idx=info.get('sample_idx'), timestamp=info['timestamp'],
            lidar2ego=np.asarray(info['lidar2ego'], np.float64),
            ego2global=np.asarray(info['ego2global'], np.float64),
            gt_bboxes_3d=np.asarray(boxes, np.float64).reshape(-1, 9),
            gt_labels_3d=np.asarray(labels, np.int64),
            gt_names=np.asarray(names, dtype=object),
            gt_attr_labels=np.asarray(attrs, np.int64),
            gt_speeds=np.asarray(speeds, np.float32),
            gt_num_pts=np.asarray(pts, np.int64))

    def filter_data(self):
        if self.test_mode or not self.filter_empty_gt:
            return self.data_list
        return [d for d in self.data_list if (d['gt_labels_3d'] >= 0).any()]

    # ------------------------------------------------------------- temporal
    def history_frame(self, token, offset):
        """``(info, valid)`` of the key frame ``offset`` (<= 0) steps before
        ``token`` in its scene, or the nearest real one with ``valid=False``."""
        info = self._frames[token]
        for _ in range(-offset):
            prev = self._frames.get(info['prev'])
            if prev is None or prev['scene_token'] != info['scene_token']:
                return info, False
            info = prev
        return info, True

    def assemble(self, data_info):
        """All frames and cameras of one sample as a pipeline results dict."""
        cur = self._frames[data_info['token']]
        cur_l2g = data_info['ego2global'] @ data_info['lidar2ego']
        root = Path(self.data_root or '')
        img_paths, cam2img, lidar2cam, valid, tokens = [], [], [], [], []
        for offset in self.frame_offsets:
            frame, ok = self.history_frame(cur['token'], offset)
            l2g = (np.asarray(frame['ego2global'], np.float64)
                   @ np.asarray(frame['lidar2ego'], np.float64))
            # current lidar -> this frame's lidar (identity for the current)
            cur2frame = np.linalg.inv(l2g) @ cur_l2g
            paths, ks, l2cs = [], [], []
            for cam in self.cameras:
                rec = frame['cams'][cam]
                paths.append(str(root / rec['data_path']))
                k4 = np.eye(4)
                k4[:3, :3] = rec['cam2img']
                ks.append(k4)
                l2cs.append(np.asarray(rec['lidar2cam'], np.float64) @ cur2frame)
            img_paths.append(paths)
            cam2img.append(ks)
            lidar2cam.append(l2cs)
            valid.append(ok)
            tokens.append(frame['token'])
        cam2img, lidar2cam = np.asarray(cam2img), np.asarray(lidar2cam)
        results = dict(data_info)
        results.update(
            gt_bboxes_3d=LiDARBoxes3D(data_info['gt_bboxes_3d']),
            ann_info=dict(bboxes_3d=data_info['gt_bboxes_3d'].copy(),
                          labels_3d=data_info['gt_labels_3d'],
                          attr_labels=data_info['gt_attr_labels'],
                          speeds=data_info['gt_speeds'],
                          num_pts=data_info['gt_num_pts']),
            frame_offsets=np.asarray(self.frame_offsets, np.int64),
            frame_valid=np.asarray(valid, bool), frame_tokens=tokens,
            cam_names=list(self.cameras), img_paths=img_paths,
            cam2img=cam2img, lidar2cam=lidar2cam, lidar2img=cam2img @ lidar2cam,
            bda_mat=np.eye(4), classes=list(self.metainfo['classes']))
        return results

    def prepare_data(self, idx):
        return self.pipeline(self.assemble(self.get_data_info(idx)))
