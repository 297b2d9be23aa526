"""Log parsing of a hand-written scalars.json: values, overlaid runs, key
prefixes, training time, and the error messages."""
import json
import sys
from pathlib import Path

import pytest

from projects.analysis.logs import (LogKeyError, curves, load_log,
                                    plot_curves, train_time)

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / 'tools' / 'analysis_tools'))
import analyze_logs  # noqa: E402


def _write(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(''.join(json.dumps(r) + '\n' for r in rows))
    return path


def _run(tmp_path, name, losses, miou, times):
    rows = [dict(lr=0.01, loss=v, time=t, data_time=0.01, iter=i, step=i)
            for i, v, t in zip((10, 20, 30), losses, times)]
    rows.append(dict(aAcc=70.0, mIoU=miou, mAcc=50.0, data_time=0.1,
                     time=0.5, step=30))
    return _write(tmp_path / 'work' / name / 'vis_data' / 'scalars.json', rows)


@pytest.fixture
def two_runs(tmp_path):
    return (_run(tmp_path, 'run_a', (3.0, 2.0, 1.5), 31.0, (0.9, 0.2, 0.4)),
            _run(tmp_path, 'run_b', (2.5, 1.0, 0.5), 42.0, (0.1, 0.1, 0.1)))


def test_curves_overlay_runs_with_values(two_runs, tmp_path):
    data = curves(two_runs, ['loss', 'mIoU'])
    (a, xa, ya, xname), (b, xb, yb, _) = data['loss']
    assert (a, b) == ('work/run_a', 'work/run_b')
    assert xname == 'step' and xa == xb == [10, 20, 30]
    assert ya == [3.0, 2.0, 1.5] and yb == [2.5, 1.0, 0.5]
    assert [(r[1], r[2]) for r in data['mIoU']] == [([30], [31.0]),
                                                    ([30], [42.0])]
    out = tmp_path / 'curve.png'
    plot_curves(two_runs, ['loss'], out, labels=['A', 'B'])
    assert out.stat().st_size > 1000


def test_metric_prefix_and_unknown_key(tmp_path):
    log = _write(tmp_path / 'det.json', [
        dict(loss=1.0, iter=1, step=1, time=0.2, lr=0.1),
        {'coco/bbox_mAP': 0.25, 'coco/bbox_mAP_50': 0.5, 'step': 1}])
    assert curves([log], ['bbox_mAP'])['bbox_mAP'][0][2] == [0.25]
    with pytest.raises(LogKeyError) as err:
        curves([log], ['mIoU'])
    msg = str(err.value)
    assert str(log) in msg and "'mIoU'" in msg
    assert 'available keys: loss, time, lr, coco/bbox_mAP, coco/bbox_mAP_50' in msg


def test_train_time_closed_form(two_runs):
    stats = train_time(load_log(two_runs[0]))  # first window left out
    assert stats['rows'] == 2 and stats['mean'] == pytest.approx(0.3)
    assert stats['slowest'] == (30, 0.4) and stats['fastest'] == (20, 0.2)
    assert stats['total'] == pytest.approx(0.3 * 30)
    every = train_time(load_log(two_runs[0]), include_outliers=True)
    assert every['mean'] == pytest.approx(0.5) and every['slowest'] == (10, 0.9)


def test_malformed_line_names_file_and_line(tmp_path, capsys):
    log = tmp_path / 'bad.json'
    log.write_text('{"loss": 1.0, "step": 1}\n\n[1, 2]\n')
    with pytest.raises(ValueError, match=r'bad\.json, line 3: expected one '
                       'JSON object per line'):
        load_log(log)
    log.write_text('{"loss": 1.0, "step": 1}\n{"loss": 2.0, "st\n')
    with pytest.raises(SystemExit) as exc:
        analyze_logs.main(['plot_curve', str(log), '--keys', 'loss',
                           '--out', str(tmp_path / 'c.png')])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert f'{log}, line 2: not valid JSON' in err and 'Traceback' not in err


def test_cli_errors_exit_2(two_runs, tmp_path, capsys):
    missing = tmp_path / 'missing.json'
    for argv in (['cal_train_time', str(missing)],
                 ['plot_curve', str(two_runs[0]), '--keys', 'nope',
                  '--out', str(tmp_path / 'c.png')]):
        with pytest.raises(SystemExit) as exc:
            analyze_logs.main(argv)
        assert exc.value.code == 2
    err = capsys.readouterr().err
    assert f'log file {missing} does not exist' in err
    assert "key 'nope' not found" in err and 'available keys: lr, loss' in err
