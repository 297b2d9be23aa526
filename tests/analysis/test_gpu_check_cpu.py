"""The GPU check's CPU mode on tiny configs, one of every model family and
config kind (the whole tiny set takes longer than this suite allows on two
cores; see projects/analysis/README.md): every row passes with a finite
loss, the parameter count of the model the config builds, positive times
and the input size its pipeline produces."""
import json
import math
import sys
from pathlib import Path

import pytest

from projects.analysis.check_targets import expand, load_target
from projects.analysis.samples import build_model

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / 'tools' / 'analysis_tools'))
import gpu_check  # noqa: E402

# config -> the train input its pipeline produces (C x H x W; BEV T x N x ...)
SUBSET = {
    'retinanet/retinanet_r18_fpn_tiny_1xb4-300it_synthetic-coco.py': None,
    'upernet/upernet_r18_tiny_1xb4-200it_synthetic-ade20k.py': '3x128x128',
    'bevformer_v2/bevformer-v2_r18_tiny_1xb2-600it_synthetic-nuscenes.py':
        None,
    'loss_search/upernet_r18-w8_asl-gacc-search-flat-start_tiny_1xb4-10it_'
    'synthetic-ade20k-32x32.py': None,
    'benchmark/tasks/knn_resnet18_headless_tiny_synthetic-imagenet.py': None,
    'ssl_benchmark/mocov2_resnet18-tiny_fair_1xb32-200it_synthetic-'
    'imagenet.py': None,
}


@pytest.fixture(scope='module')
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp('gpu_check') / 'cpu'
    rows, failed = gpu_check.main(
        [str(ROOT / 'configs' / c) for c in SUBSET] +
        ['--device', 'cpu', '--jobs', '2', '--threads', '1', '--out',
         str(out), '--timeout', '600'])
    return rows, failed, out


def test_every_subset_row_passes(report):
    rows, failed, out = report
    assert not failed, [(r['config'], r.get('error')) for r in rows]
    assert sorted(r['config'] for r in rows) == sorted(
        Path(c).name for c in SUBSET)
    doc = json.loads(Path(f'{out}.json').read_text())
    assert len(doc['rows']) == len(SUBSET) and doc['run']['device'] == 'cpu'
    text = Path(f'{out}.md').read_text()
    assert f'{len(SUBSET)} of {len(SUBSET)} rows pass' in text


def test_rows_have_sane_numbers(report, tmp_path):
    rows = {r['config']: r for r in report[0]}
    for config, shape in SUBSET.items():
        row = rows[Path(config).name]
        (target,) = expand(str(ROOT / 'configs' / config))
        cfg, what = load_target(target, tmp_path)
        assert row['what'] == what
        model = build_model(cfg)
        assert row['params'] == sum(p.numel() for p in model.parameters())
        assert row['infer_ms'] > 0 and row['infer_peak_mb'] > 0
        if what == 'evaluation only':
            assert row['train_ms'] is None and row['loss'] is None
            continue
        assert row['train_ms'] > 0 and row['train_peak_mb'] > 0
        assert math.isfinite(row['loss']) and row['loss'] > 0
        assert row['amp'] is False  # fp32 on the CPU
        assert row['train_batch'] == cfg.train_dataloader.batch_size
        if shape is not None:
            assert row['train_input'] == shape
