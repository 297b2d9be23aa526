"""FLIP: contrastive loss and temperature against closed forms, patch
dropping, CLIP's BPE tokenizer and text tower (against OpenCLIP's), COCO
captions, the retrieval metric and one training step of the tiny config.
Zero-shot evaluation: test_flip_zero_shot.py."""
import json
import math
import re
from collections import Counter

import pytest
import torch

from flip_data import captions_root  # noqa: F401 (fixture)
from projects.flip import (FLIP, LOGIT_SCALE_INIT, CausalTextTransformer,
                           COCOCaptions, ImageTextRetrieval, TokenizeCaption,
                           contrastive_loss)

TINY = 'configs/flip/flip_vit-tiny-p8_1xb32-mask50-300it_synthetic-coco.py'
NUMBERS = ('zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven',
           'eight', 'nine', 'ten')


def _unit(n, d, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g, dtype=torch.float64)
    return x / x.norm(dim=1, keepdim=True)


def _tiny_flip(mask_ratio=0.5, **kwargs):
    model = FLIP(
        backbone=dict(type='MAEViT', arch=dict(embed_dims=32, num_layers=2,
                                               num_heads=2,
                                               feedforward_channels=64),
                      img_size=32, patch_size=8),
        text_encoder=dict(type='CausalTextTransformer', context_length=8,
                          width=16, num_layers=1, num_heads=2),
        embed_dims=16, mask_ratio=mask_ratio, **kwargs)
    model.init_weights()
    return model


def test_contrastive_loss_closed_form():
    """Value, d/dimg, d/dtxt and d/dlogit_scale of the symmetric InfoNCE
    against the written-out formulas (float64)."""
    n, d = 5, 4
    x, y = _unit(n, d, 0).requires_grad_(True), _unit(n, d, 1)
    y.requires_grad_(True)
    t = torch.tensor(math.log(7.), dtype=torch.float64, requires_grad=True)
    loss = contrastive_loss(x, y, t)
    gx, gy, gt = torch.autograd.grad(loss, (x, y, t))
    with torch.no_grad():
        s = 7.
        S = s * x @ y.t()
        expected = sum(-S[i, i] + 0.5 * torch.log(torch.exp(S[i]).sum()) +
                       0.5 * torch.log(torch.exp(S[:, i]).sum())
                       for i in range(n)) / n
        assert abs(loss.item() - expected.item()) < 1e-12
        P = torch.softmax(S, dim=1)  # image -> text
        C = torch.softmax(S, dim=0)  # text -> image (columns)
        eye = torch.eye(n, dtype=torch.float64)
        ex = s / (2 * n) * ((P + C) @ y - 2 * y)
        ey = s / (2 * n) * ((P + C).t() @ x - 2 * x)
        et = ((P + C) * S).sum() / (2 * n) - (S * eye).sum() / n
        assert torch.allclose(gx, ex, rtol=0, atol=1e-12)
        assert torch.allclose(gy, ey, rtol=0, atol=1e-12)
        assert abs(gt.item() - et.item()) < 1e-12
    # orthonormal matched pairs at scale 100: loss = log(1 + 3 e^-100)
    e = torch.eye(4, dtype=torch.float64)
    assert contrastive_loss(e, e, torch.tensor(math.log(100.))) < 1e-40


@pytest.mark.parametrize('raw,scale,has_grad', [
    (LOGIT_SCALE_INIT, 1 / 0.07, True), (math.log(200.), 100., False),
    (-1., 1., False), (math.log(50.), 50., True)])
def test_temperature_clamp(raw, scale, has_grad):
    """scale = exp(clip(logit_scale, 0, log 100)); no gradient outside."""
    x, y = _unit(4, 3, 2), _unit(4, 3, 3)
    t = torch.tensor(raw, dtype=torch.float64, requires_grad=True)
    loss = contrastive_loss(x, y, t)
    ref = contrastive_loss(x, y, torch.tensor(math.log(scale),
                                              dtype=torch.float64))
    assert abs(loss.item() - ref.item()) < 1e-12
    (g, ) = torch.autograd.grad(loss, t)
    assert (g.abs().item() > 0) == has_grad
    model = _tiny_flip()
    assert model.logit_scale.requires_grad
    assert abs(model.clamped_logit_scale().exp().item() - 1 / 0.07) < 1e-5
    assert not _tiny_flip(learnable_scale=False).logit_scale.requires_grad


@pytest.mark.parametrize('ratio,kept', [(0.5, 8), (0.75, 4)])
def test_patch_dropping(ratio, kept):
    """Exactly int(L (1 - r)) patches are encoded, dropped ones have no
    influence, kept ones do; without masking the result equals the masked
    path at ratio 0 (class token + all patches)."""
    torch.manual_seed(0)
    model = _tiny_flip(mask_ratio=ratio).train()
    assert model.num_patches == 16 and model.num_kept() == kept
    img = torch.randn(3, 3, 32, 32)
    torch.manual_seed(1)
    tokens, mask, _ = model.backbone(img, mask=True)
    assert tokens.shape[1] == 1 + kept
    assert mask.sum(1).tolist() == [16 - kept] * 3
    torch.manual_seed(1)
    feat, mask2 = model.encode_image(img)
    assert torch.equal(mask, mask2)
    # patch index p = row * 4 + col covers pixels [8 row:, 8 col:]
    drop = mask.reshape(3, 4, 4).repeat_interleave(8, 1).repeat_interleave(
        8, 2)[:, None].bool().expand_as(img)
    noise = torch.randn_like(img)
    torch.manual_seed(1)  # the same mask again
    feat_dropped = model.encode_image(img + 5 * noise * drop)[0]
    assert torch.allclose(feat, feat_dropped, atol=1e-6)
    torch.manual_seed(1)
    feat_kept = model.encode_image(img + noise * ~drop)[0]
    assert (feat - feat_kept).abs().max() > 1e-3
    # every trainable parameter gets a gradient from the loss (no unused
    # parameters under DDP); the fixed sin-cos position embedding does not
    from mmpretrain.structures import DataSample
    tokens = torch.tensor([[49406, 5, 6, 49407, 0, 0, 0, 0]] * 3)
    samples = [DataSample(text_tokens=t) for t in tokens]
    losses = model.loss(img, samples)
    assert losses['kept_patches'].item() == kept
    losses['loss'].backward()
    missing = [n for n, p in model.named_parameters()
               if p.requires_grad and p.grad is None]
    assert not missing and not model.backbone.pos_embed.requires_grad
    # evaluation sees everything; the masked path at ratio 0 agrees
    model.eval()
    full, no_mask = model.encode_image(img)
    assert not no_mask.any()
    model.backbone.mask_ratio = 0.
    assert torch.allclose(model.encode_image(img, masked=True)[0], full,
                          atol=1e-5)


def test_clip_bpe_tokenizer():
    """CLIP's ids (SOT 49406, EOT 49407, zero padding), FLIP's 32
    positions by default, truncation ending with EOT, the three modes."""
    transform = TokenizeCaption(mode='first')
    out = transform(dict(texts=['A photo of a  DOG.', 'x']))['text_tokens']
    assert out.shape == (32, )
    assert out[:8].tolist() == [49406, 320, 1125, 539, 320, 1929, 269, 49407]
    assert not out[8:].any()
    tok = transform.tokenizer
    assert tok.vocab_size == 49408
    assert tok.decode(out[1:7].tolist()).strip() == 'a photo of a dog .'
    long = ' '.join(['car'] * 40)
    cut = TokenizeCaption(context_length=6, mode='all')(
        dict(texts=[long, 'two cars.']))['text_tokens']
    assert cut.shape == (2, 6)
    assert cut[0].tolist() == [49406] + [1615] * 4 + [49407]
    assert cut[1, 0] == 49406 and cut[1, 4] == 49407 and cut[1, 5] == 0
    import numpy as np
    np.random.seed(0)
    picks = {int(TokenizeCaption(mode='random')(
        dict(texts=['a dog.', 'a car.']))['text_tokens'][2])
        for _ in range(20)}
    assert picks == {1929, 1615}
    with pytest.raises(ValueError, match='mode'):
        TokenizeCaption(mode='every')


def test_text_tower_matches_open_clip():
    """Our text tower with OpenCLIP's (causal, QuickGELU, argmax pooling,
    bias-free projection) given the same state dict: same parameter names
    (OpenAI CLIP's) and the same features (float32: mmpretrain's CLIP
    LayerNorm computes in float32); EOT pooling ignores the padding after
    EOT."""
    from open_clip.model import CLIPTextCfg, _build_text_tower
    torch.manual_seed(0)
    ours = CausalTextTransformer(context_length=10, width=32, num_layers=2,
                                 num_heads=4, embed_dims=24).eval()
    ref = _build_text_tower(24, CLIPTextCfg(context_length=10, width=32,
                                            heads=4, layers=2),
                            quick_gelu=True).eval()
    ref_keys = set(ref.state_dict()) - {'attn_mask'}
    assert set(ours.state_dict()) == ref_keys
    ref.load_state_dict(ours.state_dict(), strict=False)
    tok = TokenizeCaption(context_length=10, mode='all').tokenizer
    ids = tok(['a red person on the left.', 'two cars.'], context_length=10)
    out = ours(ids)
    assert out.shape == (2, 24)
    assert torch.allclose(out, ref(ids), rtol=0, atol=1e-5)  # float32
    junk = ids.clone()
    junk[1, 5:] = 1234  # after EOT (position 4)
    assert torch.equal(ours(junk), out)
    changed = ids.clone()
    changed[0, 2] = 1234
    assert (ours(changed)[0] - out[0]).abs().max() > 1e-4
    with pytest.raises(ValueError, match='context_length'):
        ours(ids[:, :8])
    # the paper's text tower sizes (facebookresearch/flip configs)
    sizes = {a: (m.width, len(m.transformer.resblocks),
                 m.transformer.resblocks[0].attn.num_heads)
             for a in 'bl' for m in [CausalTextTransformer(arch=a)]}
    assert sizes == {'b': (512, 12, 8), 'l': (768, 12, 12)}
    assert CausalTextTransformer.arch_zoo['h'] == dict(
        width=1024, num_layers=24, num_heads=16)


def test_captions_format_and_consistency(captions_root):
    from projects.synthetic_data.captions import CATEGORY_COLOURS, plural
    ann_dir = captions_root / 'annotations'
    for split in ('train2017', 'val2017'):
        caps = json.loads((ann_dir / f'captions_{split}.json').read_text())
        inst = json.loads((ann_dir / f'instances_{split}.json').read_text())
        # official COCO captions layout
        assert set(caps) == {'info', 'licenses', 'images', 'annotations'}
        assert caps['images'] == inst['images']
        ids = [a['id'] for a in caps['annotations']]
        assert len(set(ids)) == len(ids)
        for a in caps['annotations']:
            assert set(a) == {'id', 'image_id', 'caption'}
            assert isinstance(a['caption'], str) and a['caption'].endswith('.')
        per_image = {}
        for a in caps['annotations']:
            per_image.setdefault(a['image_id'], []).append(a['caption'])
        names = {c['id']: c['name'] for c in inst['categories']}
        counts = {img['id']: Counter() for img in inst['images']}
        for a in inst['annotations']:
            counts[a['image_id']][names[a['category_id']]] += 1
        assert set(per_image) == {i for i, c in counts.items() if c}
        for image_id, texts in per_image.items():
            assert len(texts) == 5
            count = counts[image_id]
            # "there are N objects: two people and a car."
            head, tail = texts[1][:-1].split(': ')
            assert head.split()[2] in (NUMBERS[sum(count.values())], )
            said = Counter()
            for part in re.split(', | and ', tail):
                num, noun = part.split(' ', 1)
                n = 1 if num in ('a', 'an') else NUMBERS.index(num)
                name = next(k for k in count if noun in (k, plural(k)))
                said[name] += n
            assert said == count, (texts[1], count)
            # colours follow from the category
            for name in count:
                assert CATEGORY_COLOURS[name] in texts[0]
    # deterministic; every caption decodes back to its words (CLIP BPE)
    from projects.synthetic_data.captions import captions_document
    inst = json.loads((ann_dir / 'instances_train2017.json').read_text())
    caps = json.loads((ann_dir / 'captions_train2017.json').read_text())
    assert captions_document(inst) == caps
    tok = TokenizeCaption().tokenizer
    for a in caps['annotations']:
        words = re.findall(r'\w+|[^\w\s]', a['caption'])
        assert tok.decode(tok.encode(a['caption'])).split() == words


def test_dataset_predict_and_retrieval_metric(captions_root):
    from mmengine.registry import init_default_scope
    init_default_scope('mmpretrain')
    ds = COCOCaptions(
        ann_file='annotations/captions_val2017.json',
        data_root=str(captions_root), data_prefix='val2017/', test_mode=True,
        pipeline=[dict(type='LoadImageFromFile'),
                  dict(type='Resize', scale=(32, 32)),
                  dict(type='TokenizeCaption', context_length=8,
                       mode='all'),
                  dict(type='PackInputs', algorithm_keys=('text_tokens', ))])
    assert ds.img_size == len(ds) and ds.text_size == 5 * len(ds)
    assert [t for i in range(len(ds)) for t in ds.get_data_info(i)[
        'text_ids']] == list(range(ds.text_size))
    from mmengine.dataset import default_collate
    batch = default_collate([ds[i] for i in range(len(ds))])
    model = _tiny_flip()
    model.eval()
    with torch.no_grad():
        preds = model(**model.data_preprocessor(batch), mode='predict')
    assert preds[0].img_feat.shape == (16, )
    assert preds[0].text_feats.shape == (5, 16)
    metric = ImageTextRetrieval(topk=(1, 5))
    metric.process(None, [p.to_dict() for p in preds])
    res = metric.compute_metrics(metric.results)
    assert set(res) == {'i2t_R@1', 'i2t_R@5', 't2i_R@1', 't2i_R@5', 'mean_R'}
    # closed cases: 3 images with 2 captions each; perfect embeddings
    img = torch.eye(3)
    owner = torch.tensor([0, 0, 1, 1, 2, 2])
    assert ImageTextRetrieval.recalls(img, img[owner], owner, (1, ))[
        'mean_R'] == 100.
    # caption j = e_swapped(j) + 0.5 e_owner(j): the captions of images 0
    # and 1 are closer to the other image; image 2 is unambiguous
    swapped = torch.tensor([1, 1, 0, 0, 2, 2])
    res = ImageTextRetrieval.recalls(img, img[swapped] + 0.5 * img[owner],
                                     owner, (1, 2, 3))
    third = 100 / 3
    assert [round(res[k], 4) for k in ('i2t_R@1', 'i2t_R@2', 'i2t_R@3')] == \
        [round(third, 4), round(third, 4), 100.]
    assert [round(res[k], 4) for k in ('t2i_R@1', 't2i_R@2', 't2i_R@3')] == \
        [round(third, 4), 100., 100.]


def test_tiny_config_trains(captions_root, tmp_path):
    from zoo_steps import train_steps
    rows = train_steps(TINY, captions_root, tmp_path, iters=1, batch_size=4)
    (row, ) = rows
    # loss at initialisation: near the chance level log(batch)
    assert math.isfinite(row['loss']) and 0 < row['loss'] < 3 * math.log(4)
    assert row['kept_patches'] == 32  # int(64 * (1 - 0.5))
    assert abs(row['logit_scale'] - 1 / 0.07) < 1e-3
