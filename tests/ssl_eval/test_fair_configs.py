"""The fair SSL benchmark configs (configs/ssl_benchmark): the equalised
fields really are equal (within the ResNet + SGD and the ViT + AdamW
group, and batch, data and evaluation across both; the tiny ViT group's
schedule is the ResNet one's shape, 5x longer), the backbone is set in one place and
swapping it there (for a VisionPlug backbone) reaches every Siamese
algorithm, the rescaled loss weights follow their rule, MoCo's momentum
follows the shared cosine schedule, the bases name only existing files,
and two of the configs train a step."""
import math
import re
import shutil
from pathlib import Path

import pytest
import torch
from mmengine.config import Config

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / 'configs/ssl_benchmark'
TINY = '_fair_1xb32-200it_synthetic-imagenet.py'
TINY_VIT = '_fair_1xb32-1000it_synthetic-imagenet.py'
SIAMESE = {a: f'{a}_resnet18-tiny{TINY}'
           for a in ('mocov2', 'byol', 'simsiam', 'barlowtwins', 'unigrad')}
MIM = {'mae': f'mae_vit-nano-p8-tiny{TINY_VIT}',
       'beitv2': f'beitv2_vit-nano-p8-tiny{TINY_VIT}',
       'sim': f'sim_vit-nano-p8-tiny{TINY_VIT}',
       'maskdistill': f'maskdistill_vit-nano-p8-tiny_mae-teacher{TINY_VIT}',
       'g2sd': f'g2sd_vit-nano-p8-tiny_mae-teacher{TINY_VIT}',
       'flip': f'flip_vit-nano-p8-tiny{TINY_VIT}'}
REAL_SIAMESE = {a: f'{a}_resnet50_fair_8xb32-coslr-200e_in1k.py'
                for a in SIAMESE}
REAL_MIM = {a: f'{a}_vit-base-p16_fair_8xb32-coslr-200e_in1k.py'
            for a in ('mae', 'beitv2')}
# equal for every algorithm of both groups
SHARED = ('val_cfg', 'val_evaluator', 'val_dataloader', 'test_cfg',
          'randomness', 'auto_scale_lr', 'train_dataloader.batch_size',
          'train_dataloader.sampler', 'crop')
# equal within each group (and across both at real size)
SCHEDULE = ('param_scheduler', 'train_cfg', 'default_hooks.checkpoint')
# equal within the Siamese group
SIAMESE_SHARED = ('model.backbone', 'model.neck', 'train_pipeline',
                  'model.data_preprocessor', 'optim_wrapper')


def _get(cfg, dotted):
    node = cfg
    for part in dotted.split('.'):
        node = node.get(part) if hasattr(node, 'get') else None
    return node.to_dict() if hasattr(node, 'to_dict') else node


def _load(folder, names):
    return {a: Config.fromfile(str(folder / n)) for a, n in names.items()}


@pytest.mark.parametrize('scale', ['tiny', 'real'])
def test_equalised_fields(scale):
    siamese = _load(BENCH, SIAMESE if scale == 'tiny' else REAL_SIAMESE)
    mim = _load(BENCH, MIM if scale == 'tiny' else REAL_MIM)
    ref = siamese['byol']
    for key in SHARED:
        assert _get(ref, key) is not None, key
        for algo, cfg in {**siamese, **mim}.items():
            assert _get(cfg, key) == _get(ref, key), (algo, key)
    for key in SIAMESE_SHARED:
        for algo, cfg in siamese.items():
            assert _get(cfg, key) == _get(ref, key), (algo, key)
    for key in SCHEDULE:
        for group in (siamese, mim):
            for algo, cfg in group.items():
                assert _get(cfg, key) == _get(group[next(iter(group))],
                                              key), (algo, key)
    # one schedule shape: the ViT group (tiny: masked image modelling needs
    # more iterations) scales every milestone by the same factor
    length = [c.train_cfg.get('max_iters', c.train_cfg.get('max_epochs'))
              for c in (mim['mae'], ref)]
    ratio = length[0] / length[1]
    assert ratio == (5 if scale == 'tiny' else 1)
    for mine, theirs in zip(mim['mae'].param_scheduler, ref.param_scheduler):
        scaled = {k: v * ratio if k in ('begin', 'end', 'T_max') else v
                  for k, v in theirs.items()}
        assert mine == scaled
    # two optimiser groups: SGD for the ResNets, one AdamW for the ViTs
    assert ref.optim_wrapper.optimizer.type == 'SGD'
    vit_optim = _get(mim['mae'], 'optim_wrapper')
    assert vit_optim['optimizer']['type'] == 'AdamW'
    for algo, cfg in mim.items():
        assert _get(cfg, 'optim_wrapper') == vit_optim, algo
    # one predictor for the algorithms that have one
    assert _get(siamese['simsiam'], 'model.head.predictor') == \
        _get(ref, 'model.head.predictor') == _get(ref, 'predictor')
    # one target-momentum value (mmengine convention 1 - tau), and MoCo
    # follows the same cosine schedule
    m = ref.ema_momentum
    assert ref.model.base_momentum == m
    assert siamese['unigrad'].model.base_momentum == m
    assert siamese['mocov2'].model.momentum == m
    assert siamese['mocov2'].model.type == 'MoCoCosineEMA'
    if scale == 'tiny':
        assert mim['sim'].model.base_momentum == m
    # projector output feeds every head / queue; the loss weights tuned for
    # other widths are rescaled by their rule
    out = ref.model.neck.out_channels
    assert ref.proj_out == out
    assert siamese['mocov2'].model.feat_dim == out
    assert siamese['barlowtwins'].model.head.in_channels == out
    # Barlow Twins: lambda * D / N constant (official 0.0051 at D = 8192,
    # N = 2048; N = the global batch, GPUs x batch per GPU as the config's
    # name says: 1xb32 tiny, 8xb32 real) and the loss a per-dimension mean
    # under the shared SGD (loss_weight = 1 / D)
    names = SIAMESE if scale == 'tiny' else REAL_SIAMESE
    gpus, per_gpu = map(int, re.search(r'_(\d+)xb(\d+)',
                                       names['barlowtwins']).groups())
    assert per_gpu == _get(ref, 'train_dataloader.batch_size')
    n = gpus * per_gpu
    barlow_loss = siamese['barlowtwins'].model.head.loss
    assert barlow_loss.type == 'ScaledCrossCorrelationLoss'
    assert barlow_loss.lambd == pytest.approx(0.0204 * n / out)
    assert barlow_loss.lambd * out / n == pytest.approx(0.0051 * 8192 / 2048)
    assert barlow_loss.loss_weight == pytest.approx(1. / out)
    assert siamese['unigrad'].model.lambd == pytest.approx(100. * out / 2048)
    # ViT group: one ViT shape (students and teachers)
    for algo, cfg in mim.items():
        bb = cfg.model.get('backbone')
        for key in ('arch', 'img_size', 'patch_size'):
            assert bb.get(key) == mim['mae'].model.backbone.get(key), \
                (algo, key)
        teacher = cfg.model.get('teacher')
        if teacher:
            teacher = teacher.get('backbone', teacher)
            assert teacher['arch'] == bb['arch'], algo
    # the only differences between two Siamese configs are model keys
    for algo, cfg in siamese.items():
        diff = {k for k in set(cfg) | set(ref)
                if _get(cfg, k) != _get(ref, k)}
        assert diff <= {'model', 'custom_imports', 'lambd', 'loss_weight'}, \
            (algo, diff)


def test_bases_name_existing_files():
    """Every repository path in the benchmark's configs exists."""
    pattern = re.compile(r'\b((?:configs|projects|tools)/[\w./*-]+\w)')
    for path in list(BENCH.rglob('*.py')):
        for ref in pattern.findall(path.read_text()):
            if '*' in ref:
                assert list(ROOT.glob(ref)), (path.name, ref)
            else:
                assert (ROOT / ref).exists(), (path.name, ref)


def test_moco_momentum_follows_the_cosine_schedule():
    from mmengine.logging import MessageHub
    from mmengine.registry import init_default_scope
    from mmpretrain.models import CosineEMA
    from mmpretrain.registry import MODELS
    import projects.ssl_eval  # noqa: F401
    init_default_scope('mmpretrain')
    cfg = Config.fromfile(str(BENCH / SIAMESE['mocov2']))
    model = MODELS.build(cfg.model)
    ema = model.encoder_k
    assert isinstance(ema, CosineEMA)
    MessageHub.get_current_instance().update_info('max_iters', 100)
    for step, expect in ((0, 0.01), (50, 0.005), (100, 0.)):
        avg = torch.zeros(3)  # averaged <- (1 - m) averaged + m source
        ema.avg_func(avg, torch.ones(3), steps=step)
        assert avg.tolist() == pytest.approx([expect] * 3, abs=1e-9)


def test_backbone_set_in_one_place(tmp_path):
    """No Siamese algorithm config names a backbone; replacing
    `backbone = dict(...)` (+ feat_channels) in the shared base with a
    VisionPlug RevCol puts it into all of them, and they build and take a
    gradient step."""
    for name in SIAMESE.values():
        code = [line.split('#')[0] for line in
                (BENCH / name).read_text().splitlines()]
        assert not any('backbone' in line for line in code), name
    # a copy of the zoo with the shared base edited in that one place
    shutil.copytree(ROOT / 'configs/_base_', tmp_path / 'configs/_base_')
    shutil.copytree(BENCH, tmp_path / 'configs/ssl_benchmark')
    base = tmp_path / 'configs/ssl_benchmark/_base_/' \
        'fair_tiny_synthetic-imagenet.py'
    text = base.read_text()
    text, n = re.subn(
        r"\nbackbone = dict\(.*?\)\nfeat_channels = 128\n",
        "\nbackbone = dict(type='RevCol', arch=dict(channels=[8, 16, 32, "
        "64], layers=[1, 1, 1, 1], num_subnet=2), out_indices=(3, ))\n"
        "feat_channels = 64\n", text, flags=re.S)
    assert n == 1
    text = text.replace("imports=['projects.ssl_eval']",
                        "imports=['projects.ssl_eval', 'projects.revcol']")
    base.write_text(text)
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import MODELS
    init_default_scope('mmpretrain')
    folder = tmp_path / 'configs/ssl_benchmark'
    for algo, cfg in _load(folder, SIAMESE).items():
        assert cfg.model.backbone.type == 'RevCol', algo
        assert cfg.model.neck.in_channels == 64, algo
    cfg = Config.fromfile(str(folder / SIAMESE['simsiam']))
    import projects.revcol  # noqa: F401
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    views = [torch.randn(4, 3, 40, 40), torch.randn(4, 3, 40, 40)]
    loss = model.loss(views, [])['loss']
    loss.backward()
    grads = [p.grad for p in model.backbone.parameters()]
    assert math.isfinite(loss.item())
    assert all(g is not None and torch.isfinite(g).all() for g in grads
               if g is not None) and any(g is not None for g in grads)


@pytest.mark.parametrize('algo', ['byol', 'mae'])
def test_one_step(algo, imagenet_root, tmp_path):
    from zoo_steps import train_steps
    config = f'configs/ssl_benchmark/{SIAMESE.get(algo) or MIM[algo]}'
    (row, ) = train_steps(config, imagenet_root, tmp_path, iters=1,
                          batch_size=4)
    assert math.isfinite(row['loss'])
    if algo == 'byol':  # mmpretrain's BYOL: -2 (cos_1 + cos_2)
        assert -4 <= row['loss'] <= 4
