"""Arguments of hooks, optimizers, schedulers and loops are bound to their
signatures (``**kwargs`` followed to where it goes) before anything is built."""
import copy
import subprocess
import sys

import pytest
from mmengine.config import Config

import projects  # noqa: F401
from projects.config_validation import ConfigError, check_types
from projects.config_validation.signatures import accepted_keywords

RETINANET = ('configs/retinanet/'
             'retinanet_r18_fpn_tiny_1xb4-300it_synthetic-coco.py')
UPERNET = 'configs/upernet/upernet_r18_tiny_1xb4-200it_synthetic-ade20k.py'


class Base:

    def __init__(self, a, b=1, *, c=2):
        self.a, self.b, self.c = a, b, c


class ForwardsAll(Base):

    def __init__(self, d=0, **kwargs):
        super().__init__(**kwargs)
        self.d = d


class FillsFirst(Base):

    def __init__(self, *args, **kwargs):
        super().__init__(5, *args, **kwargs)


class ExplicitBase(ForwardsAll):

    def __init__(self, e=0, **kwargs):
        ForwardsAll.__init__(self, b=3, **kwargs)
        self.e = e


class Stores(Base):

    def __init__(self, **kwargs):
        super().__init__(1)
        self.options = kwargs


def test_kwargs_followed_to_the_next_init():
    assert accepted_keywords(ForwardsAll) == {'a', 'b', 'c', 'd'}
    # the positional 5 fills ``a``: it is no keyword of FillsFirst any more
    assert accepted_keywords(FillsFirst) == {'b', 'c'}
    # ``b`` is passed by the class itself
    assert accepted_keywords(ExplicitBase) == {'a', 'c', 'd', 'e'}
    # kept for later: unknown, so unchecked
    assert accepted_keywords(Stores) is None


def test_mmengine_classes_bound_to_where_kwargs_go():
    from mmengine.hooks import CheckpointHook, EMAHook
    from mmengine.optim import AmpOptimWrapper
    from mmengine.optim.scheduler import LinearLR
    from torch.nn import BatchNorm2d
    from torch.optim import AdamW
    assert 'interval' in accepted_keywords(CheckpointHook)
    assert 'intervall' not in accepted_keywords(CheckpointHook)
    assert {'momentum', 'ema_type', 'begin_iter'} <= accepted_keywords(
        EMAHook, {})
    assert 'model' not in accepted_keywords(EMAHook, {})
    assert {'start_factor', 'end', 'by_epoch'} <= accepted_keywords(LinearLR)
    assert 'param_name' not in accepted_keywords(LinearLR)
    assert {'loss_scale', 'clip_grad'} <= accepted_keywords(AmpOptimWrapper)
    assert {'lr', 'betas', 'weight_decay'} <= accepted_keywords(AdamW)
    assert accepted_keywords(BatchNorm2d) is None


@pytest.fixture(scope='module')
def configs():
    return {path: Config.fromfile(path) for path in (RETINANET, UPERNET)}


@pytest.mark.parametrize('path', [RETINANET, UPERNET])
def test_tiny_zoo_configs_pass(configs, path):
    check_types(configs[path], path)


@pytest.mark.parametrize('path', [RETINANET, UPERNET])
@pytest.mark.parametrize('key, value, suggestion', [
    ('default_hooks.checkpoint.intervall', 1, 'interval'),
    ('default_hooks.logger.intervl', 1, 'interval'),
    ('optim_wrapper.optimizer.lrr', 0.1, 'lr'),
    ('optim_wrapper.optimizer.weight_decy', 0.1, 'weight_decay'),
    ('optim_wrapper.clip_gard', {}, 'clip_grad'),
])
def test_typo_names_key_path_and_suggests(configs, path, key, value,
                                          suggestion):
    cfg = copy.deepcopy(configs[path])
    cfg.merge_from_dict({key: value})
    with pytest.raises(ConfigError) as err:
        check_types(cfg, path)
    msg = str(err.value)
    assert f"key '{key}'" in msg and f"Did you mean '{suggestion}'" in msg
    assert msg.startswith(path)


def test_param_scheduler_entries_are_checked(configs):
    cfg = copy.deepcopy(configs[UPERNET])
    cfg.param_scheduler[0]['start_factr'] = 0.1
    with pytest.raises(ConfigError, match=r"key 'param_scheduler\[0\]."
                       r"start_factr'.*LinearLR.*Did you mean 'start_factor'"):
        check_types(cfg)
    cfg = copy.deepcopy(configs[UPERNET])
    # read by mmengine's scheduler builder, not by the class
    cfg.param_scheduler[1]['convert_to_iter_based'] = True
    check_types(cfg)


def test_custom_hooks_are_checked(configs):
    cfg = copy.deepcopy(configs[RETINANET])
    cfg.custom_hooks = [dict(type='EMAHook', momentum=1e-3, priority=49),
                        dict(type='EMAHook', momentm=1e-3)]
    with pytest.raises(ConfigError, match=r"key 'custom_hooks\[1\].momentm'"
                       r".*Did you mean 'momentum'"):
        check_types(cfg)
    cfg.custom_hooks = cfg.custom_hooks[:1]
    check_types(cfg)


def test_train_tool_stops_on_a_typo_before_any_work(tmp_path):
    proc = subprocess.run(
        [sys.executable, 'tools/train.py', RETINANET, '--work-dir',
         str(tmp_path / 'work'), '--cfg-options',
         'default_hooks.checkpoint.intervall=50'],
        capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "default_hooks.checkpoint.intervall" in proc.stderr
    assert "Did you mean 'interval'" in proc.stderr
    assert not (tmp_path / 'work').exists() or not any(
        (tmp_path / 'work').rglob('*.pth'))


def test_norm_cfg_requires_grad_is_the_builders_and_typos_still_fail(configs):
    cfg = copy.deepcopy(configs[UPERNET])
    cfg.model.decode_head.norm_cfg = dict(type='SyncBN', requires_grad=True)
    check_types(cfg)  # popped by mmcv's build_norm_layer
    cfg.model.decode_head.norm_cfg = dict(type='SyncBN', requires_gard=True)
    with pytest.raises(ConfigError, match=r"key 'model.decode_head.norm_cfg."
                       r"requires_gard'.*Did you mean 'requires_grad'"):
        check_types(cfg)


def test_every_trainable_zoo_config_passes():
    """All configs that tools/train.py takes (search configs are read by
    tools/search_loss.py) pass: top-level variables are checked where used."""
    from pathlib import Path
    root = Path(__file__).resolve().parents[2]
    paths = sorted(p for p in (root / 'configs').rglob('*.py')
                   if '_base_' not in p.parts and 'loss_search' not in p.parts)
    assert len(paths) > 100
    for path in paths:
        check_types(Config.fromfile(str(path)), str(path))
