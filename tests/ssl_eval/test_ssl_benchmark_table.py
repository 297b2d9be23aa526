"""One short fair-benchmark run (MAE, the cheapest method) through
tools/analysis_tools/benchmark_ssl.py --table: the pre-trained ViT beats
its random initialisation of the same seed in kNN top-1, and the results
files and table are written."""
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
    rows = tool.main(['--table', '--methods', 'MAE', '--seeds', '0',
                      '--work-dir', str(work), '--data-root',
                      str(tmp_path / 'data'), '--num-train', '300',
                      '--num-val', '150'])
    (row, ) = rows
    run = json.loads((work / 'runs/mae_s0.json').read_text())
    assert 'error' not in run, run.get('error')
    random, trained = run['random'], run['trained']
    assert math.isfinite(run['final_loss'])
    # 10 classes: chance is 10 %
    assert trained['knn_top1'] > random['knn_top1'] + 5., run
    assert row['knn_top1/delta'] == trained['knn_top1'] - random['knn_top1']
    table = (work / 'results.md').read_text()
    assert table.startswith('| method | group |') and '| MAE |' in table
    assert json.loads((work / 'results.json').read_text())['runs'][
        'MAE/0']['trained'] == trained
