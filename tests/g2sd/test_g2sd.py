"""G2SD: generic-distillation loss against a reference built from
mmpretrain's own MAE forward, shared exact masks, frozen teachers, the
specific-distillation losses (zero at student == teacher, closed-form
gradients) and one training step of each tiny zoo config."""
import copy
import math
from pathlib import Path

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.registry import HOOKS, init_default_scope
from mmpretrain.registry import MODELS as PRETRAIN_MODELS
from mmpretrain.structures import DataSample

from projects.g2sd import (channel_wise_divergence, decoder_hidden_states,
                           hard_distill_loss, masking_from_noise,
                           score_masked_distill_loss, soft_distill_loss)
from projects.run_config import load_config
from zoo_steps import train_steps

ROOT = Path(__file__).resolve().parents[2]
GENERIC = 'configs/g2sd/g2sd_vit-nano-p8_mae-nano_tiny_1xb8-40it_synthetic-imagenet.py'
CLS = 'configs/g2sd/vit-nano-p8_g2sd-distill_tiny_1xb8-40it_synthetic-imagenet.py'
SEG = 'configs/g2sd/upernet_vit-nano_g2sd-distill_tiny_1xb4-40it_synthetic-ade20k.py'
DET = ('configs/g2sd/'
       'faster-rcnn_vit-nano_simple-fpn_g2sd-distill_tiny_1xb2-40it_synthetic-coco.py')
REAL_GENERIC = ('configs/g2sd/'
                'g2sd_vit-small-p16_mae-vit-base_8xb256-amp-coslr-300e_in1k.py')


@pytest.fixture(scope='module')
def generic_cfg():
    init_default_scope('mmpretrain')
    return load_config(str(ROOT / GENERIC))


def _build_generic(cfg, **overrides):
    torch.manual_seed(0)
    model = PRETRAIN_MODELS.build(dict(cfg.model, **overrides))
    model.init_weights()
    return model


def _truncated_decoder(decoder, num_layers):
    """mmpretrain's MAEPretrainDecoder.forward cut after ``num_layers``
    blocks, without norm and pixel projection (patch tokens only)."""
    dec = copy.deepcopy(decoder)
    dec.decoder_blocks = dec.decoder_blocks[:num_layers]
    dec.decoder_pred = nn.Identity()
    setattr(dec, dec.decoder_norm_name, nn.Identity())
    return dec


@pytest.mark.parametrize('supervise_all', [True, False])
def test_generic_loss_matches_reference(generic_cfg, supervise_all):
    """Loss = Smooth-L1(beta 2) between MLP(student decoder output) and the
    affine-free LayerNorm of the teacher's decoder block-2 output, both
    masked by the SAME noise; all 1 + L tokens or masked patches only.
    Reference: mmpretrain's MAEViT.forward (its own torch.rand masking with
    the same seed) and MAEPretrainDecoder.forward cut after the block."""
    head = dict(generic_cfg.model.head, supervise_all=supervise_all)
    model = _build_generic(generic_cfg, head=head).double().train()
    img = torch.randn(3, 3, 56, 56, dtype=torch.float64)
    torch.manual_seed(7)
    loss = model.loss(img, [])['loss']

    with torch.no_grad():
        # student: MAEViT draws torch.rand(B, L) first, as G2SD does
        torch.manual_seed(7)
        latent, mask, ids = model.backbone(img)
        dec_s = _truncated_decoder(model.neck, None)
        ref_s = dec_s(latent, ids)
        torch.manual_seed(7)
        latent_t, mask_t, ids_t = model.teacher.backbone(img)
        ref_t = _truncated_decoder(model.teacher.neck, 2)(latent_t, ids_t)
        assert torch.equal(mask, mask_t) and torch.equal(ids, ids_t)
        # exact count: int(49 * 0.25) = 12 kept, 37 masked per image
        assert torch.all(mask.sum(1) == 37)

        hid_s = decoder_hidden_states(model.neck, latent, ids)
        hid_t = decoder_hidden_states(model.teacher.neck, latent_t, ids_t, 2)
        torch.testing.assert_close(hid_s[:, 1:], ref_s, rtol=0, atol=1e-12)
        torch.testing.assert_close(hid_t[:, 1:], ref_t, rtol=0, atol=1e-12)

        lin1, lin2 = model.head.mlp[0], model.head.mlp[2]
        pred = lin2(F.gelu(lin1(hid_s)))
        mu = hid_t.mean(-1, keepdim=True)
        var = ((hid_t - mu)**2).mean(-1, keepdim=True)
        target = (hid_t - mu) / torch.sqrt(var + 1e-6)
        d = (pred - target).abs()
        elem = torch.where(d < 2.0, 0.25 * d**2, d - 1.0)
        if supervise_all:
            expected = elem.mean()
            assert (d < 2).any() and (d >= 2).any()
        else:
            m = mask.bool()
            expected = elem[:, 1:][m].mean()
    torch.testing.assert_close(loss, expected, rtol=1e-10, atol=0)


@pytest.mark.parametrize('length, ratio, kept', [(49, 0.75, 12),
                                                 (196, 0.75, 49),
                                                 (196, 0.6, 78)])
def test_masking_from_noise_exact_counts(length, ratio, kept):
    """int(L (1 - r)) kept tokens per sample, the smallest-noise ones in
    increasing order; ids_restore inverts the shuffle."""
    torch.manual_seed(0)
    x = torch.randn(4, length, 3)
    noise = torch.rand(4, length)
    x_kept, mask, ids_restore = masking_from_noise(x, ratio, noise)
    assert x_kept.shape == (4, kept, 3)
    assert torch.all(mask.sum(1) == length - kept)
    order = noise.argsort(1)
    assert torch.equal(x_kept, torch.gather(
        x, 1, order[:, :kept, None].expand(-1, -1, 3)))
    assert torch.equal(order.gather(1, ids_restore),
                       torch.arange(length).expand(4, -1))
    assert torch.equal(mask.bool(), noise > noise.gather(
        1, order[:, kept - 1:kept]))


def test_generic_teacher_frozen_and_student_complete(generic_cfg):
    """Teacher: eval after train(), no gradient, not saved; every student
    parameter that requires grad receives one (no unused parameter: the
    student's pixel head is removed)."""
    model = _build_generic(generic_cfg).train()
    assert not any(m.training for m in model.teacher.modules())
    assert model.backbone.training
    model.loss(torch.randn(2, 3, 56, 56), [])['loss'].backward()
    assert all(p.grad is None and not p.requires_grad
               for p in model.teacher.parameters())
    student = [(n, p) for n, p in model.named_parameters()
               if p.requires_grad]
    assert student and all(p.grad is not None for _, p in student), [
        n for n, p in student if p.grad is None]
    assert isinstance(model.neck.decoder_pred, nn.Identity)
    state = model.state_dict()
    assert not [k for k in state if k.startswith('teacher.')]
    model.load_state_dict(state, strict=True)


def test_real_generic_config_builds():
    """The ViT-S/ViT-B config builds: student MAE ViT-S (384-d, 12 layers)
    with a 256-d 4-block decoder, teacher MAE ViT-B cut after decoder block
    4 of 8 (512-d), mask ratio 0.75 (49 of 196 patches kept)."""
    init_default_scope('mmpretrain')
    cfg = load_config(str(ROOT / REAL_GENERIC))
    teacher = dict(cfg.model.teacher, init_cfg=None)
    model = PRETRAIN_MODELS.build(dict(cfg.model, teacher=teacher))
    assert model.backbone.embed_dims == 384 and len(model.backbone.layers) == 12
    assert len(model.neck.decoder_blocks) == 4
    assert model.teacher.backbone.embed_dims == 768
    assert len(model.teacher.neck.decoder_blocks) == 8
    assert model.target_layer == 4
    assert model.head.mlp[2].out_features == 512
    assert int(196 * (1 - model.backbone.mask_ratio)) == 49


def _softmax_rows(x, tau=1.0):
    return torch.softmax(x / tau, dim=-1)


@pytest.mark.parametrize('kind', ['cls_hard', 'cls_soft', 'seg', 'det'])
def test_specific_loss_zero_and_gradient(kind):
    """Specific-distillation losses (float64): zero when the student
    predicts what the teacher predicts (KL forms; the hard loss at a
    confident student) and autograd equals the closed-form gradient."""
    torch.manual_seed(0)
    dt = torch.float64
    if kind in ('cls_hard', 'cls_soft'):
        t = torch.randn(5, 7, dtype=dt)
        s = torch.randn(5, 7, dtype=dt, requires_grad=True)
        if kind == 'cls_soft':
            tau = 2.0
            assert soft_distill_loss(t.clone(), t, tau).abs() < 1e-14
            loss = soft_distill_loss(s, t, tau)
            expected = tau * (_softmax_rows(s, tau) - _softmax_rows(t, tau))
        else:
            onehot = F.one_hot(t.argmax(-1), 7).to(dt)
            assert hard_distill_loss(1e4 * onehot, t) < 1e-12
            loss = hard_distill_loss(s, t)
            expected = _softmax_rows(s) - onehot
        loss.backward()
        torch.testing.assert_close(s.grad, expected.detach() / 5)
    elif kind == 'seg':
        tau = 1.5
        t = torch.randn(2, 3, 4, 5, dtype=dt)
        s = torch.randn(2, 3, 4, 5, dtype=dt, requires_grad=True)
        assert channel_wise_divergence(t.clone(), t, tau).abs() < 1e-14
        loss = channel_wise_divergence(s, t, tau)
        ce = channel_wise_divergence(s, t, tau, subtract_teacher_entropy=False)
        p_t = _softmax_rows(t.flatten(2), tau)
        entropy = -(p_t * p_t.log()).sum() * tau**2 / 6
        torch.testing.assert_close(ce - loss, entropy)  # official = KL + H
        grad_ce, = torch.autograd.grad(ce, s, retain_graph=True)
        loss.backward()
        p_s = _softmax_rows(s.detach().flatten(2), tau)
        expected = (tau * (p_s - p_t) / 6).view_as(s)
        torch.testing.assert_close(s.grad, expected)
        torch.testing.assert_close(grad_ce, expected)
    else:
        shapes = [(2, 4, 6, 6), (2, 4, 3, 3)]
        f_t = [torch.randn(*sh, dtype=dt) for sh in shapes]
        t = [torch.randn(sh[0], 3, *sh[2:], dtype=dt) for sh in shapes]
        zero = score_masked_distill_loss([f.clone() for f in f_t], f_t,
                                         [x.clone() for x in t], t)
        assert all(z.abs() < 1e-14 for z in zero)
        f_s = [torch.randn_like(f).requires_grad_() for f in f_t]
        s = [torch.randn_like(x).requires_grad_() for x in t]
        feat, score = score_masked_distill_loss(f_s, f_t, s, t)
        (feat + score).backward()
        for fs, ft, ss, tt in zip(f_s, f_t, s, t):
            p_t = tt.sigmoid()
            m = p_t.max(1, keepdim=True).values
            torch.testing.assert_close(fs.grad,
                                       -2 * m * (ft - fs.detach()) / m.sum())
            torch.testing.assert_close(
                ss.grad, m * (ss.detach().sigmoid() - p_t) / m.sum())


def test_distilled_vit_loads_generic_checkpoint():
    """The classification student (dist token appended after the patches,
    1 + L position embeddings, as the official G2SD ViT) takes an MAEViT
    (generic-stage) backbone state dict with only ``dist_token`` missing,
    and its head loss is (1 - w) CE_gt + w CE(dist, argmax teacher)."""
    init_default_scope('mmpretrain')
    arch = dict(embed_dims=32, num_layers=2, num_heads=2,
                feedforward_channels=64)
    mae = PRETRAIN_MODELS.build(dict(type='MAEViT', arch=arch, img_size=32,
                                     patch_size=8))
    vit = PRETRAIN_MODELS.build(dict(type='G2SDDistilledViT', arch=arch,
                                     img_size=32, patch_size=8))
    result = vit.load_state_dict(mae.state_dict(), strict=False)
    assert result.missing_keys == ['dist_token'] and not result.unexpected_keys
    x = torch.randn(2, 3, 32, 32)
    (cls_tok, dist_tok), = vit(x)
    assert cls_tok.shape == dist_tok.shape == (2, 32)

    head = PRETRAIN_MODELS.build(dict(type='G2SDDistillClsHead', num_classes=4,
                                      in_channels=32, distill_weight=0.3,
                                      init_cfg=None))
    samples = [DataSample().set_gt_label(i) for i in (1, 3)]
    teacher = torch.randn(2, 4)
    losses = head.loss(((cls_tok, dist_tok), ), samples, teacher_logits=teacher)
    ce = F.cross_entropy(head.layers.head(cls_tok), torch.tensor([1, 3]))
    dist = F.cross_entropy(head.layers.head_dist(dist_tok), teacher.argmax(-1))
    torch.testing.assert_close(losses['loss_cls'], 0.7 * ce)
    torch.testing.assert_close(losses['loss_distill'], 0.3 * dist)


@HOOKS.register_module(force=True)
class G2SDTeacherProbe(Hook):
    """Records teacher and student weights around the first step."""
    records = {}

    def _model(self, runner):
        model = runner.model
        return model.module if is_model_wrapper(model) else model

    def _student(self, model):
        return {k: v.detach().clone() for k, v in model.named_parameters()
                if v.requires_grad}

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        model = self._model(runner)
        self.records['teacher_before'] = {
            k: v.clone() for k, v in model.teacher.state_dict().items()}
        self.records['student_before'] = self._student(model)
        self.records['teacher_training'] = any(
            m.training for m in model.teacher.modules())
        self.records['training'] = model.training

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        model = self._model(runner)
        self.records['teacher_after'] = model.teacher.state_dict()
        self.records['student_after'] = self._student(model)


@pytest.mark.parametrize('config, data, key', [
    (GENERIC, 'imagenet_root', 'loss'),
    (CLS, 'imagenet_root', 'loss_distill'),
    (SEG, 'ade20k_root', 'loss_cwd'),
    (DET, 'coco_root', 'loss_distill_feat'),
])
def test_tiny_config_training_step(config, data, key, request, tmp_path):
    """One step of each tiny zoo config: finite loss with the distillation
    term logged, the teacher bit-identical and in eval mode, the student
    updated."""
    root = request.getfixturevalue(data)
    rows = train_steps(config, root, tmp_path, iters=1, batch_size=2,
                       cfg_options={'custom_hooks': [
                           dict(type='G2SDTeacherProbe')]})
    (row,) = [r for r in rows if 'loss' in r]
    assert math.isfinite(row['loss']) and row['loss'] > 0
    assert key in row and math.isfinite(row[key])
    rec = G2SDTeacherProbe.records
    assert rec['training'] and not rec['teacher_training']
    before, after = rec['teacher_before'], rec['teacher_after']
    assert before.keys() == after.keys() and before
    assert all(torch.equal(before[k], after[k]) for k in before)
    changed = [k for k in rec['student_before']
               if not torch.equal(rec['student_before'][k],
                                  rec['student_after'][k])]
    assert changed
