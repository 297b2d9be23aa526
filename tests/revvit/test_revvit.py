"""RevViT: local reproducible seeding, reversible gradients, SimpleFPN,
converter."""
import copy

import pytest
import torch
from mmpretrain.models import RevVisionTransformer

from projects.revvit import (RevViT, load_state_dict, revvit_to_visionplug,
                             visionplug_to_revvit)
from projects.simple_fpn import SimpleFPN

NANO = dict(embed_dims=16, num_layers=3, num_heads=2,
            feedforward_channels=32)


def _nano(**kwargs):
    kwargs.setdefault('rng_seed', 0)
    return RevViT(arch=NANO, img_size=32, out_type='featmap', **kwargs)


def test_global_rng_untouched_by_forward_and_backward():
    """mmpretrain's class reseeds the global RNG; RevViT leaves it as is."""
    x = torch.randn(2, 3, 32, 32)
    torch.manual_seed(123)
    upstream = RevVisionTransformer(arch=NANO, img_size=32,
                                    drop_path_rate=0.3)
    upstream.train()
    state = torch.get_rng_state()
    upstream(x)[0].sum().backward()
    assert not torch.equal(state, torch.get_rng_state())

    model = _nano(drop_path_rate=0.3)
    model.train()
    state = torch.get_rng_state()
    model(x)[0].sum().backward()
    assert torch.equal(state, torch.get_rng_state())


def test_seeded_runs_reproducible_and_drop_path_active():
    x = torch.randn(4, 3, 32, 32)
    outs = []
    for _ in range(2):
        torch.manual_seed(7)
        model = RevViT(arch=NANO, img_size=32, drop_path_rate=0.5)
        model.train()
        outs.append([model(x)[0], model(x)[0]])
    torch.testing.assert_close(outs[0][0], outs[1][0], rtol=0, atol=0)
    torch.testing.assert_close(outs[0][1], outs[1][1], rtol=0, atol=0)
    # successive iterations draw new masks; eval has none
    assert not torch.equal(outs[0][0], outs[0][1])
    model.eval()
    assert not torch.equal(model(x)[0], outs[1][0])


@pytest.mark.parametrize('drop_path_rate', [0.0, 0.5])
def test_reversible_gradients_equal_plain_autograd(drop_path_rate):
    """Reversible backward (recomputing activations) vs autograd through
    the same layers with the same masks (float64)."""
    torch.manual_seed(0)
    rev = _nano(drop_path_rate=drop_path_rate).double()
    plain = copy.deepcopy(rev)  # same weights and same seed stream
    plain.no_custom_backward = True
    rev.train(), plain.train()
    for p in rev.parameters():  # break symmetries of the default init
        p.data.add_(0.1 * torch.randn_like(p))
    plain.load_state_dict(rev.state_dict())
    x = torch.randn(3, 3, 32, 32, dtype=torch.float64)
    xr, xp = x.clone().requires_grad_(), x.clone().requires_grad_()
    out_r, out_p = rev(xr)[0], plain(xp)[0]
    weight = torch.randn_like(out_r)
    (out_r * weight).sum().backward()
    (out_p * weight).sum().backward()
    torch.testing.assert_close(out_r, out_p, rtol=0, atol=1e-12)
    torch.testing.assert_close(xr.grad, xp.grad, rtol=1e-9, atol=1e-12)
    for (name, a), b in zip(rev.named_parameters(), plain.parameters()):
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-9, atol=1e-12,
                                   msg=name)


@pytest.mark.parametrize('hw', [(32, 32), (64, 96)])
def test_simple_fpn_shapes_strides_and_gradients(hw):
    model = _nano()
    model.train()
    neck = SimpleFPN(backbone_channel=model.out_channels,
                     in_channels=[8, 16, 32, 32], out_channels=8, num_outs=5)
    x = torch.randn(2, 3, *hw)
    feats = model(x)
    assert feats[0].shape == (2, 32, hw[0] // 16, hw[1] // 16)
    outs = neck(feats)
    for level, o in enumerate(outs):
        s = 4 * 2 ** level
        assert o.shape == (2, 8, -(-hw[0] // s), -(-hw[1] // s))
    sum(o.square().mean() for o in outs).backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_arch_table_and_bad_arch():
    """Rev-ViT-S/B (deit-small/base) with a 1000-class head: mmpretrain's
    22.44M / 87.34M less the class-token position its converter adds (D),
    official 22M / 87M."""
    for arch, params in (('deit-small', 22.44e6), ('deit-base', 87.34e6)):
        model = RevViT(arch=arch)
        n = sum(p.numel() for p in model.parameters())
        n += (model.out_channels + 1) * 1000 + model.embed_dims
        assert abs(n - params) < 5e3, (arch, n)
    with pytest.raises(ValueError, match='valid archs: s, small'):
        RevViT(arch='deit-huge')


def _official_state_dict():
    torch.manual_seed(2)
    d, hidden = NANO['embed_dims'], NANO['feedforward_channels']
    sd = {'patch_embed.proj.weight': torch.randn(d, 3, 16, 16),
          'patch_embed.proj.bias': torch.randn(d),
          'pos_embed': torch.randn(1, 4, d),
          'norm.weight': torch.randn(2 * d), 'norm.bias': torch.randn(2 * d),
          'head.projection.weight': torch.randn(10, 2 * d),
          'head.projection.bias': torch.randn(10)}
    shapes = {'F.norm': (d, ), 'F.attn.q': (d, d), 'F.attn.k': (d, d),
              'F.attn.v': (d, d), 'F.attn.proj': (d, d), 'G.norm': (d, ),
              'G.mlp.fc1': (hidden, d), 'G.mlp.fc2': (d, hidden)}
    for i in range(NANO['num_layers']):
        for name, shape in shapes.items():
            key = f'rev_backbone.layers.{i}.{name}'
            sd[key + '.weight'] = torch.randn(shape)
            sd[key + '.bias'] = torch.randn(shape[0])
    return sd


def test_converter_round_trip(tmp_path, exploit_checkpoint):
    from mmengine.registry import DefaultScope
    from mmpretrain.models import ImageClassifier
    sd = _official_state_dict()
    path = tmp_path / 'revvit.pyth'
    torch.save({'model_state': sd}, path)
    converted, dropped = revvit_to_visionplug(load_state_dict(path))
    assert dropped == []
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        clf = ImageClassifier(
            backbone=dict(type='RevViT', arch=NANO, img_size=32),
            head=dict(type='LinearClsHead', num_classes=10, in_channels=32))
    result = clf.load_state_dict(converted, strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    qkv = clf.backbone.layers[1].attn.qkv.weight
    torch.testing.assert_close(
        qkv[16:32], sd['rev_backbone.layers.1.F.attn.k.weight'])
    back = visionplug_to_revvit(converted)
    assert back.keys() == sd.keys()
    assert all(torch.equal(back[k], sd[k]) for k in sd)
    with pytest.raises(KeyError, match='q, k and v'):
        revvit_to_visionplug({'rev_backbone.layers.0.F.attn.q.weight':
                              torch.ones(1)})
    evil, marker = exploit_checkpoint
    with pytest.raises(ValueError, match='refused'):
        load_state_dict(evil)
    assert not marker.exists()


@pytest.mark.parametrize('config,root', [
    ('revvit-nano_tiny_1xb8-40it_synthetic-imagenet.py', 'imagenet_root'),
    ('retinanet_revvit-nano_simple-fpn_tiny_1xb4-300it_synthetic-coco.py',
     'coco_root'),
    ('upernet_revvit-nano_simple-fpn_tiny_1xb4-200it_synthetic-ade20k.py',
     'ade20k_root'),
])
def test_tiny_config_trains_one_step(config, root, request, tmp_path):
    from zoo_steps import train_steps
    # mmdet/mmseg runtimes name their visualizer 'visualizer': a global
    # instance that would keep the save_dir of an earlier run in-process
    rows = train_steps(f'configs/revvit/{config}',
                       request.getfixturevalue(root), tmp_path,
                       cfg_options={'visualizer.name': f'vis_{tmp_path}'})
    loss = rows[-1]['loss']
    assert torch.isfinite(torch.tensor(loss)) and loss > 0
