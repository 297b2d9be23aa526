"""PAP benchmark worker: the inputs it builds, its figures, and fast vs dense
float64 outputs it saves (the comparison the table reports)."""
import json
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / 'tools' / 'analysis_tools'))
import benchmark_pap_loss as bench  # noqa: E402


def test_make_inputs_entries_positives_and_ignored_anchors():
    logits, targets, quality = bench.make_inputs(30, 1000, 8, 4000)
    assert logits.shape == targets.shape == (500, 8)
    assert quality.shape == (500, )
    assert int((targets == 1).sum()) == 30
    assert (targets == 1).sum(1).max() == 1  # one positive class per anchor
    ignored = (targets == -1).all(1)
    assert int(ignored.sum()) == 500 // 20
    assert not ((targets == -1).any(1) & ~ignored).any()  # whole anchors
    # default size: twice K entries (or 4 |P| anchors)
    assert bench.make_inputs(5, 1000, 8)[0].shape == (250, 8)


def _run(impl, tmp_path, capsys):
    args = SimpleNamespace(threads=1, device='cpu', classes=8, topk=300,
                           entries=4000, warmup=1, repeat=3, official=None)
    out_file = tmp_path / f'{impl}.pt'
    bench.worker(impl, 40, args, str(out_file))
    figures = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    return figures, torch.load(out_file)


def test_worker_fast_matches_dense_float64(tmp_path, capsys):
    fast, out_fast = _run('fast', tmp_path, capsys)
    ref, out_ref = _run('dense64', tmp_path, capsys)
    for figures in (fast, ref):
        assert figures['entries'] == 4000 and len(figures['times']) == 3
        assert figures['time'] == sorted(figures['times'])[1]  # median
        assert figures['peak_mb'] >= 0
    assert out_fast['grad_logits'].dtype == torch.float32
    assert out_ref['grad_logits'].dtype == torch.float64
    assert out_fast['grad_logits'].shape == (500, 8)
    assert out_fast['grad_logits'].abs().max() > 0
    for key in bench.KEYS:
        assert bench.max_rel_diff(out_fast[key], out_ref[key]) < 1e-5, key


def test_load_official_names_the_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match='paploss.py'):
        bench.load_official(tmp_path)
