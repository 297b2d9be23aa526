"""HieraDense: timm equivalence, any input size, arch table, converter."""
import copy

import pytest
import timm
import torch
from timm.models.hiera import Hiera

from projects.hiera import (ARCH_ZOO, HieraDense, hiera_param_count,
                            hiera_to_visionplug, load_state_dict,
                            visionplug_to_hiera)

NANO = dict(embed_dim=16, num_heads=1, stages=(1, 1, 1, 1))


def _nano(**kwargs):
    torch.manual_seed(0)
    return HieraDense(arch=NANO, img_size=64, **kwargs).eval()


def _timm_like(model, img_size):
    """timm's Hiera at ``img_size`` holding ``model``'s weights, with the
    position embedding resampled by the load hook of a HieraDense."""
    ref = Hiera(img_size=(img_size, img_size), num_classes=0, **NANO).eval()
    resized = HieraDense(arch=NANO, img_size=img_size).eval()
    resized.load_state_dict(model.state_dict())
    missing, unexpected = ref.load_state_dict(resized.state_dict(),
                                              strict=False)
    assert unexpected == [] and set(missing) == {'head.norm.weight',
                                                 'head.norm.bias'}
    return ref


@pytest.mark.parametrize('size', [64, 96])
def test_equals_timm_forward_intermediates(size):
    """Same stage maps as timm's Hiera built at the input size (float64),
    at the construction size and with a resampled position embedding."""
    model = _nano().double()
    ref = _timm_like(model, size).double()
    x = torch.randn(1, 3, size, size, dtype=torch.float64)
    ours = model(x)
    theirs = ref.forward_intermediates(x, intermediates_only=True)
    for a, b in zip(ours, theirs):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize('hw', [(64, 64), (96, 160), (32, 64)])
def test_shapes_and_strides(hw):
    model = _nano()
    outs = model(torch.randn(2, 3, *hw))
    for level, (o, c) in enumerate(zip(outs, [16, 32, 64, 128])):
        stride = 4 * 2 ** level
        assert o.shape == (2, c, hw[0] // stride, hw[1] // stride)
    assert model.channels == [16, 32, 64, 128]


def test_bad_size_names_the_multiple():
    with pytest.raises(ValueError, match='multiples of 32'):
        _nano()(torch.randn(1, 3, 48, 64))


def test_bad_arch_lists_valid_ones():
    with pytest.raises(ValueError, match='tiny, small, base, base_plus, '
                       'large, huge'):
        HieraDense(arch='xl')


def test_arch_table_params_match_official():
    """T/S/B/B+/L/H built on the meta device: params with the 1000-class
    head equal the official counts (notes: 27.9/35.0/51.5/69.9/213.7/672.8
    M)."""
    expected = {'t': 27.9, 's': 35.0, 'b': 51.5, 'b+': 69.9, 'l': 213.7,
                'h': 672.8}
    for arch, millions in expected.items():
        assert round(hiera_param_count(arch) / 1e6, 1) == millions, arch
    assert set(ARCH_ZOO) == {'tiny', 'small', 'base', 'base_plus', 'large',
                             'huge', 'small_abswin', 'base_abswin'}


# --- absolute-window position embedding (timm hiera_*_abswin_256) -------
NANO_ABSWIN = dict(NANO, abs_win_pos_embed=True, global_pos_size=(6, 6),
                   init_values=0.5)


@pytest.mark.parametrize('arch,timm_name', [
    ('small_abswin', 'hiera_small_abswin_256'),
    ('b-abswin', 'hiera_base_abswin_256')])
def test_abswin_param_count_equals_timm(arch, timm_name):
    """Built on the meta device: 34,361,800 (S) and 51,267,304 (B)
    parameters with the 1000-class head, as timm's models."""
    with torch.device('meta'):
        ref = timm.create_model(timm_name)
        ours = HieraDense(arch=arch)
    assert hiera_param_count(arch) == sum(p.numel() for p in
                                          ref.parameters())
    assert ours.pos_embed.shape == ref.pos_embed.shape
    assert ours.pos_embed_win.shape == ref.pos_embed_win.shape == (
        1, 96, 8, 8)
    assert ours.pos_embed_size == ((16, 16) if arch == 'small_abswin' else
                                   (14, 14))


@pytest.fixture(scope='module')
def small_abswin_pair():
    """timm's hiera_small_abswin_256 (random weights, layer scales
    randomised so that every block matters) and a HieraDense holding its
    weights, float64."""
    torch.manual_seed(0)
    ref = timm.create_model('hiera_small_abswin_256')
    with torch.no_grad():
        for name, p in ref.named_parameters():
            if name.endswith('gamma'):
                p.normal_(0, 0.5)
    ref = ref.double().eval()
    with torch.device('meta'):
        ours = HieraDense(arch='small_abswin')
    ours.to_empty(device='cpu')
    result = ours.load_state_dict(
        {k: v for k, v in ref.state_dict().items()
         if not k.startswith('head.')}, strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    return ours.double().eval(), ref


def test_abswin_small_equals_timm_at_256(small_abswin_pair):
    """The real S-abswin arch at its 256 training size: stage maps equal
    timm's forward_intermediates (float64, 1e-10)."""
    ours, ref = small_abswin_pair
    x = torch.randn(1, 3, 256, 256, dtype=torch.float64)
    with torch.no_grad():
        mine = ours(x)
        theirs = ref.forward_intermediates(x, intermediates_only=True)
    assert len(mine) == len(theirs) == 4
    for a, b in zip(mine, theirs):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)


def test_abswin_small_at_512x384_strides(small_abswin_pair):
    """A det/seg size: strides 4/8/16/32, channels 96..768; the position
    embedding is the window one tiled over 16x12 mask units plus the
    global 16x16 grid resampled (bicubic, antialias) to 128x96."""
    ours = copy.deepcopy(small_abswin_pair[0]).float()
    with torch.no_grad():
        outs = ours(torch.randn(1, 3, 512, 384))
        pos = ours.pos_embed_at((128, 96)).reshape(1, 128, 96, 96)
        glob = torch.nn.functional.interpolate(
            ours.pos_embed, size=(128, 96), mode='bicubic', antialias=True)
    for level, o in enumerate(outs):
        stride = 4 * 2 ** level
        assert o.shape == (1, 96 * 2 ** level, 512 // stride, 384 // stride)
    win = (pos.permute(0, 3, 1, 2) - glob).reshape(1, 96, 16, 8, 12, 8)
    torch.testing.assert_close(
        win, ours.pos_embed_win[:, :, None, :, None, :].expand_as(
            win), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize('expand_proj', [True, False])
@pytest.mark.parametrize('hw', [(128, 128), (128, 96), (96, 160)])
def test_abswin_equals_timm_built_at_input_size(hw, expand_proj):
    """A nano abswin model equals timm's Hiera built at the input size
    (the abswin parameters do not depend on it): our interpolation of the
    embeddings is timm's own, at sizes other than the construction one
    (float64)."""
    torch.manual_seed(0)
    cfg = dict(NANO_ABSWIN, use_expand_proj=expand_proj)
    ours = HieraDense(arch=cfg, img_size=64).double().eval()
    ref = Hiera(img_size=hw, num_classes=0, **cfg).double().eval()
    missing, unexpected = ref.load_state_dict(ours.state_dict(),
                                              strict=False)
    assert unexpected == [] and set(missing) == {'head.norm.weight',
                                                 'head.norm.bias'}
    x = torch.randn(1, 3, *hw, dtype=torch.float64)
    for a, b in zip(ours(x), ref.forward_intermediates(
            x, intermediates_only=True)):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)


def test_abswin_checkpoint_loading():
    """timm abswin keys (and the early 'pos_embed_abs' name) convert; a
    global grid of another size is resampled on load (identity for the
    same grid); a plain checkpoint into an abswin model fails clearly."""
    torch.manual_seed(0)
    src = Hiera(img_size=(64, 64), num_classes=10, **NANO_ABSWIN)
    sd = src.state_dict()
    sd['pos_embed_abs'] = sd.pop('pos_embed')
    converted, dropped = hiera_to_visionplug(sd, backbone_only=True)
    assert set(dropped) == {'head.norm.weight', 'head.norm.bias',
                            'head.fc.weight', 'head.fc.bias'}
    backbone = {k[len('backbone.'):]: v for k, v in converted.items()}
    same = HieraDense(arch=NANO_ABSWIN, img_size=64)
    assert not same.load_state_dict(backbone, strict=True).missing_keys
    assert torch.equal(same.pos_embed, src.pos_embed)
    assert torch.equal(same.pos_embed_win, src.pos_embed_win)
    bigger = HieraDense(arch=dict(NANO_ABSWIN, global_pos_size=(9, 9)))
    bigger.load_state_dict(backbone)
    torch.testing.assert_close(bigger.pos_embed, torch.nn.functional.
                               interpolate(src.pos_embed, size=(9, 9),
                                           mode='bicubic', antialias=True))
    with pytest.raises(ValueError, match='plain'):
        same.load_state_dict(_nano().state_dict(), strict=False)


def test_gradients_reach_every_parameter():
    model = _nano(out_type='avg_featmap').train()
    outs = model(torch.randn(2, 3, 64, 64))
    sum(o.square().mean() for o in outs).backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def _official_state_dict(layout):
    """A random state dict in the official (or timm) classifier layout."""
    torch.manual_seed(1)
    ref = timm.models.hiera.Hiera(img_size=(64, 64), num_classes=10, **NANO)
    sd = ref.state_dict()
    if layout == 'official':
        sd = {k.replace('head.fc.', 'head.projection.').replace(
            'head.norm.', 'norm.'): v for k, v in sd.items()}
    return sd, ref


@pytest.mark.parametrize('layout', ['official', 'timm'])
def test_converter_round_trip_and_logits(layout, tmp_path):
    """official/timm -> ours: every key consumed, none missing; logits of
    the converted classifier equal timm's; ours -> official is exact."""
    from mmengine.registry import DefaultScope
    from mmpretrain.models import ImageClassifier
    sd, ref = _official_state_dict(layout)
    path = tmp_path / 'ckpt.pth'
    torch.save({'model_state': sd} if layout == 'official' else sd, path)
    loaded = load_state_dict(path)
    converted, dropped = hiera_to_visionplug(loaded)
    assert dropped == []
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        clf = ImageClassifier(
            backbone=dict(type='HieraDense', arch=NANO, img_size=64,
                          out_indices=(), out_type='avg_featmap'),
            head=dict(type='LinearClsHead', num_classes=10, in_channels=128))
    result = clf.load_state_dict(converted, strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    clf.eval(), ref.eval()
    x = torch.randn(2, 3, 64, 64)
    torch.testing.assert_close(clf(x, mode='tensor'), ref(x))
    back = visionplug_to_hiera(converted, layout=layout)
    assert back.keys() == sd.keys()
    assert all(torch.equal(back[k], sd[k]) for k in sd)


def test_converter_drops_only_mae_decoder_and_refuses_pickles(
        exploit_checkpoint):
    sd = {'pos_embed': torch.zeros(1, 4, 2), 'encoder_norm.weight':
          torch.ones(2), 'decoder_embed.weight': torch.ones(2),
          'mask_token': torch.zeros(1)}
    converted, dropped = hiera_to_visionplug(sd)
    assert set(converted) == {'backbone.pos_embed',
                              'backbone.fc_norm.weight'}
    assert sorted(dropped) == ['decoder_embed.weight', 'mask_token']
    with pytest.raises(KeyError, match='unexpected key'):
        hiera_to_visionplug({'foo.weight': torch.ones(1)})
    path, marker = exploit_checkpoint
    with pytest.raises(ValueError, match='refused'):
        load_state_dict(path)
    assert not marker.exists()


def test_checkpoint_pos_embed_resampled_on_load():
    """A 64-px checkpoint loads into a 128-px model (bicubic resample) and
    resampling to the same grid is the identity."""
    small = _nano()
    big = HieraDense(arch=NANO, img_size=128)
    big.load_state_dict(small.state_dict())
    assert big.pos_embed.shape == (1, 32 * 32, 16)
    same = HieraDense(arch=NANO, img_size=64)
    same.load_state_dict(small.state_dict())
    assert torch.equal(same.pos_embed, small.pos_embed)


@pytest.mark.parametrize('config,root', [
    ('hiera-nano_tiny_1xb8-40it_synthetic-imagenet.py', 'imagenet_root'),
    ('retinanet_hiera-nano_fpn_tiny_1xb4-300it_synthetic-coco.py',
     'coco_root'),
    ('upernet_hiera-nano_tiny_1xb4-200it_synthetic-ade20k.py',
     'ade20k_root'),
])
def test_tiny_config_trains_one_step(config, root, request, tmp_path):
    from zoo_steps import train_steps
    # mmdet/mmseg runtimes name their visualizer 'visualizer': a global
    # instance that would keep the save_dir of an earlier run in-process
    rows = train_steps(f'configs/hiera/{config}',
                       request.getfixturevalue(root), tmp_path,
                       cfg_options={'visualizer.name': f'vis_{tmp_path}'})
    loss = rows[-1]['loss']
    assert torch.isfinite(torch.tensor(loss)) and loss > 0
