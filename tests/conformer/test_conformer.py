"""ConformerDense: equivalence with mmpretrain, shapes, converter."""
import pytest
import torch
from mmpretrain.models import Conformer

from projects.conformer import (ConformerDense, conformer_to_visionplug,
                                load_state_dict, visionplug_to_conformer)

NANO = dict(embed_dims=32, channel_ratio=0.25, num_heads=2, depths=6)


def _nano(init=True, **kwargs):
    torch.manual_seed(0)
    model = ConformerDense(arch=NANO, out_indices=(2, 4, 5, 6), **kwargs)
    if init:  # upstream init zeroes the last BN of every bottleneck
        model.init_weights()
    return model.eval()


def test_last_map_pooled_equals_mmpretrain_output():
    """Global-average-pooling the last dense map gives mmpretrain's CNN
    vector, for the same weights (float64)."""
    model = _nano().double()
    ref = Conformer(arch=NANO, out_indices=[6]).double()
    ref.eval()  # BaseBackbone.train() returns None: no chaining
    ref.load_state_dict(model.state_dict())
    x = torch.randn(2, 3, 64, 64, dtype=torch.float64)
    cnn_vec, _ = ref(x)[-1]
    torch.testing.assert_close(model(x)[-1].mean((2, 3)), cnn_vec)


@pytest.mark.parametrize('hw', [(64, 64), (96, 64), (70, 90)])
def test_shapes_and_strides(hw):
    model = _nano()
    outs = model(torch.randn(1, 3, *hw))
    assert model.strides == [4, 8, 16, 32]
    assert model.channels == [16, 32, 64, 64]
    # stem: two stride-2 ops (ceil); AdaptivePadding then rounds the
    # stride-4 map up to a multiple of the token stride (4 for patch 16);
    # each stride-2 block halves it (ceil)
    size = [4 * -(-(-(-(-(-s // 2)) // 2)) // 4) for s in hw]
    for o, c in zip(outs, model.channels):
        assert o.shape == (1, c, *size)
        size = [-(-s // 2) for s in size]


def test_arch_table():
    """Params of T/S/B with both classifier heads equal the official
    counts 23.5/37.7/83.3 M; the channels of blocks 4/8/11/12 are C1 x
    (1, 2, 4, 4)."""
    for arch, millions, c1 in (('t', 23.5, 64), ('s', 37.7, 256),
                               ('b', 83.3, 384)):
        model = ConformerDense(arch=arch)
        n = sum(p.numel() for p in model.parameters())
        n += (model.channels[-1] + 1) * 1000 + (model.embed_dims + 1) * 1000
        assert round(n / 1e6, 1) == millions, arch
        assert model.channels == [c1, 2 * c1, 4 * c1, 4 * c1]
    with pytest.raises(ValueError, match='valid archs: t, tiny, s, small'):
        ConformerDense(arch='huge')


@pytest.mark.parametrize('frozen_stages,frozen', [
    (1, ('conv1.', 'bn1.')),
    (2, ('conv1.', 'bn1.', 'conv_1.', 'trans_patch_conv.', 'trans_1.',
         'cls_token')),
])
def test_gradients_and_frozen_stage(frozen_stages, frozen):
    model = _nano(init=False, frozen_stages=frozen_stages,
                  norm_eval=True).train()
    assert not model.bn1.training and not model.conv_trans_2.cnn_block\
        .bn1.training
    sum(o.square().mean() for o in model(torch.randn(2, 3, 64, 64))
        ).backward()
    for name, p in model.named_parameters():
        if name.startswith(frozen):
            assert not p.requires_grad and p.grad is None, name
        elif 'trans_norm' not in name and 'conv_trans_6.trans_block' \
                not in name and 'conv_trans_6.squeeze' not in name:
            # the last block's transformer output feeds no CNN map
            assert p.grad is not None and p.grad.abs().sum() > 0, name
    with pytest.raises(ValueError, match='frozen_stages must be 0'):
        _nano(frozen_stages=3)


def _official_state_dict(model):
    """Our weights renamed to the official layout (+ random heads)."""
    sd = {}
    for k, v in model.state_dict().items():
        k = k.replace('.ln1.', '.norm1.').replace('.ln2.', '.norm2.')
        k = k.replace('.ffn.layers.0.0.', '.mlp.fc1.').replace(
            '.ffn.layers.1.', '.mlp.fc2.')
        sd[k] = v.clone()
    sd['conv_cls_head.weight'] = torch.randn(10, 64)
    sd['conv_cls_head.bias'] = torch.randn(10)
    sd['trans_cls_head.weight'] = torch.randn(10, 32)
    sd['trans_cls_head.bias'] = torch.randn(10)
    return sd


def test_converter_round_trip(tmp_path, exploit_checkpoint):
    from mmengine.registry import DefaultScope
    from mmpretrain.models import ImageClassifier
    sd = _official_state_dict(_nano())
    path = tmp_path / 'conformer.pth'
    torch.save({'model': sd}, path)
    converted, dropped = conformer_to_visionplug(load_state_dict(path))
    assert dropped == []
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        clf = ImageClassifier(
            backbone=dict(type='ConformerDense', arch=NANO, out_type='pooled',
                          out_indices=(6, )),
            head=dict(type='ConformerHead', num_classes=10,
                      in_channels=[64, 32]))
    result = clf.load_state_dict(converted, strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    back = visionplug_to_conformer(converted)
    assert back.keys() == sd.keys()
    assert all(torch.equal(back[k], sd[k]) for k in sd)
    # detection checkpoints of the official mmdetection fork
    det = {'backbone.' + k: v for k, v in sd.items()
           if 'cls_head' not in k}
    conv_det, _ = conformer_to_visionplug(det, backbone_only=True)
    assert set(conv_det) == {k for k in converted if k.startswith('backbone')}
    with pytest.raises(KeyError, match='unexpected key'):
        conformer_to_visionplug({'decoder.weight': torch.ones(1)})
    evil, marker = exploit_checkpoint
    with pytest.raises(ValueError, match='refused'):
        load_state_dict(evil)
    assert not marker.exists()


@pytest.mark.parametrize('config,root', [
    ('conformer-nano_tiny_1xb8-40it_synthetic-imagenet.py', 'imagenet_root'),
    ('retinanet_conformer-nano_fpn_tiny_1xb4-300it_synthetic-coco.py',
     'coco_root'),
    ('upernet_conformer-nano_tiny_1xb4-200it_synthetic-ade20k.py',
     'ade20k_root'),
])
def test_tiny_config_trains_one_step(config, root, request, tmp_path):
    from zoo_steps import train_steps
    # mmdet/mmseg runtimes name their visualizer 'visualizer': a global
    # instance that would keep the save_dir of an earlier run in-process
    rows = train_steps(f'configs/conformer/{config}',
                       request.getfixturevalue(root), tmp_path,
                       cfg_options={'visualizer.name': f'vis_{tmp_path}'})
    loss = rows[-1]['loss']
    assert torch.isfinite(torch.tensor(loss)) and loss > 0
