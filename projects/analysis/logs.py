"""Read mmengine's JSON logs (``vis_data/scalars.json``, ``<timestamp>.json``:
one JSON dict per line), extract curves, plot several runs overlaid and
summarise the training time.

Training rows carry ``iter`` (and ``lr``, the losses, ``time`` = the mean
seconds per iteration over the logging window); validation rows carry the
metrics (``mIoU``, ``coco/bbox_mAP`` ...) and ``step`` (the iteration, or the
epoch in epoch-based runs). Old mmcv logs (``mode: train|val``) read too.
"""
import json
import math
from pathlib import Path


class LogKeyError(KeyError):
    """An unknown key; the message names the file and the available keys."""

    def __str__(self):
        return str(self.args[0])


def load_log(path):
    """The rows (dicts) of a JSON-lines log. ``FileNotFoundError`` naming a
    missing file; ``ValueError`` naming the file and line of a line that is
    not a JSON object, or an empty log."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f'log file {path} does not exist')
    rows = []
    with open(path, encoding='utf-8') as f:
        for num, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as err:
                raise ValueError(f'{path}, line {num}: not valid JSON '
                                 f'({err.msg} at column {err.colno}): '
                                 f'{line.strip()[:80]!r}') from None
            if not isinstance(row, dict):
                raise ValueError(f'{path}, line {num}: expected one JSON '
                                 f'object per line, got '
                                 f'{type(row).__name__}')
            rows.append(row)
    if not rows:
        raise ValueError(f'{path} has no log rows')
    return rows


def is_train_row(row):
    if 'mode' in row:
        return row['mode'] == 'train'
    return 'iter' in row or 'lr' in row


def available_keys(rows):
    """Every numeric key of the rows, in first-seen order, without the
    bookkeeping ones."""
    skip = {'step', 'iter', 'epoch', 'mode'}
    keys = []
    for row in rows:
        for key, val in row.items():
            if key not in skip and key not in keys and isinstance(
                    val, (int, float)) and not isinstance(val, bool):
                keys.append(key)
    return keys


def resolve_key(rows, key, path=''):
    """The log key meant by ``key``: itself, or the one key ending in
    ``/key`` (``bbox_mAP`` -> ``coco/bbox_mAP``)."""
    keys = available_keys(rows)
    if key in keys:
        return key
    matches = [k for k in keys if k.split('/')[-1] == key]
    if len(matches) == 1:
        return matches[0]
    what = f'ambiguous ({", ".join(matches)})' if matches else 'not found'
    raise LogKeyError(f"key '{key}' {what} in {path}; available keys: "
                      f'{", ".join(keys)}')


def curve(rows, key, path=''):
    """``(xs, ys, x_name)`` of ``key``: x = ``step`` (else ``iter``, else
    ``epoch``, else the row number)."""
    key = resolve_key(rows, key, path)
    xs, ys, names = [], [], set()
    for num, row in enumerate(rows):
        if key not in row or not isinstance(row[key], (int, float)):
            continue
        for name in ('step', 'iter', 'epoch'):
            if name in row:
                xs.append(row[name])
                names.add(name)
                break
        else:
            xs.append(num)
            names.add('row')
        ys.append(float(row[key]))
    return xs, ys, names.pop() if len(names) == 1 else 'step'


def run_label(path):
    """``<work dir>/<timestamp>`` for ``.../<timestamp>/vis_data/*.json``,
    else the file name without extension."""
    path = Path(path)
    if path.parent.name == 'vis_data':
        run = path.parent.parent
        return f'{run.parent.name}/{run.name}'
    return path.stem


def curves(paths, keys, labels=None):
    """``{key: [(label, xs, ys, x_name), ...]}`` for every log and key."""
    labels = list(labels) if labels else [run_label(p) for p in paths]
    if len(labels) != len(paths):
        raise ValueError(f'{len(labels)} legend labels for {len(paths)} logs')
    logs = [(p, load_log(p)) for p in paths]
    out = {}
    for key in keys:
        out[key] = [(label, *curve(rows, key, path))
                    for label, (path, rows) in zip(labels, logs)]
    return out


def plot_curves(paths, keys, out, labels=None, title=None):
    """Plot ``keys`` (one panel each) of every log overlaid; save to
    ``out``. Returns :func:`curves`' dict."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    data = curves(paths, keys, labels)
    fig = Figure(figsize=(7, 3.2 * len(keys)))
    FigureCanvasAgg(fig)
    for i, (key, runs) in enumerate(data.items()):
        ax = fig.add_subplot(len(keys), 1, i + 1)
        for label, xs, ys, _ in runs:
            ax.plot(xs, ys, marker='o' if len(xs) < 20 else None,
                    markersize=3, label=label)
        ax.set_xlabel(runs[0][3])
        ax.set_ylabel(key)
        ax.grid(alpha=0.3)
        ax.legend(fontsize='small')
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(str(out), dpi=100)
    return data


def train_time(rows, path='', include_outliers=False):
    """Seconds per training iteration from the rows' ``time``: a dict with
    ``rows`` (used), ``mean``, ``std``, ``slowest`` and ``fastest``
    (``(x, seconds)``, x = ``iter``/``step``) and ``total`` (mean x the last
    iteration). The first row (warm-up) is left out unless
    ``include_outliers``."""
    train = [r for r in rows if is_train_row(r) and 'time' in r]
    if not include_outliers and len(train) > 1:
        train = train[1:]
    if not train:
        raise LogKeyError(f"no training rows with 'time' in {path}; "
                          f'available keys: {", ".join(available_keys(rows))}')
    times = [float(r['time']) for r in train]
    xs = [r.get('iter', r.get('step', i)) for i, r in enumerate(train)]
    mean = sum(times) / len(times)
    std = math.sqrt(sum((t - mean) ** 2 for t in times) / len(times))
    slow = max(range(len(times)), key=times.__getitem__)
    fast = min(range(len(times)), key=times.__getitem__)
    last = max(r.get('iter', r.get('step', 0)) for r in train)
    return dict(rows=len(train), mean=mean, std=std,
                slowest=(xs[slow], times[slow]),
                fastest=(xs[fast], times[fast]), total=mean * last)


def format_train_time(path, stats):
    return '\n'.join([
        f'-----Analyze train time of {path}-----',
        f'slowest iter: {stats["slowest"][0]}, '
        f'{stats["slowest"][1]:.4f} s/iter',
        f'fastest iter: {stats["fastest"][0]}, '
        f'{stats["fastest"][1]:.4f} s/iter',
        f'time std over {stats["rows"]} logged windows: {stats["std"]:.4f}',
        f'average iter time: {stats["mean"]:.4f} s/iter',
        f'estimated training time: {stats["total"] / 3600:.2f} h'])
