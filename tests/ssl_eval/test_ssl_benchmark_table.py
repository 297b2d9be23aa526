"""One fair-benchmark run through tools/analysis_tools/benchmark_ssl.py
--table (MoCo v2, seed 0, the benchmark's 200 iterations on the default
patterns set: the row of the README's table): the pre-trained ResNet beats
the random init of the same config and seed in kNN top-1 (by 24 points in
the benchmark; the ViT methods need 1000 iterations, five times the cost),
and the results files and table are written."""
import importlib.util
import json
import math
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_short_pretraining_beats_random_init(tmp_path):
    spec = importlib.util.spec_from_file_location(
        'benchmark_ssl', ROOT / 'tools/analysis_tools/benchmark_ssl.py')
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    work = tmp_path / 'work'
    rows = tool.main(['--table', '--methods', 'MoCo v2', '--seeds', '0',
                      '--work-dir', str(work), '--data-root',
                      str(tmp_path / 'data')])
    (row, ) = rows
    run = json.loads((work / 'runs/mocov2_s0.json').read_text())
    assert 'error' not in run, run.get('error')
    random, trained = run['random'], run['trained']
    assert math.isfinite(run['final_loss'])
    # 10 classes: chance is 10 %
    assert trained['knn_top1'] > random['knn_top1'] + 10., run
    assert row['knn_top1/delta'] == trained['knn_top1'] - random['knn_top1']
    table = (work / 'results.md').read_text()
    assert table.startswith('| method | group |') and '| MoCo v2 |' in table
    assert json.loads((work / 'results.json').read_text())['runs'][
        'MoCo v2/0']['trained'] == trained
