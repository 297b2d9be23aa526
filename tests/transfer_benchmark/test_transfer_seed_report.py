"""Seeds in the transfer benchmark report: mean ± sample std per
(checkpoint, task), partial and failed seeds, the unseeded layout
unchanged, the plot's error bars, and the CLI's seed options."""
import json
import statistics
import sys
from pathlib import Path

import pytest

from projects.transfer_benchmark import (markdown_table, summarise,
                                         write_report)

ROOT = Path(__file__).resolve().parents[2]


def run(pre, task, value, seed=None, status='done', metric='mIoU'):
    row = dict(protocol='p', pretrained=pre, task=task, mode='train',
               metric=metric, status=status, value=value,
               stage=None if status == 'done' else 'train')
    if seed is not None:
        row['seed'] = seed
    return row


def test_summary_and_table():
    rows = [run('a', 'seg', v, s) for s, v in enumerate([40., 44., 45.])]
    rows += [run('b', 'seg', 30., 0), run('b', 'seg', None, 1, 'failed')]
    rows += [run('c', 'seg', 12.5)]  # unseeded, old layout
    by = {r['pretrained']: r for r in summarise(rows)}
    assert by['a']['mean'] == pytest.approx(43.)
    assert by['a']['std'] == pytest.approx(statistics.stdev([40, 44, 45]))
    assert (by['a']['n'], by['a']['status']) == (3, 'done')
    assert (by['b']['n'], by['b']['runs'], by['b']['status']) == \
        (1, 2, 'partial')
    assert by['c']['std'] == 0. and not by['c']['seeded']
    table = markdown_table(rows)
    assert '| a | 43 ± 2.6 (n=3) |' in table
    assert '| b | 30 ± 0 (n=1/2) |' in table
    assert '| c | 12.5 |' in table  # as before seeds existed
    assert '- b -> seg (seed 1): ' in table


def test_plot_has_error_bars(tmp_path, monkeypatch):
    import matplotlib.axes
    calls = []
    orig = matplotlib.axes.Axes.bar

    def spy(self, *args, **kwargs):
        calls.append(kwargs.get('yerr'))
        return orig(self, *args, **kwargs)

    monkeypatch.setattr(matplotlib.axes.Axes, 'bar', spy)
    for s, v in enumerate([40., 44., 45.]):
        d = tmp_path / 'a' / 'seg' / f'seed{s}'
        d.mkdir(parents=True)
        (d / 'result.json').write_text(json.dumps(run('a', 'seg', v, s)))
    rows = write_report(tmp_path)
    assert len(rows) == 3 and [r['seed'] for r in rows] == [0, 1, 2]
    assert calls == [pytest.approx(statistics.stdev([40, 44, 45]))]
    assert (tmp_path / 'results.png').stat().st_size > 0
    (summary, ) = json.loads((tmp_path / 'results_summary.json').read_text())
    assert summary['values'] == [40., 44., 45.]


def test_cli_seed_options():
    sys.path.insert(0, str(ROOT / 'tools'))
    from benchmark_transfer import parse_args
    base = ['p.py', '--pretrained', 'x.pth']
    assert parse_args(base + ['--num-seeds', '3']).seeds == [0, 1, 2]
    assert parse_args(base + ['--seeds', '5', '7']).seeds == [5, 7]
    assert parse_args(base).seeds is None
    for bad in (['--seeds', '1', '1'], ['--num-seeds', '0'],
                ['--seeds', '1', '--num-seeds', '2']):
        with pytest.raises(SystemExit):
            parse_args(base + bad)
