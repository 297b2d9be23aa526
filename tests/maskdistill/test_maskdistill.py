"""MaskDistill: closed-form loss, masked-only gradients, frozen teacher,
mask generator and one training step of the tiny zoo config."""
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.optim import build_optim_wrapper
from mmengine.registry import HOOKS, init_default_scope
from mmpretrain.registry import MODELS, TRANSFORMS
from mmpretrain.structures import DataSample

from projects.maskdistill import masked_smooth_l1
from projects.run_config import load_config
from zoo_steps import train_steps

ROOT = Path(__file__).resolve().parents[2]
TINY = ('configs/maskdistill/'
        'maskdistill_beit-nano-p8_vit-nano_tiny_1xb8-40it_synthetic-imagenet.py')
REAL = ('configs/maskdistill/'
        'maskdistill_beit-base-p16_clip-b16_8xb256-amp-coslr-300e_in1k.py')


@pytest.fixture(scope='module')
def tiny_cfg():
    init_default_scope('mmpretrain')
    return load_config(str(ROOT / TINY))


def _masks(cfg, batch, seed=0):
    """Masks from the config's own BEiTMaskGenerator."""
    (gen_cfg,) = [t for t in cfg.train_pipeline
                  if t['type'] == 'BEiTMaskGenerator']
    gen = TRANSFORMS.build(gen_cfg)
    np.random.seed(seed)
    return torch.stack([torch.as_tensor(gen.transform({})['mask'])
                        for _ in range(batch)])


def _build(cfg, **overrides):
    torch.manual_seed(0)
    model = MODELS.build(dict(cfg.model, **overrides))
    model.init_weights()
    return model


def _samples(mask):
    samples = []
    for m in mask:
        s = DataSample()
        s.set_mask(m)
        samples.append(s)
    return samples


@pytest.mark.parametrize('beta', [0.5, 2.0])
def test_loss_matches_closed_form(tiny_cfg, beta):
    """Loss = mean over masked tokens and channels of Smooth-L1(beta)
    between the head output and the affine-free LayerNorm of the teacher's
    patch tokens (teacher fed its own pixel normalisation), float64."""
    model = _build(tiny_cfg, head=dict(tiny_cfg.model.head, loss=dict(
        type='MaskedSmoothL1Loss', beta=beta))).double().train()
    mask = _masks(tiny_cfg, 3)
    img = torch.randn(3, 3, 56, 56, dtype=torch.float64)
    loss = model.loss(img, _samples(mask))['loss']

    with torch.no_grad():
        # student tokens (drop cls) and the linear head, by hand
        tokens = model.backbone(img, mask)[-1][:, 1:]
        w, b = model.head.proj.weight, model.head.proj.bias
        pred = tokens @ w.T + b
        # teacher input: back to pixels, CLIP normalisation
        pre = model.data_preprocessor
        t_mean = torch.tensor(tiny_cfg.model.teacher_mean,
                              dtype=torch.float64).view(1, 3, 1, 1)
        t_std = torch.tensor(tiny_cfg.model.teacher_std,
                             dtype=torch.float64).view(1, 3, 1, 1)
        pixels = img * pre.std.double() + pre.mean.double()
        feats = model.teacher((pixels - t_mean) / t_std)[-1][:, 1:]
        mu = feats.mean(-1, keepdim=True)
        var = ((feats - mu) ** 2).mean(-1, keepdim=True)
        target = (feats - mu) / torch.sqrt(var + 1e-6)
        d = (pred - target).abs()
        elem = torch.where(d < beta, 0.5 * d ** 2 / beta, d - 0.5 * beta)
        m = mask.flatten(1).bool()
        expected = elem[m].sum() / (m.sum() * elem.shape[-1])
        # both Smooth-L1 branches are exercised at the masked positions
        assert (d[m] < beta).any() and (d[m] >= beta).any()
    assert m.sum() == 3 * 20
    # the CLIP mean/std constants are stored as float32 buffers (~1e-8)
    torch.testing.assert_close(loss, expected, rtol=1e-8, atol=0)


def test_unmasked_positions_have_no_influence(tiny_cfg):
    """Zero gradient at unmasked head inputs; unmasked targets and
    predictions do not change the loss; an empty mask gives exactly 0."""
    model = _build(tiny_cfg).double()
    mask = _masks(tiny_cfg, 2, seed=1)
    m = mask.flatten(1).bool()
    feats = torch.randn(2, 49, 32, dtype=torch.float64, requires_grad=True)
    target = torch.randn(2, 49, 24, dtype=torch.float64)
    loss = model.head.loss(feats, target, mask)
    loss.backward()
    assert torch.all(feats.grad[~m] == 0)
    assert torch.all(feats.grad[m].abs().sum(-1) > 0)

    other = target.clone()
    other[~m] = 1e3 * torch.randn_like(other[~m])
    feats2 = feats.detach().clone()
    feats2[~m] = -feats2[~m]
    assert model.head.loss(feats2, other, mask) == loss.detach()

    pred = model.head(feats)
    zero = masked_smooth_l1(pred, target, torch.zeros_like(m))
    assert zero.item() == 0.0 and zero.requires_grad


def test_teacher_frozen_eval_and_not_saved(tiny_cfg):
    """Teacher: eval mode after model.train(), no gradients, not in the
    optimiser, not in the state dict (unless save_teacher=True)."""
    model = _build(tiny_cfg)
    model.train()
    assert model.backbone.training
    assert not any(mod.training for mod in model.teacher.modules())
    mask = _masks(tiny_cfg, 2)
    loss = model.loss(torch.randn(2, 3, 56, 56), _samples(mask))['loss']
    loss.backward()
    assert all(p.grad is None and not p.requires_grad
               for p in model.teacher.parameters())
    assert model.head.proj.weight.grad.abs().sum() > 0
    assert model.backbone.mask_token.grad.abs().sum() > 0

    optim = build_optim_wrapper(model, tiny_cfg.optim_wrapper)
    in_optim = {id(p) for g in optim.optimizer.param_groups
                for p in g['params']}
    assert not in_optim & {id(p) for p in model.teacher.parameters()}
    assert {id(p) for p in model.backbone.parameters()} <= in_optim

    state = model.state_dict()
    assert not [k for k in state if k.startswith('teacher.')]
    assert 'head.proj.weight' in state
    model.load_state_dict(state, strict=True)  # missing teacher is fine
    kept = _build(tiny_cfg, save_teacher=True).state_dict()
    assert set(kept) - set(state) == {'teacher.' + k for k in
                                      model.teacher.state_dict()}


@pytest.mark.parametrize('config, grid, count', [(TINY, (7, 7), 20),
                                                 (REAL, (14, 14), 78)])
def test_mask_generator_ratio_and_shape(config, grid, count):
    """The configs' BEiTMaskGenerator gives block masks of exactly
    ``count`` patches (about 40 %) on the student's patch grid."""
    init_default_scope('mmpretrain')
    cfg = load_config(str(ROOT / config))
    masks = _masks(cfg, 20)
    assert masks.shape == (20,) + grid
    assert set(masks.unique().tolist()) == {0, 1}
    assert torch.all(masks.flatten(1).sum(1) == count)
    assert math.isclose(count / (grid[0] * grid[1]), 0.4, abs_tol=0.01)
    img = cfg.model.backbone.img_size
    assert img // cfg.model.backbone.patch_size == grid[0]


@HOOKS.register_module(force=True)
class MaskDistillTeacherProbe(Hook):
    """Records teacher/student weights around the first training step."""
    records = {}

    def _model(self, runner):
        model = runner.model
        return model.module if is_model_wrapper(model) else model

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        model = self._model(runner)
        self.records['teacher_before'] = {
            k: v.clone() for k, v in model.teacher.state_dict().items()}
        self.records['head_before'] = model.head.proj.weight.detach().clone()
        self.records['teacher_training'] = model.teacher.training
        self.records['student_training'] = model.backbone.training

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        model = self._model(runner)
        self.records['teacher_after'] = model.teacher.state_dict()
        self.records['head_after'] = model.head.proj.weight.detach().clone()


def test_tiny_config_training_step(imagenet_root, tmp_path):
    """One step of the tiny zoo config: finite positive loss, the head is
    updated, the teacher weights are bit-identical and it stays in eval."""
    rows = train_steps(TINY, imagenet_root, tmp_path, iters=1, batch_size=2,
                       cfg_options={'custom_hooks': [
                           dict(type='MaskDistillTeacherProbe')]})
    loss = [r['loss'] for r in rows if 'loss' in r]
    assert len(loss) == 1 and math.isfinite(loss[0]) and loss[0] > 0
    rec = MaskDistillTeacherProbe.records
    assert rec['student_training'] and not rec['teacher_training']
    before, after = rec['teacher_before'], rec['teacher_after']
    assert before.keys() == after.keys()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert not torch.equal(rec['head_before'], rec['head_after'])
