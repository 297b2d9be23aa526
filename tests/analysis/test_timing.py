"""Benchmark table (ratios to the first config, order kept) and the CPU
peak-tensor-memory probe (closed form)."""
import sys
from pathlib import Path

import pytest
import torch

from projects.analysis.memory import LiveTensorPeak, PeakMemory
from projects.analysis.timing import format_table, ratio_rows

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / 'tools' / 'analysis_tools'))
import benchmark_configs  # noqa: E402

HIERA = 'configs/hiera/hiera-nano_tiny_1xb8-40it_synthetic-imagenet.py'
CASTLING = 'configs/castling_vit/castling-vit_tiny_1xb8-100it_synthetic-imagenet.py'


def _row(name, scale):
    return dict(config=name, params=1e6, infer_ms=10 * scale,
                train_ms=30 * scale, infer_peak_mb=2 * scale,
                train_peak_mb=8 * scale)


def test_ratio_rows_baseline_is_first_measured_and_order_kept():
    rows = [dict(config='broken', error='boom'), _row('a', 1.0),
            _row('b', 2.5), _row('c', 0.5)]
    out = ratio_rows(rows)
    assert [r['config'] for r in out] == ['broken', 'a', 'b', 'c']
    for key in ('infer_ms', 'train_ms', 'infer_peak_mb', 'train_peak_mb'):
        assert out[1][f'{key}_ratio'] == 1.0
        assert out[2][f'{key}_ratio'] == pytest.approx(2.5)
        assert out[3][f'{key}_ratio'] == pytest.approx(0.5)
    lines = format_table(rows).splitlines()[2:]
    assert [line.split(' | ')[0].strip('| ') for line in lines] == [
        'broken', 'a', 'b', 'c']
    assert 'error: boom' in lines[0] and '(2.50x)' in lines[2]


def test_live_tensor_peak_closed_form():
    with LiveTensorPeak() as probe:
        a = torch.empty(1000, 1000)  # 4 MB
        b = torch.ones(500, 1000)  # 2 MB: peak 6 MB
        view = b[:10]  # a view allocates nothing
        del a
        c = torch.zeros(250, 1000)  # 1 MB: live 3 MB < peak
        b.add_(1)  # in place: nothing new
    assert probe.peak_bytes == 6_000_000
    assert probe.live_bytes == 3_000_000
    del b, c, view
    # backward: the probe sees the gradients the step allocates
    w = torch.randn(100, 100, requires_grad=True)
    with PeakMemory('cpu') as peak:
        (w * 2).sum().backward()
    assert peak.mb * 2**20 >= w.numel() * 4


def test_cli_rows_follow_the_given_order(imagenet_root, capsys):
    rows = benchmark_configs.main([
        str(ROOT / CASTLING), str(ROOT / HIERA), '--data-root',
        str(imagenet_root), '--iters', '1', '--warmup', '1',
        '--batch-size', '2'])
    assert [Path(r['config']).name for r in rows] == [
        Path(CASTLING).name, Path(HIERA).name]
    assert all('error' not in r for r in rows), rows
    table = capsys.readouterr().out.splitlines()
    body = [line for line in table if line.startswith('| configs') or
            line.startswith(f'| {ROOT}')]
    assert Path(CASTLING).name in body[0] and Path(HIERA).name in body[1]
    assert body[0].count('(1.00x)') == 4
    assert rows[0]['train_peak_mb'] > 0 and rows[1]['train_ms'] > 0


def test_cli_missing_config_exits_2(tmp_path, capsys):
    missing = tmp_path / 'none.py'
    with pytest.raises(SystemExit) as exc:
        benchmark_configs.main([str(ROOT / HIERA), str(missing)])
    assert exc.value.code == 2 and str(missing) in capsys.readouterr().err
