"""Castling-ViT: the castling switch, linear cost, shapes, gradients, the
L1 mask term and one training step of each tiny config."""
import math

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from projects.castling_vit import (CastlingMaskL1Hook, CastlingViT,
                                   LinAngularAttention, softmax_attention)

TINY = dict(embed_dims=32, num_layers=2, num_heads=2, feedforward_channels=64)


def tiny_model(dtype=torch.float64, **kwargs):
    torch.manual_seed(0)
    model = CastlingViT(arch=TINY, img_size=32, patch_size=8, **kwargs)
    model.init_weights()
    return model.to(dtype)


def set_masks(model, value):
    for attn in model.attentions():
        attn.aux_mask.data.fill_(value)


def test_switch_to_linear_is_exact_when_masks_are_zero():
    model = tiny_model(out_type='raw')
    x = torch.randn(2, 3, 32, 40, dtype=torch.float64)
    model.train()
    assert all(a.uses_aux_branch() for a in model.attentions())
    with_branch = model(x)[0]
    set_masks(model, 0.)
    zero_mask = model(x)[0]
    assert (zero_mask - with_branch).abs().max() > 1e-3  # branch matters
    model.eval()
    eval_out = model(x)[0]  # inference: linear branch only
    state = {k: v.clone() for k, v in model.state_dict().items()}

    model.switch_to_linear()
    assert model.is_linear
    assert not any(k.endswith('aux_mask') for k in model.state_dict())
    model.train()
    torch.testing.assert_close(model(x)[0], zero_mask, rtol=0, atol=1e-12)
    model.eval()
    torch.testing.assert_close(model(x)[0], eval_out, rtol=0, atol=1e-12)
    # a checkpoint trained with the branch loads into the switched model
    model.load_state_dict(state, strict=True)


def attention_flops(module, tokens, dims=32, train=False):
    module.train(train)
    x = torch.randn(1, tokens, dims)
    with FlopCounterMode(display=False) as counter:
        module(x)
    return counter.get_total_flops()


def test_attention_flops_are_linear_in_tokens():
    torch.manual_seed(0)
    attn = LinAngularAttention(32, 2)
    C = 32

    def softmax(tokens):
        x = torch.randn(1, tokens, C)
        with FlopCounterMode(display=False) as counter:
            softmax_attention(x, attn.qkv, attn.proj, 2)
        return counter.get_total_flops()

    for L in (64, 128, 256):
        lin = attention_flops(attn, L)
        # every counted op of the linear branch is O(L): exactly proportional
        assert attention_flops(attn, 2 * L) == 2 * lin
        # the softmax baseline has the 4 C L^2 of QK^T and AV
        quad = softmax(2 * L) - 2 * softmax(L)
        assert quad == 4 * C * ((2 * L)**2 - 2 * L**2)
        # training adds the auxiliary softmax branch: the same L^2 term
        assert attention_flops(attn, L, train=True) - lin == 4 * C * L**2
    attn.switch_to_linear()
    assert attention_flops(attn, 128, train=True) == \
        attention_flops(attn, 128)


@pytest.mark.parametrize('arch,dims', [('tiny', 192), ('small', 384),
                                       ('base', 768)])
def test_output_shapes_per_variant(arch, dims):
    # official sizes built on the meta device: shapes without the compute
    with torch.device('meta'):
        model = CastlingViT(arch=arch, out_type='featmap',
                            out_indices=(-2, -1))
    outs = model(torch.empty(2, 3, 224, 224, device='meta'))
    assert [tuple(o.shape) for o in outs] == [(2, dims, 14, 14)] * 2
    assert model.num_layers == len(model.layers) == 12
    assert model.layers[0].attn.num_heads == dims // 64


def test_classification_outputs():
    model = tiny_model(torch.float32, out_type='cls_token')
    x = torch.randn(2, 3, 32, 32)
    cls = model(x)
    model.out_type = 'raw'
    raw = model(x)
    assert cls[-1].shape == (2, 32)
    torch.testing.assert_close(cls[-1], raw[-1][:, 0])


def test_input_size_and_arch_errors():
    model = tiny_model(torch.float32, out_type='featmap')
    # other multiples of the patch size interpolate the position embedding
    assert model(torch.randn(1, 3, 24, 56))[0].shape == (1, 32, 3, 7)
    with pytest.raises(ValueError, match=r'not a multiple of the patch size '
                       r'8; .*\(e\.g\. 32x40'):
        model(torch.randn(1, 3, 30, 33))
    with pytest.raises(ValueError, match=r"choose one of \['b', 'base', "
                       r"'s', 'small', 't', 'tiny'\]"):
        CastlingViT(arch='huge')
    with pytest.raises(ValueError, match='feedforward_channels'):
        CastlingViT(arch=dict(embed_dims=32, num_layers=2, num_heads=2))


def test_gradients_reach_every_parameter():
    model = tiny_model(torch.float32, out_type='featmap')
    model.train()
    x = torch.randn(2, 3, 32, 32, requires_grad=True)
    loss = model(x)[0].square().mean() + 1e-3 * model.mask_l1_loss()
    loss.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name
    assert x.grad.abs().sum() > 0


def test_mask_l1_hook_adds_weighted_loss():
    from mmpretrain.registry import MODELS
    from mmpretrain.structures import DataSample
    model = MODELS.build(dict(
        type='ImageClassifier',
        backbone=dict(type='CastlingViT', arch=TINY, img_size=32,
                      patch_size=8, out_type='cls_token'),
        head=dict(type='LinearClsHead', num_classes=3, in_channels=32)))
    masks = [torch.tensor([0.3, -0.2]), torch.tensor([0., 0.5])]
    for attn, m in zip(model.backbone.attentions(), masks):
        attn.aux_mask.data.copy_(m)
    hook = CastlingMaskL1Hook(loss_weight=0.5)
    hook.attach(model)
    samples = [DataSample().set_gt_label(i) for i in (0, 2)]
    losses = model(torch.randn(2, 3, 32, 32), samples, mode='loss')
    term = losses['loss_castling_mask']
    assert term.item() == pytest.approx(0.5 * 1.0)
    term.backward()
    for attn, m in zip(model.backbone.attentions(), masks):
        torch.testing.assert_close(attn.aux_mask.grad, 0.5 * torch.sign(m))
    assert isinstance(model(torch.randn(1, 3, 32, 32), mode='tensor'),
                      torch.Tensor)
    hook.detach()
    assert 'loss_castling_mask' not in model(
        torch.randn(2, 3, 32, 32), samples, mode='loss')
    ramp = CastlingMaskL1Hook(loss_weight=1.0, ramp_iters=4)
    assert [ramp.current_weight() for ramp._iter in range(5)] == \
        [0.25, 0.5, 0.75, 1.0, 1.0]
    with pytest.raises(ValueError, match='must contain "loss"'):
        CastlingMaskL1Hook(loss_name='mask_l1')
    with pytest.raises(RuntimeError, match='no CastlingViT'):
        CastlingMaskL1Hook().attach(torch.nn.Linear(2, 2))


@pytest.mark.parametrize('config,root', [
    ('castling-vit_tiny_1xb8-100it_synthetic-imagenet.py', 'imagenet_root'),
    ('retinanet_castling-vit_simple-fpn_tiny_1xb4-100it_synthetic-coco.py',
     'coco_root'),
    ('upernet_castling-vit_simple-fpn_tiny_1xb4-100it_synthetic-ade20k.py',
     'ade20k_root'),
])
def test_tiny_config_trains_one_step(config, root, request, tmp_path):
    from zoo_steps import train_steps
    # a visualizer name of its own: mmengine reuses instances by name, and
    # a reused one would log into another test's work_dir
    rows = train_steps(f'configs/castling_vit/{config}',
                       request.getfixturevalue(root), tmp_path, iters=1,
                       cfg_options={'visualizer.name': tmp_path.name})
    row = rows[-1]
    assert math.isfinite(row['loss'])
    # L1 term of the hook: weight 1e-2 x 2 layers x 2 heads x |1.0| (init)
    assert row['loss_castling_mask'] == pytest.approx(0.04)
    assert row['loss'] > row['loss_castling_mask']
