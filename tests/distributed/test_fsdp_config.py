"""Selecting a strategy from the config or ``tools/train.py --strategy``, the
FSDP zoo configs (their wrap policies cut the real models into one unit per
block) and the merge of shards (no process group needed)."""
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from torch.distributed.fsdp import (FullStateDictConfig,
                                    ShardedStateDictConfig, StateDictType)

from projects.run_config import apply_strategy, build_runner, load_config
from projects.run_config.fsdp import (consolidate_shards, resolve_classes,
                                      wrap_module_classes)

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / ('configs/internimage/'
               'internimage-nano_tiny_1xb16-200it_synthetic-imagenet.py')
FSDP_CONFIGS = {
    'configs/revcol/upernet_revcol-h_8xb1-fsdp-bf16-160k_ade20k-640x640.py':
        ('RevColumn', 8 + 8 * 4),
    'configs/internimage/'
    'upernet_internimage-xl_8xb2-fsdp-bf16-160k_ade20k-640x640.py':
        ('InternImageLayer', 39),
    'configs/internimage/'
    'upernet_internimage-h_8xb1-fsdp-bf16-160k_ade20k-896x896.py':
        ('InternImageLayer', 50),
    'configs/bevformer_v2/'
    'bevformer-v2_internimage-xl_t8-hybrid_32xb1-fsdp-bf16-24e_nuscenes.py':
        ('InternImageLayer', 39 + 6 + 6),
}


def tiny(launcher='pytorch', **options):
    return load_config(str(TINY), options or None, '/tmp/unused', launcher)


def test_cli_strategy_fills_the_runner_and_cpu_settings():
    cfg = apply_strategy(tiny(), 'fsdp')
    assert cfg.runner_type == 'FlexibleRunner'
    strategy = cfg.strategy
    assert strategy.type == 'FSDPStrategy'
    assert strategy.model_wrapper.auto_wrap_policy.type == \
        'size_based_auto_wrap_policy'
    assert strategy.model_wrapper.device_id == 'cpu'  # no CUDA here
    sd = strategy.state_dict_cfg
    assert sd['state_dict_type'] == 'FULL_STATE_DICT'
    assert isinstance(sd['state_dict_config'], FullStateDictConfig)
    # torch's offload_to_cpu crashes when the parameters are on the CPU
    assert sd['state_dict_config'].offload_to_cpu is False
    assert sd['state_dict_config'].rank0_only is True
    ddp = apply_strategy(tiny(), 'ddp')
    assert ddp.strategy == dict(type='DDPStrategy')


def test_cli_keeps_the_config_strategy_and_overrides():
    path = next(p for p in FSDP_CONFIGS if 'internimage-xl' in p)
    cfg = load_config(str(ROOT / path), {'strategy.state_dict_cfg':
                                         'sharded'}, '/tmp/unused', 'pytorch')
    apply_strategy(cfg, 'fsdp')
    assert cfg.strategy.model_wrapper.auto_wrap_policy.type == \
        'wrap_module_classes'
    assert cfg.strategy.model_wrapper.mixed_precision.param_dtype == \
        'bfloat16'
    sd = cfg.strategy.state_dict_cfg
    assert StateDictType[sd['state_dict_type']] is \
        StateDictType.SHARDED_STATE_DICT
    assert isinstance(sd['state_dict_config'], ShardedStateDictConfig)
    # an override without a type applies on top of --strategy's default
    cfg = apply_strategy(tiny(**{'strategy.state_dict_cfg': 'sharded'}),
                         'fsdp')
    assert cfg.strategy.type == 'FSDPStrategy'
    assert cfg.strategy.state_dict_cfg['state_dict_type'] == \
        'SHARDED_STATE_DICT'


@pytest.mark.parametrize('options,name,message', [
    ({}, 'zero', "--strategy 'zero': expected one of"),
    ({'strategy.state_dict_cfg': 'local'}, 'fsdp',
     "strategy.state_dict_cfg='local'; expected 'full'"),
    ({'strategy.model_wrapper.use_orig_params': False}, 'fsdp',
     'use_orig_params=False'),
    ({'strategy.type': 'FSDPStrategy',
      'strategy.model_wrapper.auto_wrap_policy': dict(
          type='wrap_module_classes', classes=['projects.x.Nope'])},
     'fsdp', "can not import 'projects.x.Nope'"),
    ({'strategy.type': 'FSDPStrategy'}, None,
     "needs runner_type='FlexibleRunner'"),
])
def test_bad_strategy_settings_name_key_and_value(options, name, message):
    with pytest.raises(ValueError) as err:
        apply_strategy(tiny(**options), name, source='tiny.py')
    assert message in str(err.value)
    assert 'tiny.py' in str(err.value) or name == 'zero'


def test_deepspeed_without_the_package_names_it():
    if importlib.util.find_spec('deepspeed') is not None:
        cfg = apply_strategy(tiny(), 'deepspeed')
        assert cfg.optim_wrapper.type == 'DeepSpeedOptimWrapper'
        return
    with pytest.raises(RuntimeError, match='needs the deepspeed package'):
        apply_strategy(tiny(), 'deepspeed', source='tiny.py')


def test_train_tool_refuses_a_sharded_run_without_launcher(tmp_path):
    out = subprocess.run(
        [sys.executable, str(ROOT / 'tools/train.py'), str(TINY),
         '--strategy', 'fsdp', '--work-dir', str(tmp_path)],
        capture_output=True, text=True, timeout=120)
    assert out.returncode == 2
    assert 'strategy FSDPStrategy runs one process per device' in out.stderr
    assert 'tools/dist_train.sh' in out.stderr
    assert not list(tmp_path.iterdir())  # nothing was started


@pytest.mark.parametrize('path', sorted(FSDP_CONFIGS))
def test_zoo_fsdp_configs_wrap_one_unit_per_block(path):
    from mmengine.registry import MODELS, init_default_scope
    cfg = apply_strategy(load_config(str(ROOT / path), None, '/tmp/unused',
                                     'pytorch'), None, source=path)
    assert cfg.runner_type == 'FlexibleRunner'
    policy = cfg.strategy.model_wrapper.auto_wrap_policy
    init_default_scope(cfg.get('default_scope'))
    with torch.device('meta'):
        model = MODELS.build(cfg.model)
    units = [m for m in model.modules() if wrap_module_classes(
        m, False, 0, classes=policy.classes)]
    name, count = FSDP_CONFIGS[path]
    assert len(units) == count
    assert any(type(u).__name__ == name for u in units)
    assert wrap_module_classes(model, True, 0, classes=policy.classes)
    assert not wrap_module_classes(model, False, 0, classes=policy.classes)
    # the config is the non-FSDP one plus the strategy: same model
    assert cfg.optim_wrapper.type == 'AmpOptimWrapper'
    assert cfg.optim_wrapper.dtype == 'bfloat16'


def test_wrap_policy_refuses_non_modules():
    with pytest.raises(ImportError, match='is not an nn.Module class'):
        resolve_classes(('torch.Tensor', ))


def record(offsets, tensor, shape):
    return {'__fsdp_shard__': True, 'shape': shape,
            'shards': [[offsets, tensor]] if tensor is not None else []}


def test_consolidate_shards_places_chunks_and_checks_coverage():
    w = torch.arange(12.).reshape(4, 3)
    ranks = [{'w': record([0, 0], w[:3], [4, 3]), 'b': torch.ones(2)},
             {'w': record([3, 0], w[3:], [4, 3]), 'b': torch.zeros(2)}]
    full = consolidate_shards(ranks, ['r0', 'r1'])
    assert torch.equal(full['w'], w)
    assert torch.equal(full['b'], torch.ones(2))  # replicated: rank 0's
    ranks[1]['w'] = record([0, 0], w[:3], [4, 3])
    with pytest.raises(ValueError, match=r'cover 9 of its 12 elements \(9 '
                       r'more than once\)'):
        consolidate_shards(ranks, ['r0', 'r1'])
    ranks[1]['w'] = record([3, 0], w[:3], [4, 3])
    with pytest.raises(ValueError, match='r1: shard of w at'):
        consolidate_shards(ranks, ['r0', 'r1'])
    with pytest.raises(ValueError, match='r1 holds other keys than r0'):
        consolidate_shards([ranks[0], {'w': ranks[0]['w']}], ['r0', 'r1'])


def test_fsdp_config_is_a_text_config():
    """The strategy settings survive a dump and reload (work-dir config)."""
    path = ROOT / next(iter(sorted(FSDP_CONFIGS)))
    cfg = Config.fromfile(str(path))
    again = Config.fromstring(cfg.pretty_text, '.py')
    assert again.strategy.to_dict() == cfg.strategy.to_dict()


def test_fsdp_config_without_launcher_evaluates_with_the_plain_runner(
        tmp_path):
    """tools/test.py CONFIG CKPT (no launcher) on an FSDP config: mmengine's
    Runner with the built model, which the full checkpoints load into."""
    from mmengine.runner import FlexibleRunner, Runner
    cfg = apply_strategy(tiny(), 'fsdp')
    cfg.launcher = 'none'
    cfg.work_dir = str(tmp_path)
    runner = build_runner(cfg)
    assert type(runner) is Runner and not isinstance(runner, FlexibleRunner)
    assert isinstance(runner.model, torch.nn.Module)


def test_fsdp_config_under_a_launcher_evaluates_with_ddp(tmp_path):
    """tools/dist_test.sh on an FSDP config: ``build_runner(evaluate=True)``
    gives mmengine's Runner, which wraps the built model in DDP (a
    one-process gloo group in a child process)."""
    sys.path.insert(0, str(ROOT / 'tests/distributed'))
    from ddp_harness import free_port, launch_env
    code = f'''
import torch
from mmengine.model import MMDistributedDataParallel
from mmengine.runner import FlexibleRunner, Runner
from projects.run_config import apply_strategy, build_runner, load_config
cfg = apply_strategy(load_config({str(TINY)!r}, None, {str(tmp_path)!r},
                                 'pytorch'), 'fsdp')
cfg.env_cfg.dist_cfg = dict(backend='gloo')
runner = build_runner(cfg, evaluate=True)
assert type(runner) is Runner, type(runner)
assert isinstance(runner.model, MMDistributedDataParallel), type(runner.model)
print('evaluates with', type(runner.model).__name__)
'''
    env = launch_env(RANK='0', LOCAL_RANK='0', WORLD_SIZE='1',
                     MASTER_ADDR='127.0.0.1', MASTER_PORT=str(free_port()))
    out = subprocess.run([sys.executable, '-c', code], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    assert 'evaluates with MMDistributedDataParallel' in out.stdout
