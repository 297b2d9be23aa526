"""nuScenes infos files (``create_nuscenes_infos.py``): the camera images of
every sample exist and its matrices are well formed (3x3 intrinsics, 4x4 rigid
poses with a rotation block and a translation column, all finite)."""
import os.path as osp

import numpy as np

from .errors import describe
from .values import is_number

POSES = ('lidar2ego', 'ego2global')
CAMERA_POSES = ('cam2ego', 'ego2global', 'lidar2cam')


def _array(value):
    """``value`` as a float64 array, or None if it is not a numeric array."""
    if isinstance(value, (str, bytes, dict)) or value is None:
        return None
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError, OverflowError):
        return None
    return arr


def intrinsics_problem(value):
    """Why ``value`` is not a camera matrix ``[[fx, 0, cx], [0, fy, cy],
    [0, 0, 1]]`` (finite, non-zero focal lengths), or ''."""
    arr = _array(value)
    if arr is None or arr.shape != (3, 3):
        got = describe(value) if arr is None else f'shape {arr.shape}'
        return f'expected a 3x3 intrinsics matrix, got {got}'
    if not np.isfinite(arr).all():
        return 'has non-finite entries'
    if not np.allclose(arr[2], (0, 0, 1)) or arr[0, 0] == 0 or arr[1, 1] == 0:
        return (f'expected rows [fx, s, cx], [0, fy, cy], [0, 0, 1] with '
                f'fx, fy != 0, got {arr.tolist()}')
    return ''


def pose_problem(value, atol=1e-3):
    """Why ``value`` is not a rigid 4x4 transform (a 3x3 rotation, a
    3-vector translation, last row ``0 0 0 1``, all finite), or ''."""
    arr = _array(value)
    if arr is None or arr.shape != (4, 4):
        got = describe(value) if arr is None else f'shape {arr.shape}'
        return f'expected a 4x4 transform, got {got}'
    if not np.isfinite(arr).all():
        return 'has non-finite entries'
    if not np.allclose(arr[3], (0, 0, 0, 1)):
        return f'last row must be [0, 0, 0, 1], got {arr[3].tolist()}'
    rot = arr[:3, :3]
    if (not np.allclose(rot @ rot.T, np.eye(3), atol=atol)
            or abs(np.linalg.det(rot) - 1) > atol):
        return f'rotation block is not a rotation: {rot.round(4).tolist()}'
    return ''


def _box_problem(box):
    ok = (isinstance(box, list) and len(box) == 9
          and all(is_number(v) for v in box[:7])
          and all(v is None or is_number(v) for v in box[7:]))
    return '' if ok else (
        'bbox_3d must be 9 numbers (x, y, z, l, w, h, yaw finite; vx, vy '
        f'finite or null), got {describe(box)}')


def sample_problems(info, index, cameras, data_root):
    """Problems of one ``data_list`` entry."""
    if not isinstance(info, dict):
        return [f'data_list[{index}]: expected an object, got '
                f'{describe(info)}']
    where = f'data_list[{index}] (token {info.get("token")!r})'
    problems = [f'{where}: {key} {why}' for key in POSES
                if (why := pose_problem(info.get(key)))]
    cams = info.get('cams')
    if not isinstance(cams, dict):
        return problems + [f'{where}: cams must be an object of cameras, got '
                           f'{describe(cams)}']
    for cam in cameras or sorted(cams):
        rec = cams.get(cam)
        if not isinstance(rec, dict):
            problems.append(f'{where}: cams.{cam} is missing or not an object'
                            f' (cams: {sorted(cams)})')
            continue
        if why := intrinsics_problem(rec.get('cam2img')):
            problems.append(f'{where}: cams.{cam}.cam2img {why}')
        problems += [f'{where}: cams.{cam}.{key} {why}'
                     for key in CAMERA_POSES
                     if (why := pose_problem(rec.get(key)))]
        path = rec.get('data_path')
        if not isinstance(path, str) or not path:
            problems.append(f'{where}: cams.{cam}.data_path must be a file '
                            f'path, got {describe(path)}')
        elif data_root is not None and not osp.isfile(
                osp.join(data_root, path)):
            problems.append(f'{where}: cams.{cam}.data_path '
                            f'{osp.join(data_root, path)} does not exist')
    instances = info.get('instances')
    if not isinstance(instances, list):
        return problems + [f'{where}: instances must be a list, got '
                           f'{describe(instances)}']
    for i, inst in enumerate(instances):
        box = inst.get('bbox_3d') if isinstance(inst, dict) else inst
        if why := _box_problem(box):
            problems.append(f'{where}: instances[{i}].{why}')
    return problems


def infos_problems(doc, cameras=None, data_root=None):
    """Problems of a loaded infos document (empty if valid); image files are
    looked for under ``data_root`` unless it is None (a metric's infos)."""
    if not isinstance(doc, dict) or not isinstance(doc.get('data_list'),
                                                   list):
        return ['expected an object with metainfo and a data_list list, got '
                + (f'keys {sorted(map(str, doc))}' if isinstance(doc, dict)
                   else describe(doc))]
    meta = doc.get('metainfo')
    problems = [] if isinstance(meta, dict) else [
        f'metainfo must be an object, got {describe(meta)}']
    for i, info in enumerate(doc['data_list']):
        problems += sample_problems(info, i, cameras, data_root)
    return problems
