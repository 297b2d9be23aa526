"""RevCol memory benchmark: saved bytes of the reversible path without
cross-column storage do not depend on the number of columns, the plain
path's grow with it, and the ratios are those of the figures (at this tiny
size the parameter gradients dominate the peaks, so their order is not
tested)."""
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / 'tools' / 'analysis_tools'))
import benchmark_revcol_memory as bench  # noqa: E402


def test_saved_peak_and_time_ratios(tmp_path, monkeypatch, capsys):
    out = tmp_path / 'revcol.json'
    monkeypatch.setattr(sys, 'argv', [
        'benchmark_revcol_memory.py', '--arch', 't', '--columns', '1', '3',
        '--size', '32', '--batch', '1', '--warmup', '0', '--iters', '1',
        '--out', str(out)])
    bench.main()
    table = capsys.readouterr().out
    rows = {(r['columns'], r['backward']): r
            for r in json.loads(out.read_text())['results']}
    plain1, plain3 = rows[1, 'plain'], rows[3, 'plain']
    keep0 = 'reversible keep_every=0'
    keep1 = 'reversible keep_every=1'
    # only the last column's outputs (and the stem's tensors) are saved
    assert rows[1, keep0]['saved_mib'] == rows[3, keep0]['saved_mib']
    # keep_every=1 adds one column's four outputs per extra column
    assert rows[3, keep1]['saved_mib'] > rows[1, keep1]['saved_mib']
    assert plain3['saved_mib'] > 2.5 * plain1['saved_mib']
    for n in (1, 3):
        plain = rows[n, 'plain']
        assert plain['saved_ratio'] == plain['time_ratio'] == 1
        for label in (keep0, keep1):
            r = rows[n, label]
            assert r['saved_ratio'] == pytest.approx(
                plain['saved_mib'] / r['saved_mib'])
            assert r['time_ratio'] == pytest.approx(
                r['step_ms'] / plain['step_ms'])
            assert r['saved_ratio'] > 5
            assert r['peak_ratio'] == pytest.approx(
                plain['peak_mib'] / r['peak_mib'])
            assert r['peak_mib'] > 0  # parameter gradients at least
    assert table.count('| t | ') == 6
