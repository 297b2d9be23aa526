"""Load a config with command-line overrides, validate it, build the runner."""
import json
import os.path as osp

import torch
import yaml
from mmengine.config import Config
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

import projects  # noqa: F401  (stack fixes before any config is read)
from projects.training_guards import atomic_write


def load_config(path, cfg_options=None, work_dir=None, launcher='none'):
    """``Config.fromfile`` + ``--cfg-options`` + work_dir and launcher.

    Custom imports named by the config are imported by ``Config.fromfile``.
    YAML configs are data only (``yaml.SafeLoader``, see
    ``projects.stack_compat.checkpoint_policy``): a Python tag raises
    ``ValueError`` naming the config.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'config file {path} does not exist')
    try:
        cfg = Config.fromfile(path)
    except yaml.YAMLError as err:
        mark = getattr(err, 'problem_mark', None)
        raise ValueError(
            f'config {path}' + (f', line {mark.line + 1}' if mark else '')
            + f': {getattr(err, "problem", None) or err}; YAML configs are '
            'read as plain data (yaml.SafeLoader): no Python objects or '
            'code') from None
    cfg.launcher = launcher
    dist_cfg = cfg.get('env_cfg', {}).get('dist_cfg', {})
    if (launcher != 'none' and dist_cfg.get('backend') == 'nccl'
            and not torch.cuda.is_available()):
        dist_cfg['backend'] = 'gloo'  # NCCL needs GPUs; CPU runs use gloo
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(path))[0])
    return cfg


def build_runner(cfg, evaluate=False):
    """The config's runner (``runner_type`` if set, else mmengine's Runner).

    A config for sharded training (``FlexibleRunner`` with a distributed
    strategy) gets mmengine's Runner when run without a launcher, and for
    evaluation (``evaluate``: ``tools/test.py``, also under
    ``tools/dist_test.sh``, where the Runner wraps the model in DDP):
    evaluation needs no sharding, and the full checkpoints of such runs are
    plain state dicts (``tools/train.py`` refuses to train it without a
    launcher, see ``apply_strategy``).
    """
    from .strategy import DISTRIBUTED
    if (cfg.get('runner_type') == 'FlexibleRunner'
            and (evaluate or cfg.get('launcher', 'none') == 'none')
            and (cfg.get('strategy') or {}).get('type') in DISTRIBUTED):
        return Runner.from_cfg(cfg)
    if 'runner_type' in cfg:
        return RUNNERS.build(cfg)
    return Runner.from_cfg(cfg)


def write_json_atomic(path, data, indent=2):
    """Write ``data`` as JSON so that ``path`` is never left half-written
    (``indent=None``: compact, for large files such as detection results)."""
    atomic_write(path, json.dumps(data, indent=indent), mode='w')
