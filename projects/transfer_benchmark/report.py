"""Collect run results into one table (Markdown + CSV), a JSON file and a
bar plot; every file is replaced atomically.

Tasks report different metrics (``coco/bbox_mAP`` in [0, 1], ``mIoU`` and
``knn/top1`` in percent, ``nuscenes/NDS`` ...): each table column and plot
panel is one task and is headed by its metric (the protocol's, else the
one most runs of the task report); a cell measured with another metric
(an older run of a task whose metric was changed) names its metric. The
CSV and ``results.json`` have one row per run (per seed) with its own
``metric`` column.

Runs of several seeds of one (checkpoint, task) pair are summarised as
``mean ± std (n=k)`` (sample standard deviation over the finished seeds)
in the table, ``results_summary.json`` and the plot (bar = mean, error bar
= std, dots = the seeds)."""
import csv
import io
import json
import os
import statistics
from pathlib import Path

from projects.run_config import write_json_atomic

CSV_FIELDS = ('protocol', 'pretrained', 'task', 'seed', 'mode', 'metric',
              'value', 'status', 'error', 'config', 'checkpoint', 'seconds')


def collect(work_dir, protocol=None, seeds=None):
    """Every ``<work_dir>/<pretrained>/<task>/result.json`` and
    ``.../<task>/seed<k>/result.json``; with a protocol, pending runs of its
    tasks (and of the ``seeds``) appear with status 'pending'."""
    work_dir = Path(work_dir)
    rows = {}
    paths = list(work_dir.glob('*/*/result.json')) + \
        list(work_dir.glob('*/*/seed*/result.json'))
    for path in sorted(paths):
        try:
            row = json.loads(path.read_text())
        except ValueError:
            continue
        rows[(row['pretrained'], row['task'], row.get('seed'))] = row
    if protocol is not None:
        for pre in sorted({p for p, _, _ in rows}):
            for task in protocol.tasks:
                for seed in seeds or [None]:
                    pending = dict(
                        protocol=protocol.name, pretrained=pre,
                        task=task.name, mode=task.mode, metric=task.metric,
                        status='pending', value=None)
                    if seed is not None:
                        pending['seed'] = seed
                    rows.setdefault((pre, task.name, seed), pending)
    return sorted(rows.values(), key=lambda r: (
        r['pretrained'], r['task'], -1 if r.get('seed') is None
        else r['seed']))


def summarise(rows, metrics=None):
    """One row per (pretrained, task): the runs' values under the task's
    metric, their mean and sample std (0 for one run), ``n`` finished and
    ``runs`` in all; status 'done' when every run is done, 'failed' when
    none is and one failed, else 'pending' (or 'partial' with some
    values)."""
    metric = task_metrics(rows, metrics)
    groups = {}
    for r in rows:
        groups.setdefault((r['pretrained'], r['task']), []).append(r)
    out = []
    for (pre, task), runs in groups.items():
        done = [r for r in runs if r['status'] == 'done' and
                isinstance(r.get('value'), (int, float))]
        own = [r for r in done if r.get('metric', metric[task]) ==
               metric[task]]
        use = own or done
        values = [r['value'] for r in use]
        seeded = any(r.get('seed') is not None for r in runs)
        if len(done) == len(runs):
            status = 'done'
        elif not done:
            status = 'failed' if any(r['status'] == 'failed'
                                     for r in runs) else 'pending'
        else:
            status = 'partial'
        row = dict(pretrained=pre, task=task, status=status,
                   metric=use[0].get('metric') if use else metric[task],
                   values=values, seeds=[r.get('seed') for r in use],
                   n=len(values), runs=len(runs), seeded=seeded,
                   mean=statistics.mean(values) if values else None,
                   std=(statistics.stdev(values) if len(values) > 1 else
                        0.) if values else None,
                   stage=next((r.get('stage') for r in runs
                               if r['status'] == 'failed'), None))
        out.append(row)
    return out


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
    """Table cell of one summary row (see :func:`summarise`) under a
    column headed by ``metric``: the value of an unseeded run,
    ``mean ± std (n=k)`` of seeded ones (``k/runs`` while some are not
    finished)."""
    if row is None or row['status'] == 'pending':
        return '-'
    if not row['n']:
        return f'failed ({row.get("stage") or "?"})'
    if not row['seeded']:
        v = row['values'][0]
        text = f'{v:.4g}' if isinstance(v, float) else str(v)
    else:
        n = str(row['n']) if row['n'] == row['runs'] else \
            f'{row["n"]}/{row["runs"]}'
        text = f'{row["mean"]:.4g} ± {row["std"]:.2g} (n={n})'
    if row.get('metric') and row['metric'] != metric:
        text += f' ({row["metric"]})'
    return text


def markdown_table(rows, task_order=None, metrics=None):
    """One row per pre-trained checkpoint, one column per task headed by
    ``task (metric)`` (seeds summarised); failed runs are listed below the
    table."""
    tasks = _task_list(rows, task_order)
    metric = task_metrics(rows, metrics)
    pres = list(dict.fromkeys(r['pretrained'] for r in rows))
    cell = {(r['pretrained'], r['task']): r
            for r in summarise(rows, metrics)}
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
            seed = '' if r.get('seed') is None else f' (seed {r["seed"]})'
            lines.append(f'- {r["pretrained"]} -> {r["task"]}{seed}: '
                         f'{summary}')
    return '\n'.join(lines) + '\n'


def plot(rows, path, task_order=None, metrics=None):
    """One panel per task (its own y axis and metric), one bar per
    pre-trained checkpoint (the mean over seeds, error bar = std, a dot per
    seed), the value written above each bar."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    tasks = _task_list(rows, task_order)
    metric = task_metrics(rows, metrics)
    pres = list(dict.fromkeys(r['pretrained'] for r in rows))
    cell = {(r['pretrained'], r['task']): r
            for r in summarise(rows, metrics)}
    fig, axes = plt.subplots(1, max(len(tasks), 1),
                             figsize=(3.2 * max(len(tasks), 1), 3.4),
                             squeeze=False)
    for ax, task in zip(axes[0], tasks):
        for i, pre in enumerate(pres):
            r = cell.get((pre, task))
            if r and r['n']:
                top = r['mean'] + r['std']
                ax.bar(i, r['mean'], color=f'C{i % 10}',
                       yerr=r['std'] if r['n'] > 1 else None, capsize=4)
                if r['n'] > 1:
                    ax.plot([i] * r['n'], r['values'], 'k.', markersize=4)
                    top = max(top, max(r['values']))
                ax.annotate(format_cell(r, metric[task]), (i, top),
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


def write_report(work_dir, protocol=None, seeds=None):
    """``results.json`` (one row per run), ``results_summary.json`` (per
    checkpoint and task, over seeds), ``results.md``, ``results.csv``,
    ``results.png`` under ``work_dir``; returns the run rows."""
    work_dir = Path(work_dir)
    rows = collect(work_dir, protocol, seeds)
    order = [t.name for t in protocol.tasks] if protocol else None
    metrics = {t.name: t.metric for t in protocol.tasks} if protocol \
        else None
    write_json_atomic(work_dir / 'results.json', rows)
    write_json_atomic(work_dir / 'results_summary.json',
                      summarise(rows, metrics))
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
