"""Loading and validation of PAP parameter files (JSON).

A file holds, per function (H2, I2, I3, I1, H1; H1 may be absent, meaning the
exact step), the four inner control points ``[x1, y1, ..., x4, y4]`` and/or
the search parameters ``theta`` that map to them, plus the box gradient scale
``reg_weight`` and metadata (detector, head, source). The released files are
in ``projects/pap_loss/params/``.
"""
import json
import os.path as osp

from .functions import OFFICIAL_ROW_ORDER, theta_to_points

PACKAGE_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def resolve_path(path):
    """``path`` as given, or relative to the repository root."""
    if osp.isabs(path) or osp.isfile(path):
        return path
    return osp.join(PACKAGE_ROOT, path)


def _check_row(path, name, key, row):
    where = f'{path}: function {name} {key}'
    if not (isinstance(row, list) and len(row) == 8
            and all(isinstance(v, (int, float)) for v in row)):
        raise ValueError(f'{where}: expected 8 numbers [x1, y1, ..., x4, '
                         f'y4], got {row!r}')
    if any(v < 0 or v > 1 for v in row):
        raise ValueError(f'{where}: values must lie in [0, 1], got {row}')
    if key == 'ctrl_points':
        xs, ys = row[0::2], row[1::2]
        if any(a > b for a, b in zip(xs, xs[1:])) or any(
                a > b for a, b in zip(ys, ys[1:])):
            raise ValueError(f'{where}: control points must be '
                             f'non-decreasing in x and y, got {row}')


def load_params(path):
    """Read a parameter file; return ``(ctrl_point rows in official order,
    doc)``. Every problem names the file and the function row."""
    path = resolve_path(path)
    try:
        with open(path, encoding='utf-8') as f:
            doc = json.load(f)
    except FileNotFoundError:
        raise FileNotFoundError(f'PAP parameter file {path} does not exist'
                                ) from None
    except json.JSONDecodeError as err:
        raise ValueError(f'PAP parameter file {path} is not valid JSON: '
                         f'{err.msg} at line {err.lineno}') from None
    functions = doc.get('functions') if isinstance(doc, dict) else None
    if not isinstance(functions, dict):
        raise ValueError(f"{path}: expected a 'functions' object with "
                         f'{OFFICIAL_ROW_ORDER}')
    names = list(OFFICIAL_ROW_ORDER)
    if 'H1' not in functions:
        names.remove('H1')  # exact-step H1
    rows = []
    for name in names:
        fn = functions.get(name)
        if not isinstance(fn, dict) or not ({'ctrl_points', 'theta'} & set(fn)):
            raise ValueError(f'{path}: function {name} needs ctrl_points or '
                             f'theta, got {fn!r}')
        for key in ('ctrl_points', 'theta'):
            if key in fn:
                _check_row(path, name, key, fn[key])
        rows.append(fn['ctrl_points'] if 'ctrl_points' in fn else
                    theta_to_points(fn['theta']).reshape(-1).tolist())
    unknown = set(functions) - set(OFFICIAL_ROW_ORDER)
    if unknown:
        raise ValueError(f'{path}: unknown functions {sorted(unknown)}; '
                         f'expected {OFFICIAL_ROW_ORDER}')
    return rows, doc
