"""The GPU check's CPU mode on tiny configs, one of every model family and
config kind (all 60 tiny configs take about 5 minutes on two cores, more
than this suite allows; see projects/analysis/README.md): every row passes
with a finite loss, the parameter count of the model the config builds,
positive times and the input size its pipeline produces."""
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

# one tiny config of every model family and config kind -> the largest train
# input its pipeline produces (C x H x W; BEV: T x N x C x H x W)
SUBSET = {
    'retinanet/retinanet_r18_fpn_tiny_1xb4-300it_synthetic-coco.py':
        '3x128x128',
    'pap_loss/deformable-detr_r18_pap-loss_tiny_1xb4-300it_synthetic-coco.py':
        '3x128x128',
    'upernet/upernet_r18_tiny_1xb4-200it_synthetic-ade20k.py': '3x128x128',
    'bevformer_v2/bevformer-v2_r18_tiny_1xb2-600it_synthetic-nuscenes.py':
        '2x2x3x64x160',
    'loss_search/upernet_r18-w8_asl-gacc-search-flat-start_tiny_1xb4-10it_'
    'synthetic-ade20k-32x32.py': '3x32x32',
    'benchmark/tasks/knn_resnet18_headless_tiny_synthetic-imagenet.py': None,
    'castling_vit/castling-vit_tiny_1xb8-100it_synthetic-imagenet.py':
        '3x56x56',
    'conformer/conformer-nano_tiny_1xb8-40it_synthetic-imagenet.py': '3x64x64',
    'defocus/defocus-mamba-tiny-p8_1xb8-100it_synthetic-imagenet.py':
        '3x56x56',
    'flip/flip_vit-tiny-p8_1xb32-mask50-300it_synthetic-coco.py': '3x64x64',
    'g2sd/g2sd_vit-nano-p8_mae-nano_tiny_1xb8-40it_synthetic-imagenet.py':
        '3x56x56',
    'hiera/hiera-nano_tiny_1xb8-40it_synthetic-imagenet.py': '3x64x64',
    'internimage/internimage-nano_tiny_1xb16-200it_synthetic-imagenet.py':
        '3x56x56',
    'magneto/magneto-vit_tiny_1xb8-100it_synthetic-imagenet.py': '3x56x56',
    'maskdistill/maskdistill_beit-nano-p8_vit-nano_tiny_1xb8-40it_synthetic-'
    'imagenet.py': '3x56x56',
    'revcol/revcol-tiny_1xb8-100it_synthetic-imagenet.py': '3x56x56',
    'revvit/revvit-nano_tiny_1xb8-40it_synthetic-imagenet.py': '3x64x64',
    'sim/sim_vit-nano-p8_tiny_1xb8-100it_synthetic-imagenet.py': '3x56x56',
    'ssl_benchmark/mocov2_resnet18-tiny_fair_1xb32-200it_synthetic-'
    'imagenet.py': '3x40x40',
    'ssl_eval/resnet18-tiny_fair-pre_1xb32-linear-100it_synthetic-imagenet.py':
        '3x40x40',
    'unigrad/unigrad_resnet18-tiny_1xb8-40it_synthetic-imagenet.py': '3x56x56',
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
        assert math.isfinite(row['loss'])  # SimSiam-style losses are < 0
        assert row['amp'] is False  # fp32 on the CPU
        assert row['train_batch'] == cfg.train_dataloader.batch_size
        # random crops of a smaller rescaled image (seg) may be smaller
        got, want = ([int(d) for d in x.split('x')]
                     for x in (row['train_input'], shape))
        assert got[:-2] == want[:-2] and all(
            w / 2 <= g <= w for g, w in zip(got[-2:], want[-2:])), got
