"""Collect run results into one table (Markdown + CSV), a JSON file and a
bar plot; every file is replaced atomically.

Tasks report different metrics (``coco/bbox_mAP`` in [0, 1], ``mIoU`` and
``knn/top1`` in percent, ``nuscenes/NDS`` ...): each table column and plot
panel is one task and is headed by its metric (the protocol's, else the
one most runs of the task report); a cell measured with another metric
(an older run of a task whose metric was changed) names its metric. The
CSV has one row per run with its own ``metric`` column."""
import csv
import io
import json
import os
from pathlib import Path

from projects.run_config import write_json_atomic

CSV_FIELDS = ('protocol', 'pretrained', 'task', 'mode', 'metric', 'value',
              'status', 'error', 'config', 'checkpoint', 'seconds')


def collect(work_dir, protocol=None):
    """Every ``<work_dir>/<pretrained>/<task>/result.json``; with a protocol,
    pending runs of its tasks appear with status 'pending'."""
    work_dir = Path(work_dir)
    rows = {}
    for path in sorted(work_dir.glob('*/*/result.json')):
        try:
            row = json.loads(path.read_text())
        except ValueError:
            continue
        rows[(row['pretrained'], row['task'])] = row
    if protocol is not None:
        for pre in sorted({p for p, _ in rows}):
            for task in protocol.tasks:
                rows.setdefault((pre, task.name), dict(
                    protocol=protocol.name, pretrained=pre, task=task.name,
                    mode=task.mode, metric=task.metric, status='pending',
                    value=None))
    return list(rows.values())


def _atomic_text(path, text):
    tmp = Path(f'{path}.tmp')
    tmp.write_text(text)
    os.replace(tmp, path)


def task_metrics(rows, metrics=None):
    """``{task: metric}``: ``metrics`` (the protocol's) first, else the
    metric most runs of the task report."""
    out = {}
    for r in rows:
        counts = out.setdefault(r['task'], {})
        m = r.get('metric') or ''
        counts[m] = counts.get(m, 0) + 1
    out = {t: max(c, key=c.get) for t, c in out.items()}
    out.update(metrics or {})
    return out


def _task_list(rows, task_order):
    return list(dict.fromkeys(task_order or [])) + sorted(
        {r['task'] for r in rows} - set(task_order or []))


def format_cell(row, metric):
    """Table cell of one run under a column headed by ``metric``."""
    if row is None or row['status'] == 'pending':
        return '-'
    if row['status'] == 'failed':
        return f'failed ({row.get("stage") or "?"})'
    v = row['value']
    text = f'{v:.4g}' if isinstance(v, float) else str(v)
    if row.get('metric') and row['metric'] != metric:
        text += f' ({row["metric"]})'
    return text


def markdown_table(rows, task_order=None, metrics=None):
    """One row per pre-trained checkpoint, one column per task headed by
    ``task (metric)``; failed runs are listed below the table."""
    tasks = _task_list(rows, task_order)
    metric = task_metrics(rows, metrics)
    pres = list(dict.fromkeys(r['pretrained'] for r in rows))
    cell = {(r['pretrained'], r['task']): r for r in rows}
    head = '| pre-trained | ' + ' | '.join(
        f'{t} ({metric.get(t, "")})' for t in tasks) + ' |'
    lines = [head, '|' + '---|' * (len(tasks) + 1)]
    for pre in pres:
        vals = [format_cell(cell.get((pre, t)), metric.get(t)) for t in tasks]
        lines.append(f'| {pre} | ' + ' | '.join(vals) + ' |')
    failed = [r for r in rows if r['status'] == 'failed']
    if failed:
        lines += ['', 'Failed runs:', '']
        for r in failed:
            err = [ln.strip() for ln in (r.get('error') or '?').splitlines()
                   if ln.strip()]
            summary = err[0] + (f' ... {err[-1]}' if len(err) > 1 else '')
            lines.append(f'- {r["pretrained"]} -> {r["task"]}: {summary}')
    return '\n'.join(lines) + '\n'


def plot(rows, path, task_order=None, metrics=None):
    """One panel per task (its own y axis and metric), one bar per
    pre-trained checkpoint, the value written above each bar."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    tasks = _task_list(rows, task_order)
    metric = task_metrics(rows, metrics)
    pres = list(dict.fromkeys(r['pretrained'] for r in rows))
    cell = {(r['pretrained'], r['task']): r for r in rows}
    fig, axes = plt.subplots(1, max(len(tasks), 1),
                             figsize=(3.2 * max(len(tasks), 1), 3.4),
                             squeeze=False)
    for ax, task in zip(axes[0], tasks):
        for i, pre in enumerate(pres):
            r = cell.get((pre, task))
            if r and r['status'] == 'done' and \
                    isinstance(r['value'], (int, float)):
                ax.bar(i, r['value'], color=f'C{i % 10}')
                ax.annotate(format_cell(r, metric[task]), (i, r['value']),
                            ha='center', va='bottom', fontsize=7)
            else:
                ax.text(i, 0, r['status'] if r else '-', ha='center',
                        va='bottom', rotation=90, fontsize=8)
        ax.set_title(task, fontsize=9)
        ax.set_ylabel(metric.get(task, ''), fontsize=8)
        ax.set_xticks(range(len(pres)))
        ax.set_xticklabels(pres, rotation=30, ha='right', fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format='png', dpi=100)
    plt.close(fig)
    tmp = Path(f'{path}.tmp')
    tmp.write_bytes(buf.getvalue())
    os.replace(tmp, path)


def write_report(work_dir, protocol=None):
    """``results.json``, ``results.md``, ``results.csv``, ``results.png``
    under ``work_dir``; returns the rows."""
    work_dir = Path(work_dir)
    rows = collect(work_dir, protocol)
    order = [t.name for t in protocol.tasks] if protocol else None
    metrics = {t.name: t.metric for t in protocol.tasks} if protocol \
        else None
    write_json_atomic(work_dir / 'results.json', rows)
    title = f'# Transfer benchmark: {protocol.name}\n\n' if protocol else ''
    _atomic_text(work_dir / 'results.md',
                 title + markdown_table(rows, order, metrics))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, CSV_FIELDS, extrasaction='ignore')
    writer.writeheader()
    for r in rows:
        writer.writerow({k: r.get(k) for k in CSV_FIELDS})
    _atomic_text(work_dir / 'results.csv', buf.getvalue())
    if rows:
        plot(rows, work_dir / 'results.png', order, metrics)
    return rows
