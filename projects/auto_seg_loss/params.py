"""Target metrics, their functions, and loading/validation of parameter files.

A parameter file (JSON) holds the searched functions of one loss::

    {"target_metric": "mIoU",
     "functions": {"h_and": {"ctrl_points": [c1x, c1y, jx, jy, c2x, c2y],
                             "theta": [...]},            # optional
                   "h_or": {...}},
     "source": "...", "log": "...", "notes": "..."}

``ctrl_points`` are the inner points ((0, 0) and (1, 1) are implied);
``theta`` is the search-space point that :func:`theta_to_control_points`
maps to them (either may be given; with both they must agree). The
released files live in ``projects/auto_seg_loss/params/``.
"""
import json
import os.path as osp

import torch

from .bezier import check_control_points, theta_to_control_points

# target metric -> (function names in the official flat order, pieces each)
FUNCTIONS = {
    'mIoU': (('h_and', 'h_or'), 2),
    'FWIoU': (('h_and', 'h_or'), 2),
    'BIoU': (('h_and', 'h_or'), 2),
    'mAcc': (('h', ), 2),
    'gAcc': (('h', ), 2),
    'BF1': (('h_and_p', 'h_and_eroded', 'h_or_p', 'h_or_eroded'), 1),
}
TARGET_METRICS = tuple(FUNCTIONS)

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
PARAMS_DIR = osp.join(osp.dirname(osp.abspath(__file__)), 'params')


def check_target_metric(target_metric, where='AutoSegLoss'):
    if target_metric not in FUNCTIONS:
        close = [m for m in TARGET_METRICS
                 if m.lower() == str(target_metric).lower()]
        hint = f"; did you mean '{close[0]}'?" if close else ''
        raise ValueError(f'{where}: unknown target_metric '
                         f'{target_metric!r}; expected one of '
                         f'{TARGET_METRICS}{hint}')


def split_flat(values, target_metric, where, key='ctrl_points'):
    """Split a flat official vector (or a per-function list) into one list
    per function; errors name ``where`` and the function."""
    names, pieces = FUNCTIONS[target_metric]
    block = 2 * (2 * pieces - 1)
    if isinstance(values, torch.Tensor):
        values = values.detach().reshape(-1).tolist()
    values = list(values)
    if values and all(isinstance(v, (list, tuple)) for v in values):
        rows = [list(v) for v in values]
    else:
        rows = [values[i:i + block] for i in range(0, len(values), block)]
        if len(values) != block * len(names):
            raise ValueError(
                f'{where}: {target_metric} needs {len(names)} function(s) '
                f'{names} of {block} numbers ({block * len(names)} in all), '
                f'got {len(values)}')
    if len(rows) != len(names):
        raise ValueError(f'{where}: {target_metric} needs {len(names)} '
                         f'rows {names}, got {len(rows)}')
    out = []
    for name, row in zip(names, rows):
        if key == 'theta':
            check_theta(row, block, f'{where}: function {name} theta')
            row = theta_to_control_points(row, 1, pieces).tolist()
        out.append(check_control_points(row, pieces,
                                        f'{where}: function {name} {key}'))
    return out


def check_theta(row, block, where):
    try:
        vals = [float(v) for v in row]
    except (TypeError, ValueError):
        raise ValueError(f'{where}: expected {block} numbers, got {row!r}'
                         ) from None
    if len(vals) != block:
        raise ValueError(f'{where}: expected {block} numbers, got '
                         f'{len(vals)}: {vals}')
    if any(not (0.0 <= v <= 1.0) for v in vals):
        raise ValueError(f'{where}: values must lie in [0, 1], got {vals}')
    return vals


def resolve_path(path):
    """``path`` as given, relative to the repository root, or a bare file
    name in ``projects/auto_seg_loss/params``."""
    for cand in (path, osp.join(REPO_ROOT, path), osp.join(PARAMS_DIR, path)):
        if osp.isfile(cand):
            return cand
    return path


def load_params(path, target_metric=None):
    """Read and validate a parameter file.

    Args:
        path (str): the JSON file.
        target_metric (str, optional): the loss's metric; must match the
            file's.

    Returns:
        tuple: (list of control-point rows in :data:`FUNCTIONS` order,
        the file's metric, the parsed document).
    """
    path = resolve_path(path)
    try:
        with open(path, encoding='utf-8') as f:
            doc = json.load(f)
    except FileNotFoundError:
        raise FileNotFoundError(f'Auto Seg-Loss parameter file {path} does '
                                f'not exist') from None
    except json.JSONDecodeError as err:
        raise ValueError(f'Auto Seg-Loss parameter file {path} is not valid '
                         f'JSON: {err.msg} at line {err.lineno}') from None
    if not isinstance(doc, dict):
        raise ValueError(f'{path}: expected a JSON object')
    metric = doc.get('target_metric')
    check_target_metric(metric, where=path)
    if target_metric is not None and target_metric != metric:
        raise ValueError(f'{path}: the file holds {metric} functions but the '
                         f'loss has target_metric={target_metric!r}')
    names, pieces = FUNCTIONS[metric]
    block = 2 * (2 * pieces - 1)
    functions = doc.get('functions')
    if not isinstance(functions, dict):
        raise ValueError(f"{path}: expected a 'functions' object with "
                         f'{names}')
    unknown = sorted(set(functions) - set(names))
    if unknown:
        raise ValueError(f'{path}: unknown functions {unknown} for {metric}; '
                         f'expected {names}')
    rows = []
    for name in names:
        fn = functions.get(name)
        where = f'{path}: function {name}'
        if not isinstance(fn, dict) or not ({'ctrl_points', 'theta'} & set(fn)):
            raise ValueError(f'{where} needs ctrl_points or theta, got {fn!r}')
        row = None
        if 'theta' in fn:
            check_theta(fn['theta'], block, f'{where} theta')
            row = theta_to_control_points(fn['theta'], 1, pieces).tolist()
        if 'ctrl_points' in fn:
            pts = check_control_points(fn['ctrl_points'], pieces,
                                       f'{where} ctrl_points')
            if row is not None and max(
                    abs(a - b) for a, b in zip(row, pts)) > 1e-5:
                raise ValueError(f'{where}: theta maps to {row}, which '
                                 f'differs from ctrl_points {pts}')
            row = pts
        rows.append(check_control_points(row, pieces, where))
    return rows, metric, doc
