"""``--strategy ddp|fsdp|deepspeed`` and the config's ``strategy``: mmengine's
``FlexibleRunner`` with its ``DDPStrategy``, ``FSDPStrategy`` (ours, see
``projects.run_config.fsdp``) or ``DeepSpeedStrategy``."""
import copy
import importlib.util

import torch

STRATEGIES = {'ddp': 'DDPStrategy', 'fsdp': 'FSDPStrategy',
              'deepspeed': 'DeepSpeedStrategy'}
DISTRIBUTED = set(STRATEGIES.values())

# --strategy fsdp on a config without its own FSDP settings: every module of
# at least 10M parameters that is not yet wrapped becomes one FSDP unit.
DEFAULT_FSDP = dict(
    type='FSDPStrategy',
    model_wrapper=dict(auto_wrap_policy=dict(
        type='size_based_auto_wrap_policy', min_num_params=int(1e7))),
    state_dict_cfg='full')
DEFAULT_DEEPSPEED = dict(type='DeepSpeedStrategy',
                         zero_optimization=dict(stage=2))


def full_state_dict_cfg(offload_to_cpu):
    """The whole model on rank 0: a plain mmengine checkpoint."""
    return dict(
        state_dict_type='FULL_STATE_DICT',
        state_dict_config=dict(type='FullStateDictConfig', rank0_only=True,
                               offload_to_cpu=offload_to_cpu),
        optim_state_dict_config=dict(type='FullOptimStateDictConfig',
                                     rank0_only=True,
                                     offload_to_cpu=offload_to_cpu))


def sharded_state_dict_cfg(offload_to_cpu):
    """One file per rank (``<name>.pth/rank{i}.pth``) holding its shards."""
    return dict(
        state_dict_type='SHARDED_STATE_DICT',
        state_dict_config=dict(type='ShardedStateDictConfig',
                               offload_to_cpu=offload_to_cpu),
        optim_state_dict_config=dict(type='ShardedOptimStateDictConfig',
                                     offload_to_cpu=offload_to_cpu))


def _state_dict_cfg(value, source):
    cuda = torch.cuda.is_available()
    if value is None or value == 'full':
        value = full_state_dict_cfg(cuda)
    elif value == 'sharded':
        value = sharded_state_dict_cfg(cuda)
    kind = value.get('state_dict_type') if isinstance(value, dict) else value
    if kind not in ('FULL_STATE_DICT', 'SHARDED_STATE_DICT'):
        raise ValueError(
            f'{source}: strategy.state_dict_cfg={value!r}; expected '
            "'full' (one plain checkpoint), 'sharded' (one file per rank, "
            'merged by tools/model_converters/consolidate_fsdp.py) or a dict '
            "with state_dict_type 'FULL_STATE_DICT' or 'SHARDED_STATE_DICT' "
            "(mmengine's 'local' flat shards can not be loaded into an "
            'unsharded model)')
    from mmengine._strategy.fsdp import FSDP_CONFIGS
    value = dict(value)
    for part in ('state_dict_config', 'optim_state_dict_config'):
        if isinstance(value.get(part), dict):
            part_cfg = dict(value[part])
            if not cuda:
                # torch's offload_to_cpu frees the tensors it returns when
                # the parameters already live on the CPU (a crash)
                part_cfg['offload_to_cpu'] = False
            # built here: torch's config classes are in no root registry
            value[part] = FSDP_CONFIGS.get(part_cfg.pop('type'))(**part_cfg)
    return value


def apply_strategy(cfg, name=None, source='config'):
    """Fill ``cfg`` for ``--strategy name`` (None: the config's own
    ``strategy``, if any) and check it, in place.

    The config's strategy settings are kept when it already selects the
    same strategy (and ``strategy.k=v`` overrides without a type apply on
    top of the default); ``--strategy fsdp`` otherwise wraps every module of
    at least 10M parameters (:data:`DEFAULT_FSDP`). On CPU-only machines FSDP
    keeps its parameters on the CPU (``device_id='cpu'``).

    Raises:
        ValueError: an unknown strategy name or state dict setting, or a
            distributed strategy without a launcher.
        RuntimeError: DeepSpeed is selected but not installed.
    """
    if name is not None:
        if name not in STRATEGIES:
            raise ValueError(f'--strategy {name!r}: expected one of '
                             f'{sorted(STRATEGIES)}')
        current = cfg.get('strategy') or {}
        if current.get('type') != STRATEGIES[name]:
            merged = copy.deepcopy({
                'fsdp': DEFAULT_FSDP, 'deepspeed': DEFAULT_DEEPSPEED
            }.get(name, dict(type=STRATEGIES[name])))
            if current.get('type') is None:  # --cfg-options strategy.k=v
                merged.update(current)
            cfg.strategy = merged
        cfg.runner_type = 'FlexibleRunner'
    strategy = cfg.get('strategy')
    if not strategy:
        return cfg
    kind = strategy.get('type')
    if cfg.get('runner_type') != 'FlexibleRunner':
        raise ValueError(f"{source}: strategy={kind!r} needs "
                         "runner_type='FlexibleRunner' (mmengine's Runner "
                         'ignores strategy)')
    if kind in DISTRIBUTED and cfg.get('launcher', 'none') == 'none':
        raise ValueError(
            f'{source}: strategy {kind} runs one process per device: launch '
            'with tools/dist_train.sh (torchrun, --launcher pytorch), also '
            'for a single process')
    if kind == 'DeepSpeedStrategy':
        if importlib.util.find_spec('deepspeed') is None:
            raise RuntimeError(
                f'{source}: strategy DeepSpeedStrategy needs the deepspeed '
                'package, which is not installed (pip install deepspeed; it '
                'builds its ops for CUDA)')
        if cfg.get('optim_wrapper', {}).get('type') in (None, 'OptimWrapper'):
            cfg.optim_wrapper.type = 'DeepSpeedOptimWrapper'
    if kind == 'FSDPStrategy':
        from .fsdp import resolve_classes
        strategy.state_dict_cfg = _state_dict_cfg(
            strategy.get('state_dict_cfg'), source)
        wrapper = strategy.get('model_wrapper') or {}
        if wrapper.get('use_orig_params') is False:
            raise ValueError(
                f'{source}: strategy.model_wrapper.use_orig_params=False; '
                'VisionPlug needs True (param-wise optimizer rules and '
                'checkpoints use the original parameter names)')
        policy = wrapper.get('auto_wrap_policy')
        if isinstance(policy, dict) and policy.get(
                'type') == 'wrap_module_classes':
            try:
                resolve_classes(tuple(policy.get('classes', ())))
            except ImportError as err:
                raise ValueError(f'{source}: strategy.model_wrapper.{err}')
        if not torch.cuda.is_available():
            wrapper.setdefault('device_id', 'cpu')
        strategy.model_wrapper = wrapper
    return cfg
