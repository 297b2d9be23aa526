"""Official checkpoint layout -> VisionPlug: every key consumed, none
missing, values unchanged, inverse round trip, safe loading."""
import sys
from pathlib import Path

import pytest
import torch
from mmengine.config import Config

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / 'tools' / 'model_converters'))
import internimage_to_visionplug as conv  # noqa: E402

TINY_CLS = ROOT / 'configs/internimage/' \
    'internimage-nano_tiny_1xb16-200it_synthetic-imagenet.py'


def official_state_dict(channels=16, depths=(1, 1, 2, 1), groups=(1, 2, 4, 8),
                        num_classes=1000, layer_scale=False, post_norm=False,
                        seed=0):
    """Keys and shapes of an official classification checkpoint, written
    from the official module structure (intern_image.py, dcnv3.py)."""
    g = torch.Generator().manual_seed(seed)
    sd = {}

    def put(name, *shape):
        sd[name] = torch.randn(*shape, generator=g)

    c = channels
    put('patch_embed.conv1.weight', c // 2, 3, 3, 3)
    put('patch_embed.conv1.bias', c // 2)
    put('patch_embed.norm1.1.weight', c // 2)
    put('patch_embed.norm1.1.bias', c // 2)
    put('patch_embed.conv2.weight', c, c // 2, 3, 3)
    put('patch_embed.conv2.bias', c)
    put('patch_embed.norm2.1.weight', c)
    put('patch_embed.norm2.1.bias', c)
    for i, (depth, group) in enumerate(zip(depths, groups)):
        ci = c * 2 ** i
        for j in range(depth):
            p = f'levels.{i}.blocks.{j}.'
            for norm in ('norm1.0', 'norm2.0', 'dcn.dw_conv.1.1'):
                put(p + norm + '.weight', ci)
                put(p + norm + '.bias', ci)
            put(p + 'dcn.dw_conv.0.weight', ci, 1, 3, 3)
            put(p + 'dcn.dw_conv.0.bias', ci)
            for name, out in (('offset', group * 18), ('mask', group * 9),
                              ('input_proj', ci), ('output_proj', ci)):
                put(p + f'dcn.{name}.weight', out, ci)
                put(p + f'dcn.{name}.bias', out)
            put(p + 'mlp.fc1.weight', 4 * ci, ci)
            put(p + 'mlp.fc1.bias', 4 * ci)
            put(p + 'mlp.fc2.weight', ci, 4 * ci)
            put(p + 'mlp.fc2.bias', ci)
            if layer_scale:
                put(p + 'gamma1', ci)
                put(p + 'gamma2', ci)
        if not post_norm:
            put(f'levels.{i}.norm.0.weight', ci)
            put(f'levels.{i}.norm.0.bias', ci)
        if i < len(depths) - 1:
            put(f'levels.{i}.downsample.conv.weight', 2 * ci, ci, 3, 3)
            put(f'levels.{i}.downsample.norm.1.weight', 2 * ci)
            put(f'levels.{i}.downsample.norm.1.bias', 2 * ci)
    last = c * 2 ** (len(depths) - 1)
    width = int(last * 1.5)
    put('conv_head.0.weight', width, last, 1, 1)
    for name in ('weight', 'bias', 'running_mean'):
        put(f'conv_head.1.0.{name}', width)
    sd['conv_head.1.0.running_var'] = torch.rand(width, generator=g) + 0.5
    sd['conv_head.1.0.num_batches_tracked'] = torch.tensor(7)
    put('head.weight', num_classes, width)
    put('head.bias', num_classes)
    return sd


def build_tiny_classifier():
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import MODELS
    import projects.internimage  # noqa: F401
    init_default_scope('mmpretrain')
    return MODELS.build(Config.fromfile(str(TINY_CLS)).model)


def test_all_keys_consumed_none_missing_values_kept():
    official = official_state_dict()
    ours = conv.convert({'module.' + k: v for k, v in official.items()})
    model = build_tiny_classifier()
    result = model.load_state_dict(ours, strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    assert len(ours) == len(official) == len(model.state_dict())
    state = model.state_dict()
    assert torch.equal(state['head.fc.weight'], official['head.weight'])
    assert torch.equal(state['head.conv_head.1.0.running_var'],
                       official['conv_head.1.0.running_var'])
    assert torch.equal(
        state['backbone.levels.2.blocks.1.dcn.offset.weight'],
        official['levels.2.blocks.1.dcn.offset.weight'])
    back = conv.to_official(ours)
    assert list(back) == list(official)
    assert all(torch.equal(back[k], official[k]) for k in official)


def test_cli_round_trip_weights_only(tmp_path):
    official = official_state_dict(layer_scale=True, post_norm=True)
    src, dst = tmp_path / 'official.pth', tmp_path / 'ours.pth'
    torch.save({'model': official}, src)
    conv.main([str(src), str(dst)])
    saved = torch.load(dst, map_location='cpu', weights_only=True)
    back = conv.to_official(saved['state_dict'])
    assert all(torch.equal(back[k], official[k]) for k in official)
    conv.main([str(src), str(tmp_path / 'bb.pth'), '--backbone-only'])
    bb = torch.load(tmp_path / 'bb.pth', weights_only=True)['state_dict']
    assert set(bb) == {k for k in official
                       if k.startswith(('patch_embed', 'levels'))}


def test_downstream_layout_kept_and_unknown_keys_named():
    backbone = {'backbone.' + k: v for k, v in official_state_dict().items()
                if k.startswith(('patch_embed', 'levels'))}
    det = dict(backbone, **{'neck.lateral_convs.0.conv.weight':
                            torch.zeros(1)})
    assert conv.convert(det).keys() == det.keys()
    with pytest.raises(ValueError, match='backbone.clip_projector'):
        conv.convert(dict(det, **{'backbone.clip_projector.q.weight':
                                  torch.zeros(1)}))
    with pytest.raises(ValueError, match='fc_norm.0.weight'):
        conv.convert(dict(official_state_dict(),
                          **{'fc_norm.0.weight': torch.zeros(1)}))


def test_pickled_objects_refused(exploit_checkpoint, tmp_path):
    path, marker = exploit_checkpoint
    with pytest.raises(SystemExit, match='refused'):
        conv.main([str(path), str(tmp_path / 'out.pth')])
    assert not marker.exists()
