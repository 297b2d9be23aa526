"""RevCol against the official code: the fixture
``tests/data/official/revcol.pt`` holds state dicts, inputs and outputs of
the official ``FullNet`` and ``RevColHuge`` (megvii-research/RevCol,
written by ``tools/model_converters/official_fixtures/revcol.py``) and of
the official mmseg backbone. The state dicts go through our converter and
load strictly; outputs and gradients must agree
to 1e-10 (relative to the largest reference value) in float64."""
import importlib.util
from pathlib import Path

import pytest
import torch
import torch.nn as nn
from mmpretrain.structures import DataSample

from projects.revcol import RevCol, RevColClsHead

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / 'tests/data/official/revcol.pt'
CHANNELS = [8, 16, 24, 32]


def _converter():
    path = ROOT / 'tools/model_converters/revcol_to_visionplug.py'
    spec = importlib.util.spec_from_file_location('revcol_converter', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='module')
def fixture():
    return torch.load(FIXTURE, weights_only=True)


def rel(ours, ref):
    return ((ours - ref).abs().max() / ref.abs().max()).item()


def build(state_dict, dtype, channels=CHANNELS, **backbone_kw):
    converted, dropped = _converter().convert(state_dict)
    assert sorted(dropped) == [f'subnet0.alpha{i}' for i in range(4)]
    arch = backbone_kw.pop('arch')
    inter = backbone_kw.get('inter_supv', False)
    model = nn.Module()
    model.backbone = RevCol(arch=arch, drop_path_rate=0., **backbone_kw)
    model.head = RevColClsHead(
        num_classes=5, in_channels=channels[-1], channels=channels,
        inter_supv=inter,
        num_supervised=len(model.backbone.inter_columns) + 1)
    model.load_state_dict(converted, strict=True)
    return model.to(dtype).eval(), converted


ARCHS = dict(
    plain=dict(channels=CHANNELS, layers=[1, 1, 2, 1], num_subnet=2),
    # official RevColHuge topology: extra up branch, 7x7 kernels
    huge=dict(channels=[8, 12, 16, 24], layers=[1, 1, 1, 1], num_subnet=3,
              kernel_size=7, extra_up_branch=True))


@pytest.mark.parametrize('case', ['plain', 'huge'])
@pytest.mark.parametrize('save_memory,keep_every',
                         [(False, 1), (True, 1), (True, 0)])
def test_plain_logits_features_and_gradients(fixture, case, save_memory,
                                             keep_every):
    ref = fixture[case]
    arch = ARCHS[case]
    model, _ = build(ref['state_dict'], torch.float64,
                     channels=arch['channels'], arch=dict(arch),
                     save_memory=save_memory, keep_every=keep_every)
    x = ref['input'].double().requires_grad_()
    feats = model.backbone(x)
    logits = model.head(feats)
    assert len(feats) == 4
    for ours, theirs in zip(feats, ref['features']):
        assert ours.shape == theirs.shape
        assert rel(ours, theirs) < 1e-10
    assert rel(logits, ref['logits']) < 1e-10
    (logits * ref['grad_out']).sum().backward()
    assert rel(x.grad, ref['input_grad']) < 1e-10
    grads, dropped = _converter().convert(ref['param_grads'])
    params = dict(model.named_parameters())
    if case == 'plain':
        assert set(grads) == set(params)
    else:  # the fixture keeps the alpha and up2 gradients only:
        # columns 1 and 2 have 4 alphas and 4 up2 tensors each
        assert len(grads) == 16 and set(grads) < set(params)
    worst = max(rel(params[k].grad, g) for k, g in grads.items())
    assert worst < 1e-10
    # the official reversible backward agrees with its plain autograd
    assert ref['official_rev_vs_plain_max_abs'] < 1e-12


def test_plain_float32(fixture):
    ref = fixture['plain']
    model, _ = build(ref['state_dict'], torch.float32,
                     arch=dict(channels=CHANNELS, layers=[1, 1, 2, 1],
                               num_subnet=2))
    with torch.no_grad():
        feats = model.backbone(ref['input'])
        logits = model.head(feats)
    assert rel(logits.double(), ref['logits']) < 1e-5
    for ours, theirs in zip(feats, ref['features']):
        assert rel(ours.double(), theirs) < 1e-5


@pytest.mark.parametrize('save_memory', [False, True])
def test_intermediate_supervision_and_compound_loss(fixture, save_memory):
    ref = fixture['inter']
    small = [8, 12, 16, 24]
    model, _ = build(ref['state_dict'], torch.float64, channels=small,
                     arch=dict(channels=small, layers=[1, 1, 1, 1],
                               num_subnet=4),
                     inter_supv=True, out_indices=(3, ),
                     save_memory=save_memory)
    assert model.backbone.inter_columns == [0, 1, 2]
    x = ref['input'].double().requires_grad_(save_memory)
    feats = model.backbone(x)
    assert len(feats) == 4
    for i in range(4):
        assert rel(model.head.cls_blocks[i](feats[i]),
                   ref['cls_outputs'][i]) < 1e-10
    for i in range(3):
        assert rel(model.head.decoder_blocks[i](feats[i]),
                   ref['decoder_outputs'][i]) < 1e-10
    assert rel(model.head(feats), ref['cls_outputs'][-1]) < 1e-10
    samples = [DataSample().set_gt_label(int(y)) for y in ref['labels']]
    losses = model.head.loss(feats, samples, images=ref['image'].double())
    total = losses['loss'] + losses['loss_inter_cls'] + losses['loss_recon']
    assert rel(total, ref['compound_loss']) < 1e-10


@pytest.mark.parametrize('save_memory', [False, True])
def test_segmentation_backbone_odd_size(fixture, save_memory):
    """The official mmseg backbone (up branches resized to the down
    branch's size) on a 40x56 input: levels 10x14, 5x7, 2x3, 1x1."""
    ref = fixture['seg']
    converted, dropped = _converter().convert(ref['state_dict'])
    assert all(k.startswith('backbone.') for k in converted)
    assert len(dropped) == 4
    small = [8, 12, 16, 24]
    backbone = RevCol(arch=dict(channels=small, layers=[1, 1, 1, 1],
                                num_subnet=2), save_memory=save_memory)
    backbone.load_state_dict(
        {k[len('backbone.'):]: v for k, v in converted.items()},
        strict=True)
    backbone.double().eval()
    x = ref['input'].double().requires_grad_(save_memory)
    feats = backbone(x)
    assert [tuple(f.shape[-2:]) for f in feats] == [(10, 14), (5, 7),
                                                    (2, 3), (1, 1)]
    for ours, theirs in zip(feats, ref['features']):
        assert ours.shape == theirs.shape
        assert rel(ours, theirs) < 1e-10
    if not save_memory:  # float32 against the float64 official outputs
        with torch.no_grad():
            feats = backbone.float()(ref['input'])
        for ours, theirs in zip(feats, ref['features']):
            assert rel(ours.double(), theirs) < 1e-5
