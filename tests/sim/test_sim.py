"""SIM: loss and gradient closed forms, stop-gradient, EMA math, exact mask
counts, view geometry (closed forms and a pixel-exact brute force through
the transform), masked encoding, one training step on two backbones."""
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.hooks import Hook
from mmengine.logging import MessageHub
from mmengine.model import is_model_wrapper
from mmengine.registry import HOOKS, init_default_scope
from mmpretrain.registry import MODELS, TRANSFORMS
from mmpretrain.structures import DataSample

import projects.magneto  # noqa: F401  (registers MagnetoViT)
from projects.run_config import load_config
from projects.sim import (absolute_pos_embed, encode_tokens, relative_grid,
                          relative_query_embed, sim_loss)
from zoo_steps import train_steps

ROOT = Path(__file__).resolve().parents[2]
TINY = 'configs/sim/sim_vit-nano-p8_tiny_1xb8-100it_synthetic-imagenet.py'
REAL = 'configs/sim/sim_vit-base-p16_8xb512-amp-coslr-1600e_in1k.py'


@pytest.fixture(scope='module')
def tiny_cfg():
    init_default_scope('mmpretrain')
    return load_config(str(ROOT / TINY))


def _build(cfg, backbone_type='MAEViT', **backbone):
    torch.manual_seed(0)
    model = MODELS.build(dict(
        cfg.model, backbone=dict(cfg.model.backbone, type=backbone_type,
                                 **backbone)))
    model.init_weights()
    return model


def _batch(cfg, batch=3, seed=0, dtype=torch.float64):
    """Two random views, masks from the config's generator, random but
    valid relative geometry (one sample flipped)."""
    (gen_cfg,) = [t for t in cfg.train_pipeline
                  if t['type'] == 'SIMMaskGenerator']
    gen = TRANSFORMS.build(gen_cfg)
    np.random.seed(seed)
    g = torch.Generator().manual_seed(seed)
    size = cfg.model.backbone.img_size
    views = [torch.randn(batch, 3, size, size, generator=g, dtype=dtype)
             for _ in range(2)]
    samples = []
    for b in range(batch):
        s = DataSample()
        s.set_mask(torch.as_tensor(gen.transform({})['mask']))
        rel = torch.rand(6, generator=g, dtype=torch.float64)
        rel[2:4] += 0.5
        rel[4] = float(b == 1)
        s.set_field(rel.numpy().astype(np.float32), 'rel_pos')
        samples.append(s)
    return views, samples


@pytest.mark.parametrize('neg_weight', [0.0, 0.02, 0.5])
def test_loss_and_gradient_closed_form(neg_weight):
    """Loss = (mean ||p - t||^2 + w * mean diag(P C P^T)) / D with t the
    affine-free LayerNorm of the targets and C = T^T T / M (the official
    formula, M x M diagonal); dL/dp = 2 / (M D) (p - t + w C p); the target
    receives no gradient; w = 0 gives the plain MSE / D."""
    g = torch.Generator().manual_seed(1)
    pred = torch.randn(2, 5, 8, generator=g, dtype=torch.float64,
                       requires_grad=True)
    target = (3 * torch.randn(2, 5, 8, generator=g, dtype=torch.float64)
              + 1).requires_grad_()
    out = sim_loss(pred, target, neg_weight)
    out['loss'].backward()

    with torch.no_grad():
        t = target.reshape(-1, 8)
        t = (t - t.mean(-1, keepdim=True)) / torch.sqrt(
            t.var(-1, unbiased=False, keepdim=True) + 1e-5)
        p = pred.reshape(-1, 8)
        M, D = p.shape
        corr = t.T @ t / M
        pos = ((p - t)**2).sum(-1).mean()
        neg = torch.diagonal(p @ corr @ p.T).mean()
        expected = (pos + neg_weight * neg) / D
        grad = 2 / (M * D) * (p - t + neg_weight * p @ corr)
    torch.testing.assert_close(out['loss'], expected, rtol=1e-12, atol=0)
    torch.testing.assert_close(pred.grad.reshape(-1, 8), grad, rtol=1e-10,
                               atol=1e-14)
    assert target.grad is None
    if neg_weight == 0:
        torch.testing.assert_close(
            out['loss'], torch.nn.functional.mse_loss(p, t), rtol=1e-12,
            atol=0)


def test_model_loss_reference_and_stop_gradient(tiny_cfg):
    """SIM.loss equals sim_loss(head(neck(encoder(visible view 1))),
    target neck(target backbone(view 2)) without cls), with the target
    computed through the backbone's own forward; after backward the
    momentum branch has no gradients and requires none, the frozen patch
    embedding gets none, every other online parameter gets one."""
    model = _build(tiny_cfg).double().train()
    views, samples = _batch(tiny_cfg)
    MessageHub.get_current_instance().update_info('max_iters', 10)
    loss = model.loss(views, samples)
    mask = torch.stack([s.mask for s in samples]).bool()
    rel = torch.stack([torch.as_tensor(s.rel_pos) for s in samples])

    with torch.no_grad():
        tgt = model.target_net.module
        target = tgt['neck'](tgt['backbone'](views[1], mask=None)[-1])[:, 1:]
        pred = model.head(model.neck(
            encode_tokens(model.backbone, views[0], mask)), mask, rel)
        expected = sim_loss(pred, target, 0.02)['loss']
    torch.testing.assert_close(loss['loss'], expected, rtol=1e-10, atol=0)

    loss['loss'].backward()
    for name, p in model.target_net.named_parameters():
        assert p.grad is None and not p.requires_grad, name
    for name, p in model.named_parameters():
        if name.startswith('target_net.'):
            continue
        if name.startswith('backbone.patch_embed.') or \
                name == 'backbone.pos_embed':
            assert p.grad is None and not p.requires_grad, name
        else:
            assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_ema_update_math(tiny_cfg):
    """First update copies the online net; step k then gives
    t <- (1 - m_k) t + m_k s with m_k = m0 (cos(pi k / K) + 1) / 2, i.e. the
    official t <- mm t + (1 - mm) s, mm = 1 - (1 - 0.995)(cos + 1) / 2."""
    K = 8
    MessageHub.get_current_instance().update_info('max_iters', K)
    model = _build(tiny_cfg).double()
    ema = model.target_net
    ema.update_parameters(model._online())
    online = dict(model._online().named_parameters())
    for k, p in ema.module.named_parameters():
        assert torch.equal(p, online[k]), k
    for step in (1, 2):
        before = {k: p.detach().clone()
                  for k, p in ema.module.named_parameters()}
        with torch.no_grad():
            for p in model._online().parameters():
                p.add_(torch.randn_like(p))
        ema.update_parameters(model._online())
        mm = 1 - (1 - 0.995) * (math.cos(math.pi * step / K) + 1) / 2
        for k, p in ema.module.named_parameters():
            # compare the increments; mmpretrain evaluates the cosine on its
            # integer step buffer in float32 (relative error ~1e-7 on m_k)
            torch.testing.assert_close(
                p - before[k], (1 - mm) * (online[k] - before[k]),
                rtol=1e-6, atol=1e-15)


@pytest.mark.parametrize('grid, count, min_block', [
    (14, 118, 16), (7, 29, 4), (4, 16, 2), (4, 0, 2), (5, 24, 2)])
def test_mask_exact_count(grid, count, min_block):
    """SIMMaskGenerator: exactly ``count`` masked patches every time (the
    official top-up), deterministic under a seed."""
    gen = TRANSFORMS.build(dict(type='SIMMaskGenerator', input_size=grid,
                                num_masking_patches=count,
                                min_num_patches=min_block))
    np.random.seed(0)
    masks = np.stack([gen.transform({})['mask'] for _ in range(40)])
    assert masks.shape == (40, grid, grid)
    assert set(np.unique(masks)) <= {0, 1}
    assert (masks.reshape(40, -1).sum(1) == count).all()
    np.random.seed(0)
    assert (gen.transform({})['mask'] == masks[0]).all()


def _rel(di=0., dj=0., dh=1., dw=1., flip=0., flip_dj=0.):
    return torch.tensor([[di, dj, dh, dw, flip, flip_dj]],
                        dtype=torch.float64)


@pytest.mark.parametrize('case', ['identical', 'shifted', 'flipped',
                                  'scaled'])
def test_geometry_closed_forms(case):
    """View-2 patch (r, c) maps to view-1 patch index (row, col):
    identical crops -> (r, c); crop 1 patch down, 2 right -> (r+1, c+2);
    same box, one view flipped -> (r, g-1-c); twice the height/width
    anchored at the same corner -> (2r+0.5, 2c+0.5)."""
    g = 4
    r, c = torch.meshgrid(torch.arange(g, dtype=torch.float64),
                          torch.arange(g, dtype=torch.float64),
                          indexing='ij')
    r, c = r.flatten(), c.flatten()
    rel, want = {
        'identical': (_rel(), (r, c)),
        'shifted': (_rel(di=1 / g, dj=2 / g), (r + 1, c + 2)),
        # boxes j1 = j2 = 0, w1 = w2 = W: flip_dj = (W - 0 - 0) / W = 1
        'flipped': (_rel(flip=1., flip_dj=1.), (r, g - 1 - c)),
        'scaled': (_rel(dh=2., dw=2.), (2 * r + 0.5, 2 * c + 0.5)),
    }[case]
    rows, cols = relative_grid(rel, g)
    torch.testing.assert_close(rows[0], want[0], rtol=0, atol=1e-12)
    torch.testing.assert_close(cols[0], want[1], rtol=0, atol=1e-12)

    D = 16
    emb = relative_query_embed(rel, D, g)
    assert emb.shape == (1, g * g, 2 * D)
    # position part = absolute sin-cos embedding at the mapped position
    if case in ('identical', 'shifted', 'flipped'):
        ref = absolute_pos_embed(g + 2, D, cls_token=False,
                                 dtype=torch.float64)[0].view(g + 2, g + 2, D)
        idx_r, idx_c = want[0].long(), want[1].long()
        torch.testing.assert_close(emb[0, :, :D], ref[idx_r, idx_c],
                                   rtol=0, atol=1e-12)
    # scale part: sin/cos of 10 log(dh), 10 log(dw)
    s = 10 * math.log(rel[0, 2].item())
    omega = 1. / 10000**(torch.arange(D // 4, dtype=torch.float64) / (D / 4))
    torch.testing.assert_close(
        emb[0, :, D:D + D // 2],
        torch.cat([torch.sin(s * omega), torch.cos(s * omega)]).expand(
            g * g, -1), rtol=0, atol=1e-12)


def test_geometry_pixel_brute_force():
    """Through SIMTwoViews on an image whose pixels hold their own
    coordinates: each view-2 patch centre's original coordinate equals
    view 1's (affine) coordinate at the mapped position, for random crops,
    scales and flips."""
    H, W, S, p = 48, 72, 32, 8
    g = S // p
    yy, xx = np.meshgrid(np.arange(H), np.arange(W), indexing='ij')
    img = np.stack([xx, yy, np.zeros_like(xx)], -1).astype(np.float32)
    tr = TRANSFORMS.build(dict(type='SIMTwoViews', crop_size=S,
                               crop_ratio_range=(0.1, 1.0), flip_prob=0.5,
                               interpolation='bilinear', backend='cv2'))
    np.random.seed(0)
    flips, worst = set(), 0.
    inner = np.arange(2, S - 2)
    for _ in range(12):
        out = tr.transform(dict(img=img.copy()))
        v1, v2 = out['img']
        flips.add(tuple(out['sim_crops'][:, 4]))
        rows, cols = relative_grid(
            torch.as_tensor(out['rel_pos'], dtype=torch.float64)[None], g)
        rows, cols = rows[0].view(g, g).numpy(), cols[0].view(g, g).numpy()
        # view 1 is affine in the pixel position: fit it on interior pixels
        fx = np.polyfit(inner + 0.5, v1[S // 2, inner, 0], 1)
        fy = np.polyfit(inner + 0.5, v1[inner, S // 2, 1], 1)
        for r in range(g):
            for c in range(g):
                # the patch centre lies between its 4 middle pixels
                blk = v2[r * p + p // 2 - 1:r * p + p // 2 + 1,
                         c * p + p // 2 - 1:c * p + p // 2 + 1]
                x2, y2 = blk[..., 0].mean(), blk[..., 1].mean()
                x1 = np.polyval(fx, (cols[r, c] + 0.5) * p)
                y1 = np.polyval(fy, (rows[r, c] + 0.5) * p)
                worst = max(worst, abs(x1 - x2), abs(y1 - y2))
    assert worst < 1e-3, worst
    assert len(flips) >= 3  # flipped and unflipped views both exercised


@pytest.mark.parametrize('backbone', ['MAEViT', 'MagnetoViT'])
def test_encode_tokens_matches_backbone(tiny_cfg, backbone):
    """encode_tokens without a mask is the backbone's own forward; with a
    mask it is MAEViT's masked forward keeping exactly the visible patches
    (row-major)."""
    model = _build(tiny_cfg, backbone, final_norm=True,
                   out_type='raw').double().eval()
    vit = model.backbone
    views, samples = _batch(tiny_cfg, batch=2)
    x = views[0]
    full = vit(x, mask=None) if backbone == 'MAEViT' else vit(x)
    torch.testing.assert_close(encode_tokens(vit, x), full[-1], rtol=1e-12,
                               atol=1e-12)
    # extract_feat: the unmasked backbone (MAEViT called with mask=None)
    torch.testing.assert_close(model.extract_feat(x)[-1], full[-1], rtol=0,
                               atol=0)
    if backbone == 'MAEViT':
        mask = torch.stack([s.mask for s in samples]).bool()
        keep = ~mask.flatten(1)

        def visible(tokens, ratio):
            B, _, C = tokens.shape
            return tokens[keep].view(B, -1, C), None, None

        vit.random_masking = visible
        ref = vit(x, mask=True)[0]
        torch.testing.assert_close(encode_tokens(vit, x, mask), ref,
                                   rtol=1e-12, atol=1e-12)
        assert ref.shape[1] == 1 + 49 - 29


def test_backbone_keys_load_into_plain_vit(tiny_cfg):
    """The checkpoint's ``backbone.*`` keys load strictly into mmpretrain's
    plain VisionTransformer (the fine-tune / downstream backbone) and give
    the same features; momentum-branch keys stay under ``target_net.``."""
    model = _build(tiny_cfg).eval()
    state = model.state_dict()
    prefix = 'backbone.'
    weights = {k[len(prefix):]: v for k, v in state.items()
               if k.startswith(prefix)}
    assert any(k.startswith('target_net.module.backbone.') for k in state)
    bb = tiny_cfg.model.backbone
    vit = MODELS.build(dict(type='VisionTransformer', arch=bb.arch,
                            img_size=bb.img_size, patch_size=bb.patch_size,
                            final_norm=False, out_type='raw'))
    vit.load_state_dict(weights, strict=True)
    vit.eval()  # (mmpretrain backbones' train() returns None)
    x = torch.randn(2, 3, bb.img_size, bb.img_size)
    torch.testing.assert_close(vit(x)[-1], model.extract_feat(x)[-1])


def test_real_config_builds():
    """The ViT-B/16 config builds with the official sizes: 118 of 196
    masked, 768-d decoder with 2 + 4 BN layers, momentum 0.005."""
    init_default_scope('mmpretrain')
    cfg = load_config(str(ROOT / REAL))
    with torch.device('meta'):  # shapes only: no 250 M-parameter init
        model = MODELS.build(cfg.model)
    online = sum(p.numel() for n, p in model.named_parameters()
                 if not n.startswith('target_net.'))
    assert 85e6 < sum(p.numel() for p in model.backbone.parameters()) < 87e6
    assert online > 120e6
    assert model.backbone.embed_dims == 768 and len(model.backbone.layers) == 12
    assert len(model.neck.layers) == 2 and len(model.head.layers) == 4
    assert type(model.head.layers[0].ln1).__name__ == 'TokenBatchNorm'
    assert model.target_net.momentum == 0.005
    assert model.head.loss_module.neg_weight == 0.02
    (gen,) = [t for t in cfg.train_pipeline if t['type'] == 'SIMMaskGenerator']
    assert gen['num_masking_patches'] == 118 and gen['input_size'] == 14
    assert not model.backbone.patch_embed.projection.weight.requires_grad


@HOOKS.register_module(force=True)
class SIMStepProbe(Hook):
    """Records online / target weights around the first training step."""
    records = {}

    def _model(self, runner):
        model = runner.model
        return model.module if is_model_wrapper(model) else model

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        model = self._model(runner)
        self.records['backbone'] = type(model.backbone).__name__
        self.records['online_before'] = {
            k: v.detach().clone()
            for k, v in model._online().named_parameters()}

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        model = self._model(runner)
        self.records['online_after'] = dict(model._online().named_parameters())
        self.records['target_after'] = dict(
            model.target_net.module.named_parameters())


@pytest.mark.parametrize('backbone', ['MAEViT', 'MagnetoViT'])
def test_tiny_config_training_step(imagenet_root, tmp_path, backbone):
    """One step of the tiny zoo config on two backbones: finite positive
    loss, the target is the online net before the step (first EMA update
    copies), the online net moved except the frozen patch embedding."""
    rows = train_steps(TINY, imagenet_root, tmp_path, iters=1, batch_size=4,
                       cfg_options={'model.backbone.type': backbone,
                                    'custom_hooks': [
                                        dict(type='SIMStepProbe')]})
    loss = [r['loss'] for r in rows if 'loss' in r]
    assert len(loss) == 1 and math.isfinite(loss[0]) and loss[0] > 0
    rec = SIMStepProbe.records
    assert rec['backbone'] == backbone
    before, after = rec['online_before'], rec['online_after']
    for k, v in rec['target_after'].items():
        assert torch.equal(v, before[k]), k
    assert torch.equal(before['backbone.patch_embed.projection.weight'],
                       after['backbone.patch_embed.projection.weight'])
    assert not torch.equal(before['neck.decoder_embed.weight'],
                           after['neck.decoder_embed.weight'])
    moved = [k for k in before if k.startswith('backbone.layers.')
             and not torch.equal(before[k], after[k])]
    assert len(moved) > len(before) // 4
