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
                    kernel=3, extra_up=False):
    """Names and shapes of the official FullNet's state dict, written from
    the official classes (models/revcol.py, modules.py; with ``extra_up``
    RevColHuge of models/revcol_huge.py: ``level0.fusion.up2`` from c3 in
    every non-first column). Random values (meta tensors under
    ``torch.device('meta')``)."""
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
            if extra_up and i > 0 and lvl == 0:
                q = p + 'fusion.up2.channel_reschedule.'
                add(q + '0.weight', c, channels[3])
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


# RevCol-H (official models/revcol_huge.py, revcol_huge()): parameters with
# the 1000-class classifier, no intermediate supervision, counted on the
# official classes built on the meta device: 2,157,600,160 with the released
# 3x3 kernels, 2,162,784,160 with the 7x7 ones (official README: "2.1B").
OFFICIAL_H_PARAMS = {3: 2_157_600_160, 7: 2_162_784_160}
H_CHANNELS, H_LAYERS = [360, 720, 1440, 2880], [1, 2, 6, 2]


@pytest.mark.parametrize('kernel', [3, 7])
def test_huge_parameter_count_and_layout_equal_official(kernel):
    """The full RevCol-H on the meta device: our backbone + classifier (+
    the official first column's four dead alphas) has the official count,
    and the converted official key layout matches ``arch='h'`` key by key
    and shape by shape (kernel size read from the checkpoint)."""
    conv = _converter()
    with torch.device('meta'):
        official = official_layout(H_CHANNELS, H_LAYERS, 8, 1000, False,
                                   kernel=kernel, extra_up=True)
        backbone = RevCol(arch='h', kernel_size=kernel)
        head = RevColClsHead(num_classes=1000, in_channels=2880)
    assert sum(v.numel() for v in official.values()) == \
        OFFICIAL_H_PARAMS[kernel]
    ours = sum(p.numel() for m in (backbone, head) for p in m.parameters())
    assert ours + sum(H_CHANNELS) == OFFICIAL_H_PARAMS[kernel]
    converted, dropped = conv.convert(official)
    assert len(dropped) == 4 and len(converted) + 4 == len(official)
    assert conv.kernel_size_of(converted) == kernel
    conv.check_against_model(converted, 'h', 1000, False)
    with pytest.raises(ValueError, match='does not match'):  # no up2 in XL
        conv.check_against_model(converted, 'xl', 1000, False)


def test_huge_converter_pads_kernels(tmp_path):
    """A tiny-width checkpoint with RevCol-H's layout (extra branch, 3x3
    kernels, as the released H classification weights) converts with
    ``--pad-kernel 7``; every key loads strictly into the kernel-7 model,
    whose features equal those of the kernel-3 model (float64)."""
    conv = _converter()
    arch = dict(channels=CHANNELS, layers=H_LAYERS, num_subnet=8,
                extra_up_branch=True)
    torch.manual_seed(0)
    official = official_layout(CHANNELS, H_LAYERS, 8, 10, False, kernel=3,
                               extra_up=True)
    official = OrderedDict((k, v * 0.3 if 'gamma' in k else v)
                           for k, v in official.items())
    src = tmp_path / 'official.pth'
    torch.save({'model': official}, src)
    models = {}
    for kernel, extra in ((3, []), (7, ['--pad-kernel', '7'])):
        dst = tmp_path / f'k{kernel}.pth'
        conv.main([str(src), str(dst)] + extra)
        sd = torch.load(dst, weights_only=True)['state_dict']
        backbone = {k[len('backbone.'):]: v for k, v in sd.items()
                    if k.startswith('backbone.')}
        model = RevCol(arch=dict(arch, kernel_size=kernel),
                       save_memory=False).double().eval()
        model.load_state_dict(backbone, strict=True)
        assert model.subnet7.level0.blocks[0].dwconv.weight.shape[-1] == \
            kernel
        models[kernel] = model
    padded = models[7].subnet7.level2.blocks[5].dwconv.weight
    assert padded[..., 2:5, 2:5].abs().sum() > 0
    assert padded[..., :2, :].abs().sum() == padded[..., 5:, :].abs().sum() \
        == 0
    x = torch.randn(1, 3, 64, 64, dtype=torch.float64)
    with torch.no_grad():
        for a, b in zip(models[3](x), models[7](x)):
            torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)
    with pytest.raises(ValueError, match='cannot pad'):
        conv.pad_kernels({'subnet1.level0.blocks.0.dwconv.weight':
                          torch.zeros(4, 1, 3, 3)}, 6)


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
