"""Compound loss in closed form, official-checkpoint conversion, and one
training step of each tiny zoo config."""
import importlib.util
from collections import OrderedDict
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from mmpretrain.structures import DataSample
from zoo_steps import train_steps

from projects.revcol import RevCol, RevColClsHead

ROOT = Path(__file__).resolve().parents[2]
CHANNELS = [8, 16, 24, 32]
TINY = dict(channels=CHANNELS, layers=[1, 2, 1, 1], num_subnet=4)


def _converter():
    path = ROOT / 'tools/model_converters/revcol_to_visionplug.py'
    spec = importlib.util.spec_from_file_location('revcol_converter', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_compound_loss_closed_form():
    torch.manual_seed(0)
    head = RevColClsHead(num_classes=5, in_channels=32, channels=CHANNELS,
                         inter_supv=True, num_supervised=4)
    head.init_weights()
    feats = [torch.randn(2, 32, 2, 2) for _ in range(4)]
    images = torch.rand(2, 3, 64, 64) * 1.2 - 0.1
    labels = [1, 3]
    samples = [DataSample().set_gt_label(y) for y in labels]
    losses = head.loss(feats, samples, images=images)
    target = torch.tensor(labels)
    img = images.clamp(0.01, 0.99)
    rec = sum(F.binary_cross_entropy_with_logits(
        head.decoder_blocks[i](feats[i]), img) * (1 - i / 3) * 3.0
        for i in range(3))
    inter = sum(F.cross_entropy(head.cls_blocks[i](feats[i]), target) *
                (i + 1) / 4 * 0.7 for i in range(3))
    final = F.cross_entropy(head.cls_blocks[3](feats[3]), target)
    assert torch.allclose(losses['loss_recon'], rec)
    assert torch.allclose(losses['loss_inter_cls'], inter)
    assert torch.allclose(losses['loss'], final)
    with pytest.raises(ValueError, match='RevColClassifier'):
        head.loss(feats, samples)


def official_layout(channels, layers, num_subnet, num_classes, inter_supv,
                    kernel=3):
    """Names and shapes of the official FullNet's state dict, written from
    the official classes (models/revcol.py, modules.py)."""
    sd = OrderedDict()

    def add(name, *shape):
        sd[name] = torch.randn(shape)

    def block(prefix, c, hidden):
        add(prefix + 'gamma', c)
        add(prefix + 'dwconv.weight', c, 1, kernel, kernel)
        add(prefix + 'dwconv.bias', c)
        add(prefix + 'norm.weight', c)
        add(prefix + 'norm.bias', c)
        add(prefix + 'pwconv1.weight', hidden, c)
        add(prefix + 'pwconv1.bias', hidden)
        add(prefix + 'pwconv2.weight', c, hidden)
        add(prefix + 'pwconv2.bias', c)

    def classifier(prefix):
        add(prefix + 'classifier.0.weight', channels[3])
        add(prefix + 'classifier.0.bias', channels[3])
        add(prefix + 'classifier.1.weight', num_classes, channels[3])
        add(prefix + 'classifier.1.bias', num_classes)

    add('stem.0.weight', channels[0], 3, 4, 4)
    add('stem.0.bias', channels[0])
    add('stem.1.weight', channels[0])
    add('stem.1.bias', channels[0])
    for i in range(num_subnet):
        for lvl, c in enumerate(channels):
            add(f'subnet{i}.alpha{lvl}', 1, c, 1, 1)
        for lvl, c in enumerate(channels):
            p = f'subnet{i}.level{lvl}.'
            if lvl > 0:
                add(p + 'fusion.down.0.weight', c, channels[lvl - 1], 2, 2)
                add(p + 'fusion.down.0.bias', c)
                add(p + 'fusion.down.1.weight', c)
                add(p + 'fusion.down.1.bias', c)
            if i > 0 and lvl < 3:
                q = p + 'fusion.up.channel_reschedule.'
                add(q + '0.weight', c, channels[lvl + 1])
                add(q + '0.bias', c)
                add(q + '1.weight', c)
                add(q + '1.bias', c)
            for j in range(layers[lvl]):
                block(p + f'blocks.{j}.', c, 4 * c)
    if not inter_supv:
        classifier('cls.')
        return sd
    for k in range(4):
        classifier(f'cls_blocks.{k}.')
    dims = channels[::-1]
    for k in range(3):
        p = f'decoder_blocks.{k}.'
        for i in range(1, 4):
            add(p + f'proj_layers.{i - 1}.0.weight', dims[i], dims[i - 1],
                1, 1)
            add(p + f'proj_layers.{i - 1}.0.bias', dims[i])
            add(p + f'proj_layers.{i - 1}.1.weight', dims[i])
            add(p + f'proj_layers.{i - 1}.1.bias', dims[i])
            block(p + f'normal_layers.{i - 1}.0.', dims[i], dims[i])
        add(p + 'projback.0.weight', 48, dims[-1], 1, 1)
        add(p + 'projback.0.bias', 48)
    return sd


@pytest.mark.parametrize('inter_supv', [False, True])
def test_converter_round_trip(tmp_path, inter_supv):
    conv = _converter()
    official = official_layout(CHANNELS, TINY['layers'], 4, 10, inter_supv)
    src, dst = tmp_path / 'official.pth', tmp_path / 'ours.pth'
    torch.save({'model': OrderedDict(
        ('module.' + k, v) for k, v in official.items()), 'epoch': 300}, src)
    conv.main([str(src), str(dst)])
    out = torch.load(dst, weights_only=True)
    sd = out['state_dict']
    assert sorted(out['meta']['dropped']) == [
        f'module.subnet0.alpha{lvl}' for lvl in range(4)]
    assert len(sd) + 4 == len(official)  # every other key consumed
    backbone = RevCol(arch=TINY, inter_supv=inter_supv)
    head = RevColClsHead(num_classes=10, in_channels=32, channels=CHANNELS,
                         inter_supv=inter_supv)
    for prefix, module in (('backbone.', backbone), ('head.', head)):
        part = {k[len(prefix):]: v for k, v in sd.items()
                if k.startswith(prefix)}
        module.load_state_dict(part, strict=True)  # none missing/unexpected
        for k, v in module.state_dict().items():
            assert torch.equal(v, official[k]), k
    conv.check_against_model(sd, TINY, 10, inter_supv)
    with pytest.raises(ValueError, match='does not match'):
        conv.check_against_model(sd, 't', 10, inter_supv)


def test_converter_rejects_unknown_keys_and_pickled_code(
        tmp_path, exploit_checkpoint):
    conv = _converter()
    with pytest.raises(KeyError, match='head.fc.weight'):
        conv.convert({'head.fc.weight': torch.zeros(1)})
    path, marker = exploit_checkpoint
    with pytest.raises(SystemExit):
        conv.main([str(path), str(tmp_path / 'out.pth')])
    assert not marker.exists()


@pytest.mark.parametrize('config,fixture', [
    ('configs/revcol/revcol-tiny_1xb8-100it_synthetic-imagenet.py',
     'imagenet_root'),
    ('configs/revcol/retinanet_revcol-tiny_fpn_1xb4-300it_synthetic-coco.py',
     'coco_root'),
    ('configs/revcol/upernet_revcol-tiny_1xb4-200it_synthetic-ade20k.py',
     'ade20k_root'),
])
def test_tiny_config_trains(config, fixture, request, tmp_path):
    rows = train_steps(config, request.getfixturevalue(fixture), tmp_path,
                       iters=1)
    assert len(rows) == 1 and torch.isfinite(torch.tensor(rows[0]['loss']))
    if 'imagenet' in config:  # the compound loss is logged by its parts
        assert {'loss_recon', 'loss_inter_cls'} <= set(rows[0])
