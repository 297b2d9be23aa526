"""Weighted kNN: brute-force reference (weights, top-1/top-5), chunking,
separable clusters, and the metric + loop + tool against a direct
computation."""
import math
from pathlib import Path

import pytest
import torch

from projects.ssl_eval import (KNNAccuracy, knn_accuracy, knn_classify,
                               reduce_features, topk_accuracy)

ROOT = Path(__file__).resolve().parents[2]
FAIR_BYOL = ('configs/ssl_benchmark/'
             'byol_resnet18-tiny_fair_1xb32-200it_synthetic-imagenet.py')


def _clusters(num_classes=6, per_class=12, dim=8, spread=0.05, seed=0):
    """Well separated Gaussian clusters around fixed random centres (the
    seed only changes the samples)."""
    centres = torch.nn.functional.normalize(torch.randn(
        num_classes, dim, generator=torch.Generator().manual_seed(123),
        dtype=torch.float64), dim=1) * 3
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(num_classes).repeat_interleave(per_class)
    feats = centres[labels] + spread * torch.randn(
        len(labels), dim, generator=g, dtype=torch.float64)
    return feats, labels


def _brute_force(query, bank, bank_labels, num_classes, k, temperature):
    """Row by row, in plain Python: cosine similarities, the k largest,
    votes exp(sim / T) summed per class."""
    scores = torch.zeros(len(query), num_classes, dtype=torch.float64)
    for i, q in enumerate(query):
        sims = [(float(q @ b / (q.norm() * b.norm())), j)
                for j, b in enumerate(bank)]
        sims.sort(key=lambda t: -t[0])
        for s, j in sims[:k]:
            scores[i, int(bank_labels[j])] += math.exp(s / temperature)
    return scores


@pytest.mark.parametrize('k,temperature,num_classes', [
    (20, 0.07, 6), (5, 0.5, 6), (1, 0.07, 6), (200, 0.1, 7)])
def test_matches_brute_force(k, temperature, num_classes):
    """Scores equal the brute-force reference (float64), including the
    exp(sim/T) weighting and k larger than the bank; top-1/top-5 of the
    scores agree with a per-row ranking of the reference."""
    g = torch.Generator().manual_seed(1)
    bank = torch.randn(40, 5, generator=g, dtype=torch.float64)
    bank_labels = torch.randint(0, num_classes, (40, ), generator=g)
    query = torch.randn(9, 5, generator=g, dtype=torch.float64)
    labels = torch.randint(0, num_classes, (9, ), generator=g)
    scores = knn_classify(query, bank, bank_labels, num_classes, k,
                          temperature, query_chunk=4, bank_chunk=7)
    ref = _brute_force(query, bank, bank_labels, num_classes, k,
                       temperature)
    assert torch.allclose(scores, ref, rtol=1e-12, atol=0)
    # per row: correct at t iff fewer than t classes score strictly higher
    # (rows whose label ties with another class are ambiguous: skipped)
    for t in (1, 5):
        pred = scores.topk(t, dim=1).indices
        for i in range(len(query)):
            s = ref[i, labels[i]]
            if ((ref[i] == s).sum() > 1):
                continue
            expected = int((ref[i] > s).sum()) < t
            assert bool((pred[i] == labels[i]).any()) == expected
    got = topk_accuracy(scores, labels, (1, 5))
    assert got['top1'] == pytest.approx(
        100.0 * float((scores.argmax(1) == labels).double().mean()))
    if k == 1:  # the nearest neighbour's label
        nn_label = bank_labels[(torch.nn.functional.normalize(query, dim=1)
                                @ torch.nn.functional.normalize(bank, dim=1)
                                .T).argmax(1)]
        assert torch.equal(scores.argmax(1), nn_label)


def test_separable_clusters_and_chunking():
    """Separable clusters: 100 % top-1; every chunking gives the
    unchunked scores; scaling features does not matter (normalised)."""
    bank, bank_labels = _clusters(seed=0)
    query, labels = _clusters(seed=1)
    acc = knn_accuracy(query, labels, bank, bank_labels, k=20,
                       temperature=0.07)
    assert acc == {'top1': 100.0, 'top5': 100.0}
    full = knn_classify(query, bank, bank_labels, 6, 20, 0.07,
                        query_chunk=10**6, bank_chunk=10**6)
    for qc, bc in [(1, 1), (5, 13), (7, 72), (72, 20)]:
        chunked = knn_classify(query * 3.5, bank, bank_labels, 6, 20, 0.07,
                               query_chunk=qc, bank_chunk=bc)
        assert torch.allclose(chunked, full, rtol=1e-12, atol=0)


def test_metric_needs_bank_and_validates():
    metric = KNNAccuracy()
    metric.process({}, [dict(feat=torch.ones(3), gt_label=torch.tensor([0]))])
    with pytest.raises(RuntimeError, match='feature bank'):
        metric.compute_metrics(metric.results)
    with pytest.raises(ValueError, match='feat'):
        metric.process({}, [dict(pred_score=torch.ones(3))])
    with pytest.raises(ValueError, match='temperature'):
        KNNAccuracy(temperature=0)
    x = torch.randn(2, 4, 3, 3)
    assert torch.equal(reduce_features((x, ), 'auto'), x.mean((2, 3)))
    tokens = torch.randn(2, 5, 4)
    assert torch.equal(reduce_features(tokens, 'auto', True), tokens[:, 0])
    assert torch.equal(reduce_features(tokens, 'auto', False),
                       tokens.mean(1))


def test_tool_and_loop_match_direct_computation(imagenet_root, tmp_path,
                                               monkeypatch):
    """tools/analysis_tools/knn_eval.py (KNNTestLoop + KNNAccuracy through
    the Runner) on a randomly initialised tiny BYOL equals kNN computed
    from features extracted by hand with the same model."""
    import importlib.util

    from mmengine.dataset import default_collate
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import DATASETS, MODELS

    spec = importlib.util.spec_from_file_location(
        'knn_eval', ROOT / 'tools/analysis_tools/knn_eval.py')
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    import projects.run_config as run_config
    load = run_config.load_config

    def fast_load(*args, **kwargs):  # skip yapf formatting of the log
        cfg = load(*args, **kwargs)
        object.__setattr__(cfg, '_format_python_code', False)
        return cfg
    monkeypatch.setattr(run_config, 'load_config', fast_load)
    root = str(imagenet_root)
    opts = [f'{key}.dataset.data_root={root}' for key in (
        'test_dataloader', 'test_cfg.bank_dataloader')]
    opts += ['randomness.seed=3', 'test_dataloader.num_workers=0',
             'test_cfg.bank_dataloader.num_workers=0',
             'test_dataloader.batch_size=7']
    ckpt = tmp_path / 'init.pth'
    # a fixed "checkpoint": the model's initial weights
    init_default_scope('mmpretrain')
    from projects.run_config import load_config
    cfg = load_config(str(ROOT / FAIR_BYOL))
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    model.eval()
    torch.save(dict(state_dict=model.state_dict(), meta={}), ckpt)

    metrics = tool.main([str(ROOT / FAIR_BYOL), str(ckpt), '--work-dir',
                         str(tmp_path / 'w'), '--k', '3', '--cfg-options',
                         *opts])

    def feats(split):
        ds_cfg = dict(cfg.test_cfg.bank_dataloader.dataset, data_root=root,
                      split=split)
        ds = DATASETS.build(ds_cfg)
        batch = default_collate([ds[i] for i in range(len(ds))])
        with torch.no_grad():
            data = model.data_preprocessor(batch, False)
            f = model.backbone(data['inputs'])[-1].mean((2, 3))
        return f, torch.tensor([int(s.gt_label) for s in
                                data['data_samples']])
    bank, bank_labels = feats('train')
    query, labels = feats('val')
    expected = knn_accuracy(query, labels, bank, bank_labels,
                            num_classes=1000, k=3, temperature=0.07)
    assert metrics['knn/top1'] == pytest.approx(expected['top1'])
    assert metrics['knn/top5'] == pytest.approx(expected['top5'])
