"""SIM against the official SiameseIM code (official fixture).

``tests/data/official/sim.pt`` is written by
``tools/model_converters/official_fixtures/sim.py`` from
OpenGVLab/Siamese-Image-Modeling (seeded random weights, BatchNorms and
the momentum branch included). The official state dict goes through
``tools/model_converters/sim_to_visionplug.py`` and is loaded strictly into
our ``SIM``; the official view augmentation's draws and outputs check
``SIMTwoViews``. The official code is not needed here.
"""
import argparse
import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.logging import MessageHub
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

import projects.sim  # noqa: F401
from projects.sim import sim_loss
from projects.sim.sim import encode_tokens

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / 'tests/data/official/sim.pt'
TOOL = ROOT / 'tools/model_converters/sim_to_visionplug.py'


@pytest.fixture(scope='module')
def fixture():
    return torch.load(FIXTURE, weights_only=True)


def load_tool():
    spec = importlib.util.spec_from_file_location('sim_converter', TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def build(fixture, dtype, **kwargs):
    cfg = fixture['config']
    MessageHub.get_current_instance().update_info('max_iters', 10)
    D, E = cfg['decoder_embed_dims'], cfg['embed_dims']
    layer = dict(num_heads=cfg['decoder_num_heads'],
                 feedforward_channels=cfg['mlp_ratio'] * D)
    model = MODELS.build(dict(
        type='SIM',
        backbone=dict(type='MAEViT', arch=dict(
            embed_dims=E, num_layers=cfg['depth'],
            num_heads=cfg['num_heads'],
            feedforward_channels=cfg['mlp_ratio'] * E),
            img_size=cfg['img_size'], patch_size=cfg['patch_size'],
            final_norm=False),
        neck=dict(type='SIMProjector', in_channels=E, embed_dims=D,
                  num_layers=cfg['projector_depth'], **layer),
        head=dict(type='SIMHead', embed_dims=D,
                  num_layers=cfg['predictor_depth'],
                  loss=dict(type='SIMLoss', neg_weight=cfg['neg_weight']),
                  **layer), **kwargs)).to(dtype)
    converted = load_tool().convert(fixture['state_dict'])
    result = model.load_state_dict(converted, strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    # the official update: target <- mm * target + (1 - mm) * online
    ema = model.target_net
    ema.momentum = ema.end_momentum = 1 - cfg['momentum']
    return model.train()


def rel_err(a, b):
    return float((a - b).abs().max() / b.abs().max())


def samples(fixture):
    inputs = fixture['inputs']
    return [DataSample(mask=m, rel_pos=r)
            for m, r in zip(inputs['mask'], inputs['rel_pos'])]


@pytest.mark.parametrize('dtype,tol', [(torch.float64, 1e-10),
                                       (torch.float32, 1e-5)])
def test_forward_matches_official(fixture, dtype, tol):
    ref = fixture['fp64' if dtype == torch.float64 else 'fp32']
    inputs = fixture['inputs']
    model = build(fixture, dtype)
    x1, x2 = inputs['x1'].to(dtype), inputs['x2'].to(dtype)
    mask, rel_pos = inputs['mask'], inputs['rel_pos'].to(dtype)
    with torch.no_grad():
        online = encode_tokens(model.backbone, x1, mask)
        assert rel_err(online, ref['online_encoder']) < tol
        pred = model.head(model.neck(online), mask, rel_pos)
        assert rel_err(pred, ref['pred']) < tol
    loss = model.loss([x1, x2], samples(fixture))
    assert rel_err(loss['loss'], ref['loss']) < tol
    with torch.no_grad():  # the target after the momentum update
        vit = model.target_net.module['backbone']
        target = encode_tokens(vit, x2)
        assert rel_err(target, ref['target_encoder']) < tol
        target = model.target_net.module['neck'](target)[:, 1:]
        assert rel_err(target, ref['target']) < tol


def test_loss_and_gradients_match_official(fixture):
    ref = fixture['fp64']
    inputs = fixture['inputs']
    # the loss alone, on the official prediction and raw target
    pred = ref['pred'].clone().requires_grad_()
    out = sim_loss(pred, ref['target'], fixture['config']['neg_weight'])
    out['loss'].backward()
    assert rel_err(out['loss'], ref['loss_from_pred']) < 1e-10
    assert rel_err(pred.grad, ref['grad_pred']) < 1e-10
    # the whole model: gradients of every trained parameter and the
    # momentum parameters after the update
    model = build(fixture, torch.float64)
    model.zero_grad()
    model.loss([inputs['x1'], inputs['x2']],
               samples(fixture))['loss'].backward()
    tool = load_tool()
    ours = dict(model.named_parameters())
    converted = tool.convert(ref['grads'])
    assert converted.keys() == {n for n, p in ours.items()
                                if p.grad is not None}
    for name, grad in converted.items():
        assert rel_err(ours[name].grad, grad) < 1e-10, name
    after = tool.convert(dict(fixture['state_dict'],
                              **ref['momentum_after']))
    # parameters only: the BatchNorm buffers of our target are copied from
    # the online branch (README, deviations), not running on their own
    params = dict(model.target_net.named_parameters(prefix='target_net'))
    checked = [n for n in after if n in params]
    assert len(checked) == len(params)
    for name in checked:
        assert rel_err(params[name], after[name]) < 1e-10, name


def test_converter_cli(fixture, tmp_path):
    """The official file layout (``model`` + pickled ``args``) converts;
    bad input ends with one ``error:`` line."""
    tool = load_tool()
    src = tmp_path / 'sim_official.pth'
    torch.save(dict(model=fixture['state_dict'], epoch=1599,
                    args=argparse.Namespace(model='sim_vit_base_patch16')),
               src)
    dst = tmp_path / 'sim_converted.pth'
    tool.main([str(src), str(dst), '--backbone-only'])
    out = torch.load(dst, weights_only=True)['state_dict']
    assert out and all(k.startswith('backbone.') for k in out)
    assert torch.equal(out['backbone.pos_embed'],
                       fixture['state_dict']['pos_embed'])
    bad = tmp_path / 'bad.pth'
    torch.save(dict(model={'head.weight': torch.zeros(2)}), bad)
    for path in (bad, tmp_path / 'missing.pth'):
        with pytest.raises(SystemExit) as exc:
            tool.main([str(path), str(dst)])
        message = str(exc.value.code)
        assert message.startswith('error:') and '\n' not in message, message


@pytest.mark.parametrize('config', [
    'configs/sim/vit-base-p16_sim-pre_8xb128-coslr-100e_in1k.py',
    'configs/sim/vit-base-p16_sim-pre_8xb2048-linear-coslr-90e_in1k.py'])
def test_downstream_configs_load_converted_official_encoder(
        fixture, tmp_path, config):
    """The fine-tune / linear-probe configs (shrunk to the fixture size)
    load the converted official checkpoint through their ``init_cfg`` and
    reproduce the official encoder: mean of the patch tokens + LayerNorm
    (identity affine at initialisation)."""
    cfg = fixture['config']
    src, dst = tmp_path / 'official.pth', tmp_path / 'converted.pth'
    torch.save(dict(model=fixture['state_dict']), src)
    load_tool().main([str(src), str(dst), '--backbone-only'])
    model_cfg = Config.fromfile(str(ROOT / config)).model
    E = cfg['embed_dims']
    model_cfg.backbone.update(
        arch=dict(embed_dims=E, num_layers=cfg['depth'],
                  num_heads=cfg['num_heads'],
                  feedforward_channels=cfg['mlp_ratio'] * E),
        img_size=cfg['img_size'], patch_size=cfg['patch_size'],
        drop_path_rate=0.)
    model_cfg.backbone.init_cfg.checkpoint = str(dst)
    if model_cfg.backbone.get('frozen_stages'):
        model_cfg.backbone.frozen_stages = cfg['depth']
        model_cfg.neck.input_features = E
    model_cfg.head.in_channels = E
    model_cfg.pop('data_preprocessor', None)
    model = MODELS.build(model_cfg).double()
    model.init_weights()
    model.eval()
    tokens = fixture['fp64']['full_encoder']
    expected = torch.nn.functional.layer_norm(tokens[:, 1:].mean(1), (E, ),
                                              eps=1e-6)
    with torch.no_grad():
        feats = model.extract_feat(fixture['inputs']['x2'], stage='backbone')
    assert rel_err(feats[-1], expected) < 1e-10


def test_own_target_buffers_is_the_official_momentum_branch(fixture):
    """With ``own_target_buffers=True`` the target keeps its BatchNorm
    statistics (updated by its own forward): the whole momentum state,
    buffers included, equals the official one after the step."""
    ref = fixture['fp64']
    inputs = fixture['inputs']
    after = load_tool().convert(dict(fixture['state_dict'],
                                     **ref['momentum_after']))
    for own in (True, False):
        model = build(fixture, torch.float64, own_target_buffers=own)
        with torch.no_grad():
            model.loss([inputs['x1'], inputs['x2']], samples(fixture))
        state = model.state_dict()
        names = [n for n in after if n.startswith('target_net.module.')]
        assert any('running_var' in n for n in names)
        errors = {n: rel_err(state[n].double(), after[n].double())
                  for n in names}
        if own:
            assert max(errors.values()) < 1e-10
        else:  # the default copies the online statistics
            assert max(errors.values()) > 1e-3


def test_two_views_match_official_augmentation(fixture, monkeypatch):
    """``SIMTwoViews`` given the official draws (flip, then crop, per view)
    gives the official views pixel for pixel (Pillow bicubic) and the
    official relative geometry (ours in float32)."""
    from projects.sim import SIMTwoViews
    ref = fixture['views']
    size = ref['size']
    transform = SIMTwoViews(crop_size=size, interpolation='bicubic',
                            backend='pillow')
    img = ref['image'].numpy()
    for case in ref['cases']:
        flips = iter(case['flips'])
        crops = iter(case['crops'])
        monkeypatch.setattr(
            'projects.sim.transforms.np.random.rand',
            lambda: 0. if next(flips) else 1.)
        monkeypatch.setattr(transform.crop, 'rand_crop_params',
                            lambda image: tuple(next(crops)))
        out = transform(dict(img=img.copy(), img_shape=img.shape[:2]))
        assert np.array_equal(out['img'][0], case['view1'].numpy())
        assert np.array_equal(out['img'][1], case['view2'].numpy())
        official = torch.tensor(case['rel_pos'], dtype=torch.float64)
        ours = torch.from_numpy(out['rel_pos']).double()
        assert float((ours - official).abs().max()) < 1e-6 * max(
            1., float(official.abs().max()))
