"""The GPU check's table: one row per config (measured figures or a one-line
error), a header with the date, the machine and the versions, written as
markdown and JSON after every finished config so that a killed run leaves a
valid partial report."""
import json
import math
import os
import platform
import time
from importlib import metadata

COLUMNS = ('config', 'run', 'batch (train / infer)', 'AMP', 'params (M)',
           'train step (ms)', 'infer (ms)', 'peak (MB)', 'finite loss',
           'error')
PACKAGES = ('mmcv', 'mmengine', 'mmdet', 'mmsegmentation', 'mmpretrain',
            'numpy')


def environment(device):
    """Date, machine and versions for the header (a dict of strings)."""
    import torch
    env = dict(date=time.strftime('%Y-%m-%d %H:%M %Z'),
               python=platform.python_version(), torch=torch.__version__,
               cuda=str(torch.version.cuda),
               cudnn=str(torch.backends.cudnn.version()),
               cpus=str(os.cpu_count()))
    for name in PACKAGES:
        try:
            env[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            env[name] = 'not installed'
    if str(device).startswith('cuda') and torch.cuda.is_available():
        props = torch.cuda.get_device_properties(torch.device(device))
        env['machine'] = f'{props.name}, {props.total_memory / 2**30:.0f} GiB'
    else:
        env['machine'] = platform.processor() or platform.machine()
    return env


def passed(row):
    """No error, and a finite loss wherever a training step ran."""
    if row.get('error'):
        return False
    return row.get('train_ms') is None or (
        row.get('loss') is not None and math.isfinite(row['loss']))


def _num(value, fmt):
    return '-' if value is None else f'{value:{fmt}}'


def _cells(row):
    if row.get('error'):
        return [row['config'], row.get('what', ''), '', '', '', '', '', '',
                '', row['error'].replace('|', '/')]
    peaks = [p for p in (row.get('train_peak_mb'), row.get('infer_peak_mb'))
             if p is not None]
    loss = row.get('loss')
    finite = '-' if row.get('train_ms') is None else (
        f'yes ({loss:.4g})' if passed(row) else f'NO ({loss})')
    what = row.get('what', 'model')
    if row.get('infer_call', 'test_step') != 'test_step':
        what += f"; inference: {row['infer_call']}"
    return [row['config'], what,
            f"{row.get('train_batch') or '-'} / {row['infer_batch']}",
            'yes' if row.get('amp') else 'no', f"{row['params'] / 1e6:.2f}",
            _num(row.get('train_ms'), '.1f'), _num(row['infer_ms'], '.1f'),
            _num(max(peaks) if peaks else None, '.0f'), finite, '']


def markdown(rows, env, run, total=None):
    """The report: header (``env``, the ``run`` settings dict), summary and
    one table row per config, sorted by name; ``total`` configs expected
    (a partial report says how many are missing)."""
    ok = sum(passed(r) for r in rows)
    lines = ['# GPU check of the config zoo', '',
             f"- date: {env['date']}",
             f"- machine: {env['machine']}, {env['cpus']} CPU cores",
             '- versions: ' + ', '.join(
                 f'{k} {env[k]}' for k in ('python', 'torch', 'cuda',
                                           'cudnn') + PACKAGES),
             '- run: ' + ', '.join(f'{k} {v}' for k, v in run.items()),
             f'- result: {ok} of {len(rows)} rows pass '
             '(no error; finite loss where a training step ran)']
    if total is not None and len(rows) < total:
        lines.append(f'- PARTIAL: {total - len(rows)} of {total} rows not '
                     'finished')
    lines += ['', '| ' + ' | '.join(COLUMNS) + ' |',
              '|' + '---|' * len(COLUMNS)]
    for row in sorted(rows, key=lambda r: r['config']):
        lines.append('| ' + ' | '.join(_cells(row)) + ' |')
    return '\n'.join(lines) + '\n'


def _atomic_write(path, text):
    tmp = f'{path}.tmp'
    with open(tmp, 'w') as f:
        f.write(text)
    os.replace(tmp, path)


class ReportWriter:
    """Rewrites ``<out>.md`` and ``<out>.json`` after every :meth:`add`
    (atomically: a kill leaves the previous complete version)."""

    def __init__(self, out, env, run, total):
        self.out = str(out)
        self.env, self.run, self.total = env, run, total
        self.rows = []
        folder = os.path.dirname(self.out)
        if folder:
            os.makedirs(folder, exist_ok=True)
        self.write()

    def add(self, row):
        self.rows.append(row)
        self.write()

    def write(self):
        _atomic_write(self.out + '.md', markdown(self.rows, self.env,
                                                 self.run, self.total))
        _atomic_write(self.out + '.json', json.dumps(dict(
            env=self.env, run=self.run, total=self.total, rows=self.rows),
            indent=1))
