"""FLIP zero-shot classification: the prompt-ensemble classifier against its
closed form, the accuracy metric on hand-made scores, the main-category
labels, and a tiny FLIP on synthetic captioned images that reports
retrieval and zero-shot accuracy, both recomputed here by hand."""
import json
import uuid
from pathlib import Path

import pytest
import torch
import torch.nn as nn
from mmpretrain.registry import TOKENIZER
from mmpretrain.structures import DataSample

from flip_data import captions_root  # noqa: F401 (fixture)
from projects.flip import (FLIP, ZERO_SHOT_CLASSES, ZERO_SHOT_TEMPLATES,
                           COCOMainCategory, ImageTextRetrieval,
                           ZeroShotAccuracy)

TINY = 'configs/flip/flip_vit-tiny-p8_1xb32-mask50-300it_synthetic-coco.py'
BACKBONE = dict(type='MAEViT', arch=dict(embed_dims=32, num_layers=1,
                                         num_heads=2,
                                         feedforward_channels=64),
                img_size=32, patch_size=8)


class BagOfTokens(nn.Module):
    """Text tower stand-in: the sum of fixed float64 token vectors."""

    def __init__(self, embed_dims=3, context_length=12):
        super().__init__()
        self.embed_dims, self.context_length = embed_dims, context_length
        g = torch.Generator().manual_seed(0)
        table = torch.randn(49408, embed_dims, generator=g,
                            dtype=torch.float64)
        table[0] = 0  # padding
        self.register_buffer('table', table)

    def forward(self, tokens):
        return self.table[tokens].sum(1)


def _normed(x):
    return x / x.norm(dim=-1, keepdim=True)


def test_zero_shot_classifier_closed_form():
    """w_c = normalise(mean_t normalise(f(template_t(c)))), one column per
    class (the inner normalisation with FLIP's eps 1e-8), cached until
    train()."""
    classes = ['dog', 'red car', 'person']
    templates = ['a {}.', 'a photo of the {}.', 'there is a {} here.']
    model = FLIP(backbone=BACKBONE, text_encoder=BagOfTokens(), embed_dims=3,
                 zero_shot_classes=classes, zero_shot_templates=templates)
    weights = model.zero_shot_weights()
    tok = TOKENIZER.build(dict(type='CLIPBPETokenizer'))
    expected = torch.zeros(3, len(classes), dtype=torch.float64)
    for c, name in enumerate(classes):
        feats = []
        for t in templates:
            ids = tok([t.format(name)], context_length=12)
            f = model.text_encoder.table[ids[0]].sum(0)
            feats.append(f / (f.norm() + 1e-8))  # FLIP's l2_normalize
        expected[:, c] = _normed(sum(feats) / len(feats))
    assert weights.shape == (3, 3)
    assert torch.allclose(weights, expected, rtol=0, atol=1e-12)
    assert model.zero_shot_weights() is weights
    model.text_encoder.table.mul_(-1)
    model.train()
    assert torch.allclose(model.zero_shot_weights(), -expected, atol=1e-12)
    # the presets: CLIP's 80 ImageNet prompts, its 7-prompt subset, the
    # 1000 OpenAI ImageNet class names
    assert len(ZERO_SHOT_TEMPLATES['openai_imagenet']) == 80
    assert len(ZERO_SHOT_TEMPLATES['simple_imagenet']) == 7
    assert len(ZERO_SHOT_CLASSES['imagenet']) == 1000
    with pytest.raises(KeyError, match='openai_imagenet'):
        FLIP(backbone=BACKBONE, text_encoder=BagOfTokens(), embed_dims=3,
             zero_shot_templates='openai')
    with pytest.raises(ValueError, match='no {}'):
        FLIP(backbone=BACKBONE, text_encoder=BagOfTokens(), embed_dims=3,
             zero_shot_templates=['a photo'])


def test_predict_mixed_batch_and_metrics():
    """Captioned samples get text_feats, labelled ones pred_score = image
    embedding @ classifier; each metric takes its own samples."""
    torch.manual_seed(0)
    model = FLIP(backbone=BACKBONE, text_encoder=BagOfTokens(), embed_dims=3,
                 zero_shot_classes=['dog', 'car'],
                 zero_shot_templates=['a {}.']).eval()
    tokens = TOKENIZER.build(dict(type='CLIPBPETokenizer'))(
        ['a dog.', 'a car.'], context_length=12)
    samples = [DataSample(text_tokens=tokens),
               DataSample().set_gt_label(1), DataSample().set_gt_label(0)]
    with torch.no_grad():
        out = model.predict(torch.randn(3, 3, 32, 32), samples)
    assert out[0].text_feats.shape == (2, 3) and 'pred_score' not in out[0]
    assert 'text_feats' not in out[1]
    w = model.zero_shot_weights()
    for ds in out[1:]:
        assert torch.allclose(ds.pred_score, ds.img_feat @ w.float())
        assert ds.pred_label.item() == ds.pred_score.argmax().item()
    retrieval, accuracy = ImageTextRetrieval(topk=1), ZeroShotAccuracy(topk=1)
    for metric in (retrieval, accuracy):
        metric.process(None, [ds.to_dict() for ds in out])
    assert len(retrieval.results) == 1 and len(accuracy.results) == 2
    # hand-made scores: top-1 hits 0 and 3 (all scores of 3 negative: no
    # threshold), top-2 hits 0, 2, 3
    scores = torch.tensor([[.9, .1, 0.], [.2, .7, .1], [.5, .4, .1],
                           [-.3, -.1, -.2]])
    labels = [0, 2, 1, 1]
    metric = ZeroShotAccuracy(topk=(1, 2))
    metric.process(None, [{'pred_score': s, 'gt_label': torch.tensor([y])}
                          for s, y in zip(scores, labels)] +
                   [{'img_feat': torch.ones(3)}])
    assert metric.compute_metrics(metric.results) == {'top1': 50.,
                                                      'top2': 75.}
    with pytest.raises(ValueError, match='no labelled sample'):
        metric.compute_metrics([])
    with pytest.raises(ValueError, match='exceeds'):
        ZeroShotAccuracy(topk=5).compute_metrics(metric.results)
    with pytest.raises(KeyError, match='zero_shot_classes'):
        ZeroShotAccuracy().process(None, [{'gt_label': torch.tensor([0])}])


def test_main_category_labels(tmp_path):
    """Label = category with the largest total (non-crowd) area among the
    chosen classes; images without one are left out."""
    doc = dict(
        images=[dict(id=i, file_name=f'{i}.jpg') for i in (1, 2, 3, 4)],
        categories=[dict(id=1, name='person'), dict(id=3, name='car'),
                    dict(id=18, name='dog')],
        annotations=[
            dict(image_id=1, category_id=1, area=100.),
            dict(image_id=1, category_id=3, area=150.),
            dict(image_id=1, category_id=1, area=80.),
            dict(image_id=2, category_id=18, area=900.),
            dict(image_id=3, category_id=3, area=50.),
            dict(image_id=3, category_id=1, area=500., iscrowd=1),
        ])
    (tmp_path / 'inst.json').write_text(json.dumps(doc))
    ds = COCOMainCategory(ann_file='inst.json', data_root=str(tmp_path),
                          data_prefix='img/', lazy_init=False)
    assert ds.metainfo['classes'] == ('person', 'car', 'dog')
    got = [(d['ori_id'], d['gt_label']) for d in ds.load_data_list()]
    assert got == [(1, 0), (2, 2), (3, 1)]
    assert ds.get_data_info(0)['img_path'].endswith('img/1.jpg')
    ds = COCOMainCategory(ann_file='inst.json', data_root=str(tmp_path),
                          metainfo=dict(classes=('car', 'person')))
    assert [(d['ori_id'], d['gt_label']) for d in ds.load_data_list()] == \
        [(1, 1), (3, 0)]
    with pytest.raises(ValueError, match='bike'):
        COCOMainCategory(ann_file='inst.json', data_root=str(tmp_path),
                         metainfo=dict(classes=('bike', )))


def test_tiny_flip_reports_retrieval_and_zero_shot(captions_root, tmp_path):
    """Train the tiny config a few steps on synthetic captioned images, run
    its validation (both metrics in one pass) and recompute both metrics
    from the trained model's embeddings by hand."""
    from mmengine.dataset import default_collate

    from projects.analysis.samples import set_data_root
    from projects.run_config import build_runner, load_config
    root = Path(__file__).resolve().parents[2]
    cfg = load_config(str(root / TINY), work_dir=str(tmp_path))
    object.__setattr__(cfg, '_format_python_code', False)
    set_data_root(cfg, captions_root)
    for key in ('train_dataloader', 'val_dataloader'):
        cfg[key].update(num_workers=0, persistent_workers=False)
    cfg.train_dataloader.batch_size = 4
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=3,
                         val_interval=100)
    cfg.param_scheduler = []
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=-1,
                                        save_last=False)
    cfg.default_hooks.pop('visualization', None)
    cfg.visualizer.name = f'visualizer_{uuid.uuid4().hex}'
    cfg.log_level = 'WARNING'
    runner = build_runner(cfg)
    runner.train()
    metrics = runner.val_loop.run()
    assert {'retrieval/i2t_R@1', 'retrieval/t2i_R@5', 'retrieval/mean_R',
            'zero_shot/top1'} <= set(metrics)

    model = runner.model.eval()
    captions, labelled = runner.val_dataloader.dataset.datasets
    classes = cfg.classes
    templates = cfg.model.zero_shot_templates
    tok = TOKENIZER.build(dict(type='CLIPBPETokenizer'))

    def image_embedding(ds, i):
        data = model.data_preprocessor(default_collate([ds[i]]))
        images = model._images(data['inputs'])
        return model.encode_image(images, masked=False)[0][0]

    with torch.no_grad():
        # zero-shot: labels from the instances file, classifier by hand
        inst = json.loads((Path(captions_root) / 'annotations' /
                           'instances_val2017.json').read_text())
        names = {c['id']: c['name'] for c in inst['categories']}
        area = {}
        for a in inst['annotations']:
            if names[a['category_id']] in classes:
                key = (a['image_id'], classes.index(names[a['category_id']]))
                area[key] = area.get(key, 0.) + a['area']
        label = {}
        for (img, c), v in sorted(area.items()):
            if img not in label or v > area[(img, label[img])]:
                label[img] = c
        assert len(labelled) == len(label) > 0
        w = torch.stack([_normed(_normed(model.encode_text(
            tok([t.format(c) for t in templates], context_length=32))).mean(
                0)) for c in classes], 1)
        hits = [int((image_embedding(labelled, i) @ w).argmax()) ==
                label[labelled.get_data_info(i)['ori_id']]
                for i in range(len(labelled))]
        assert metrics['zero_shot/top1'] == pytest.approx(
            100 * sum(hits) / len(hits))
        # retrieval i2t R@1: is the best caption one of the image's own?
        img = torch.stack([image_embedding(captions, i)
                           for i in range(len(captions))])
        texts = [captions.get_data_info(i)['texts']
                 for i in range(len(captions))]
        txt = model.encode_text(tok(sum(texts, []), context_length=32))
        owner = torch.cat([torch.full((len(t), ), i)
                           for i, t in enumerate(texts)])
        best = (img @ txt.t()).argmax(1)
        r1 = 100 * (owner[best] == torch.arange(len(img))).float().mean()
        assert metrics['retrieval/i2t_R@1'] == pytest.approx(r1.item())
