"""Official BEVFormer infos (``nuscenes_infos_temporal_<split>.pkl``, the
mmdet3d 0.17 layout of the official ``tools/create_data.py``) read safely and
converted on load into the project's infos (``{metainfo, data_list}``).

The pickle is read by a restricted unpickler: only plain Python data and
numpy array reconstruction are allowed; any other global is refused.
"""
import _compat_pickle
import io
import json
import math
import pickle
from pathlib import PurePosixPath

import numpy as np
from mmengine.fileio import get

from .converter import (BOX_CONVENTION, CAMERAS, CLASSES, INFOS_FORMAT,
                        INFOS_FORMAT_VERSION)

# (module, name) globals a plain-data pickle of numpy arrays needs (numpy 1.x
# and 2.x module paths; ``_codecs.encode`` carries bytes in protocol 2).
SAFE_GLOBALS = frozenset([
    ('numpy', 'ndarray'), ('numpy', 'dtype'),
    ('numpy.core.multiarray', '_reconstruct'), ('numpy._core.multiarray', '_reconstruct'),
    ('numpy.core.multiarray', 'scalar'), ('numpy._core.multiarray', 'scalar'),
    ('numpy.core.numeric', '_frombuffer'), ('numpy._core.numeric', '_frombuffer'),
    ('_codecs', 'encode'), ('collections', 'OrderedDict'),
    ('builtins', 'set'), ('builtins', 'frozenset'), ('builtins', 'complex'),
    ('builtins', 'bytearray')])
SAMPLE_KEYS = ('token', 'scene_token', 'timestamp', 'prev', 'next', 'cams',
               'lidar2ego_translation', 'lidar2ego_rotation',
               'ego2global_translation', 'ego2global_rotation')
CAMERA_KEYS = ('data_path', 'cam_intrinsic', 'sensor2lidar_rotation',
               'sensor2lidar_translation')
GT_KEYS = ('gt_boxes', 'gt_names', 'gt_velocity', 'num_lidar_pts', 'num_radar_pts',
           'valid_flag')
# devkit split scored for each official version (as the official evaluation)
EVAL_SPLITS = {'v1.0-trainval': 'val', 'v1.0-mini': 'mini_val', 'v1.0-test': 'test'}


class _RestrictedUnpickler(pickle.Unpickler):

    def __init__(self, file, path):
        super().__init__(file)
        self.path = path

    def find_class(self, module, name):
        # protocol-2 pickles name Python 2 modules (__builtin__, copy_reg ...)
        if (module, name) in _compat_pickle.NAME_MAPPING:
            module, name = _compat_pickle.NAME_MAPPING[(module, name)]
        module = _compat_pickle.IMPORT_MAPPING.get(module, module)
        if (module, name) in SAFE_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(
            f'{self.path}: refused to unpickle the global {module}.{name} (an infos '
            '.pkl may hold only plain data and numpy arrays)')


def safe_load_pickle(path):
    """Unpickle ``path`` allowing only plain data and numpy arrays; anything
    else raises ``pickle.UnpicklingError`` naming the file and the global."""
    return _RestrictedUnpickler(io.BytesIO(get(str(path))), str(path)).load()


def _pose(rotation, translation, where):
    """4x4 float64 matrix of a (w, x, y, z) quaternion and a translation."""
    q = np.asarray(rotation, dtype=np.float64).reshape(-1)
    t = np.asarray(translation, dtype=np.float64).reshape(-1)
    if q.shape != (4, ) or t.shape != (3, ) or not np.isfinite(q).all() \
            or not np.isfinite(t).all() or np.linalg.norm(q) < 1e-6:
        raise ValueError(f'{where}: expected a (w, x, y, z) quaternion and a '
                         f'3-vector, got {rotation!r} and {translation!r}')
    w, x, y, z = q / np.linalg.norm(q)
    mat = np.eye(4)
    mat[:3, :3] = [[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                   [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                   [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]]
    mat[:3, 3] = t
    return mat


def data_path_under_root(path):
    """An official (cwd- or root-prefixed) file path -> the path relative to
    the nuScenes root from its ``samples/`` or ``sweeps/`` folder on
    (unchanged if it has neither)."""
    parts = PurePosixPath(str(path).replace('\\', '/')).parts
    for i in range(len(parts) - 1, -1, -1):
        if parts[i] in ('samples', 'sweeps'):
            return str(PurePosixPath(*parts[i:]))
    return str(path)


def _array(info, key, shape, where):
    arr = np.asarray(info[key], dtype=np.float64)
    if arr.shape != shape:
        raise ValueError(f'{where}: {key} must have shape {shape}, got {arr.shape}')
    return arr


def _camera(rec, where):
    missing = [k for k in CAMERA_KEYS if k not in rec]
    if missing:
        raise ValueError(f'{where} has no {missing}')
    rot = _array(rec, 'sensor2lidar_rotation', (3, 3), where)
    cam2lidar = np.eye(4)
    cam2lidar[:3, :3] = rot
    cam2lidar[:3, 3] = _array(rec, 'sensor2lidar_translation', (3, ), where)
    out = dict(data_path=data_path_under_root(rec['data_path']),
               cam2img=_array(rec, 'cam_intrinsic', (3, 3), where).tolist(),
               lidar2cam=np.linalg.inv(cam2lidar).tolist(),
               sample_data_token=rec.get('sample_data_token'),
               timestamp=rec.get('timestamp'))
    if 'sensor2ego_rotation' in rec and 'ego2global_rotation' in rec:
        out['cam2ego'] = _pose(rec['sensor2ego_rotation'], rec['sensor2ego_translation'],
                               f'{where}.sensor2ego').tolist()
        out['ego2global'] = _pose(rec['ego2global_rotation'], rec['ego2global_translation'],
                                  f'{where}.ego2global').tolist()
    return out


def _instances(info, where):
    """Official ``gt_*`` arrays -> project instances (bottom centre, l/w
    swapped back, yaw = -yaw_0.17 - pi/2, NaN velocity -> None)."""
    if 'gt_boxes' not in info:  # the test split has no annotations
        return []
    missing = [k for k in GT_KEYS if k not in info]
    if missing:
        raise ValueError(f'{where} has gt_boxes but no {missing}')
    boxes = np.asarray(info['gt_boxes'], dtype=np.float64).reshape(-1, 7)
    n = len(boxes)
    vel = np.asarray(info['gt_velocity'], dtype=np.float64).reshape(-1, 2)
    cols = {k: np.asarray(info[k]).reshape(-1) for k in GT_KEYS[1:] if k != 'gt_velocity'}
    if len(vel) != n or any(len(v) != n for v in cols.values()):
        lens = dict(gt_boxes=n, gt_velocity=len(vel), **{k: len(v) for k, v in cols.items()})
        raise ValueError(f'{where}: gt_* arrays differ in length: {lens}')
    out = []
    for i, (x, y, z, w, length, h, yaw) in enumerate(boxes):
        yaw = -yaw - math.pi / 2
        yaw -= math.floor(yaw / (2 * math.pi) + 0.5) * 2 * math.pi
        row = [x, y, z - h / 2, length, w, h, yaw, vel[i, 0], vel[i, 1]]
        name = str(cols['gt_names'][i])
        out.append(dict(
            category=name, detection_name=name if name in CLASSES else None,
            bbox_3d=[float(v) if np.isfinite(v) else None for v in row],
            attribute='', num_lidar_pts=int(cols['num_lidar_pts'][i]),
            num_radar_pts=int(cols['num_radar_pts'][i]),
            valid_flag=bool(cols['valid_flag'][i])))
    return out


def from_official_infos(raw, path):
    """Official ``{'infos': [...], 'metadata': {'version': ...}}`` -> project
    infos ``{'metainfo', 'data_list'}`` (samples sorted by timestamp, as
    mmdet3d 0.17 loads them). Attributes are not in the official infos: every
    instance gets ``attribute=''`` (no attribute target)."""
    if not isinstance(raw, dict) or not isinstance(raw.get('infos'), list):
        keys = sorted(map(str, raw)) if isinstance(raw, dict) else type(raw).__name__
        raise ValueError(f'{path} is not an official BEVFormer infos .pkl: expected a '
                         f"dict with an 'infos' list and 'metadata', got {keys}")
    meta = raw.get('metadata') or {}
    version = meta.get('version')
    data_list = []
    for i, info in enumerate(raw['infos']):
        where = f'{path}: infos[{i}]'
        if not isinstance(info, dict):
            raise ValueError(f'{where} is not a dict')
        where += f' (token {info.get("token")!r})'
        missing = [k for k in SAMPLE_KEYS if k not in info]
        if missing:
            raise ValueError(f'{where} has no {missing}')
        if not isinstance(info['cams'], dict):
            raise ValueError(f'{where}: cams must be a dict of cameras')
        data_list.append(dict(
            token=info['token'], scene_token=info['scene_token'],
            frame_idx=info.get('frame_idx'), timestamp=int(info['timestamp']),
            prev=info['prev'], next=info['next'],
            lidar_path=data_path_under_root(info.get('lidar_path', '')),
            lidar2ego=_pose(info['lidar2ego_rotation'], info['lidar2ego_translation'],
                            f'{where}.lidar2ego').tolist(),
            ego2global=_pose(info['ego2global_rotation'], info['ego2global_translation'],
                             f'{where}.ego2global').tolist(),
            cams={cam: _camera(rec, f'{where}.cams.{cam}')
                  for cam, rec in info['cams'].items()},
            instances=_instances(info, where)))
    data_list.sort(key=lambda d: d['timestamp'])
    for idx, d in enumerate(data_list):
        d['sample_idx'] = idx
    metainfo = dict(format=INFOS_FORMAT, format_version=INFOS_FORMAT_VERSION,
                    version=version, split=None, eval_split=EVAL_SPLITS.get(version),
                    classes=list(CLASSES), cameras=list(CAMERAS),
                    box_convention=BOX_CONVENTION, source='official BEVFormer .pkl')
    return dict(metainfo=metainfo, data_list=data_list)


def load_infos(path):
    """The project infos of ``path``: our JSON as is, an official ``.pkl``
    through :func:`safe_load_pickle` and :func:`from_official_infos`."""
    path = str(path)
    if path.endswith('.pkl'):
        return from_official_infos(safe_load_pickle(path), path)
    if path.endswith('.json'):
        return json.loads(get(path))
    raise ValueError(f'{path}: expected the JSON infos of tools/dataset_converters/'
                     'create_nuscenes_infos.py or an official BEVFormer .pkl')
