"""nuScenes root -> the project's infos files (JSON), through nuscenes-devkit.

``nuscenes_infos_<split>.json`` = ``{"metainfo": {...}, "data_list": [...]}``
(mmengine ``BaseDataset`` layout); see projects/bevformer_v2/DATA.md for every
field. Boxes are stored in the project convention (lidar frame,
``(x, y, z_bottom, l, w, h, yaw, vx, vy)``); an unknown velocity is ``null``.
"""
import json
import os
from pathlib import Path

import numpy as np

INFOS_FORMAT = 'visionplug.bevformer_v2.nuscenes_infos'
INFOS_FORMAT_VERSION = 1
CLASSES = ('barrier', 'bicycle', 'bus', 'car', 'construction_vehicle',
           'motorcycle', 'pedestrian', 'traffic_cone', 'trailer', 'truck')
CAMERAS = ('CAM_FRONT', 'CAM_FRONT_RIGHT', 'CAM_FRONT_LEFT', 'CAM_BACK',
           'CAM_BACK_LEFT', 'CAM_BACK_RIGHT')
BOX_CONVENTION = 'lidar (x, y, z_bottom, l, w, h, yaw, vx, vy)'


def default_splits(version, root):
    """``{infos split: devkit split}`` for a version: the official splits for
    v1.0-trainval / -mini / -test, else every key of ``<version>/splits.json``
    whose name ends in ``_train``, ``_val`` or ``_test``."""
    if version.endswith('trainval'):
        return dict(train='train', val='val')
    if version.endswith('mini'):
        return dict(train='mini_train', val='mini_val')
    if version.endswith('test'):
        return dict(test='test')
    path = Path(root) / version / 'splits.json'
    if not path.is_file():
        raise ValueError(f'version {version!r} has no official splits and '
                         f'{path} does not exist; pass splits explicitly')
    splits = {}
    for key in json.loads(path.read_text()):
        suffix = key.rsplit('_', 1)[-1]
        if suffix in ('train', 'val', 'test'):
            splits[suffix] = key
    if not splits:
        raise ValueError(f'{path} has no key ending in _train, _val or _test')
    return splits


def pose_matrix(record):
    """4x4 float64 matrix of a devkit record with rotation (wxyz) and translation."""
    from pyquaternion import Quaternion
    mat = np.eye(4)
    mat[:3, :3] = Quaternion(record['rotation']).rotation_matrix
    mat[:3, 3] = record['translation']
    return mat


def _get(nusc, table, tok, sample_token, field):
    try:
        return nusc.get(table, tok)
    except KeyError:
        raise ValueError(f'sample {sample_token}: {field} refers to a missing '
                         f'{table} record {tok!r}') from None


def _sensor(nusc, sample, channel):
    """(sample_data, calibrated_sensor, ego_pose) records of one channel."""
    tok = sample['token']
    if channel not in sample['data']:
        raise ValueError(f'sample {tok}: no sample_data for sensor {channel} '
                         f'(has {sorted(sample["data"])})')
    sd = _get(nusc, 'sample_data', sample['data'][channel], tok,
              f'data.{channel}')
    cs = _get(nusc, 'calibrated_sensor', sd['calibrated_sensor_token'], tok,
              f'{channel}.calibrated_sensor_token')
    pose = _get(nusc, 'ego_pose', sd['ego_pose_token'], tok,
                f'{channel}.ego_pose_token')
    return sd, cs, pose


def sample_info(nusc, sample, root, frame_idx, check_files=True):
    """The infos entry of one devkit sample."""
    from nuscenes.eval.detection.utils import category_to_detection_name
    tok = sample['token']
    sd, cs, pose = _sensor(nusc, sample, 'LIDAR_TOP')
    if check_files and not (Path(root) / sd['filename']).is_file():
        raise FileNotFoundError(f'sample {tok}: lidar_path {sd["filename"]} '
                                f'does not exist under {root}')
    lidar2ego, ego2global = pose_matrix(cs), pose_matrix(pose)
    global2lidar = np.linalg.inv(ego2global @ lidar2ego)
    cams = {}
    for cam in CAMERAS:
        csd, ccs, cpose = _sensor(nusc, sample, cam)
        cam2ego, cam_e2g = pose_matrix(ccs), pose_matrix(cpose)
        lidar2cam = np.linalg.inv(cam_e2g @ cam2ego) @ ego2global @ lidar2ego
        if len(ccs['camera_intrinsic']) != 3:
            raise ValueError(f'sample {tok}: {cam}.camera_intrinsic is not 3x3')
        cams[cam] = dict(
            data_path=csd['filename'], sample_data_token=csd['token'],
            timestamp=csd['timestamp'], cam2img=ccs['camera_intrinsic'],
            cam2ego=cam2ego.tolist(), ego2global=cam_e2g.tolist(),
            lidar2cam=lidar2cam.tolist())
    instances = []
    for ann_tok in sample['anns']:
        ann = _get(nusc, 'sample_annotation', ann_tok, tok, 'anns')
        box = nusc.get_box(ann_tok)
        box.velocity = nusc.box_velocity(ann_tok)
        box.velocity[2] = 0.0
        bbox = _box_row(box, global2lidar)  # float64, project convention
        attrs = [nusc.get('attribute', a)['name'] for a in ann['attribute_tokens']]
        instances.append(dict(
            token=ann_tok, instance_token=ann['instance_token'],
            category=ann['category_name'],
            detection_name=category_to_detection_name(ann['category_name']),
            bbox_3d=[None if not np.isfinite(v) else float(v) for v in bbox],
            attribute=attrs[0] if attrs else '',
            visibility=ann['visibility_token'],
            num_lidar_pts=int(ann['num_lidar_pts']),
            num_radar_pts=int(ann['num_radar_pts']),
            valid_flag=bool(ann['num_lidar_pts'] + ann['num_radar_pts'] > 0)))
    return dict(
        token=tok, scene_token=sample['scene_token'], frame_idx=frame_idx,
        timestamp=sample['timestamp'], prev=sample['prev'], next=sample['next'],
        lidar_path=sd['filename'], lidar2ego=lidar2ego.tolist(),
        ego2global=ego2global.tolist(), cams=cams, instances=instances)


def _box_row(box, global2lidar):
    """Devkit global Box -> float64 ``(9,)`` lidar box (project convention)."""
    rot = global2lidar[:3, :3]
    center = rot @ box.center + global2lidar[:3, 3]
    head = rot @ box.rotation_matrix[:, 0]
    vel = rot @ np.asarray(box.velocity, dtype=np.float64)
    w, length, h = box.wlh
    yaw = np.arctan2(head[1], head[0])
    yaw = yaw - np.floor(yaw / (2 * np.pi) + 0.5) * 2 * np.pi
    return [center[0], center[1], center[2] - h / 2, length, w, h, yaw, vel[0],
            vel[1]]


def create_nuscenes_infos(root, version, out_dir=None, splits=None, nusc=None,
                          check_files=True):
    """Write ``nuscenes_infos_<split>.json`` for each split; return their paths.

    Args:
        root (str | Path): nuScenes root (holds ``<version>/`` and ``samples/``).
        version (str): e.g. ``v1.0-trainval``, ``v1.0-mini``, ``v1.0-test``.
        out_dir (str | Path, optional): defaults to ``root``.
        splits (dict, optional): ``{infos split: devkit split}``; defaults to
            :func:`default_splits`.
        nusc (NuScenes, optional): an already loaded devkit object.
        check_files (bool): check that every lidar file exists (as the
            official converter does).
    """
    from nuscenes.nuscenes import NuScenes
    from nuscenes.utils.splits import get_scenes_of_split
    root = Path(root)
    out_dir = Path(out_dir or root)
    out_dir.mkdir(parents=True, exist_ok=True)
    if nusc is None:
        nusc = NuScenes(version=version, dataroot=str(root), verbose=False)
    splits = splits or default_splits(version, root)
    paths = {}
    for name, devkit_split in splits.items():
        scene_names = set(get_scenes_of_split(devkit_split, nusc))
        data_list = []
        for scene in nusc.scene:
            if scene['name'] not in scene_names:
                continue
            sample_tok, frame_idx = scene['first_sample_token'], 0
            while sample_tok:
                sample = nusc.get('sample', sample_tok)
                info = sample_info(nusc, sample, root, frame_idx, check_files)
                info['scene_name'] = scene['name']
                info['sample_idx'] = len(data_list)
                data_list.append(info)
                sample_tok, frame_idx = sample['next'], frame_idx + 1
        metainfo = dict(
            format=INFOS_FORMAT, format_version=INFOS_FORMAT_VERSION,
            version=version, split=name, eval_split=devkit_split,
            classes=list(CLASSES), cameras=list(CAMERAS),
            box_convention=BOX_CONVENTION)
        path = out_dir / f'nuscenes_infos_{name}.json'
        tmp = Path(str(path) + f'.tmp{os.getpid()}')
        tmp.write_text(json.dumps(dict(metainfo=metainfo, data_list=data_list)))
        tmp.replace(path)
        paths[name] = path
    return paths
