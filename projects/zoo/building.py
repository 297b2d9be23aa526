"""Load a zoo config and build its model cheaply (meta device first)."""
import torch
from mmengine.config import Config
from mmengine.registry import MODELS, DefaultScope

import projects  # noqa: F401  (stack fixes before any config is read)


def count_params(model):
    return sum(p.numel() for p in model.parameters())


def build_model(model_cfg, scope, device='meta'):
    """``MODELS.build(model_cfg)`` with ``scope`` as default scope, with the
    parameters created on ``device``."""
    with DefaultScope.overwrite_default_scope(scope):
        with torch.device(device):
            return MODELS.build(model_cfg)


def _tag(err, stage):
    err.zoo_stage = stage
    return err


def build_entry_model(entry, build=True, cpu_max_params=60e6):
    """``(model, device)`` of a zoo entry; ``(None, reason)`` when it is only
    parsed. Exceptions carry ``zoo_stage`` = 'parse' or 'build'."""
    try:
        cfg = Config.fromfile(str(entry.config_path))
    except Exception as err:
        raise _tag(err, 'parse')
    if not build:
        return None, None
    scope = cfg.get('default_scope', 'mmengine')
    try:
        return build_model(cfg.model, scope, 'meta'), 'meta'
    except Exception as err:
        meta_err = err
    if not (entry.is_tiny or (entry.params or float('inf')) <=
            cpu_max_params):
        return None, (f'not built: the meta-device build failed '
                      f'({type(meta_err).__name__}: {meta_err}) and '
                      f'Parameters is above the CPU build limit')
    try:
        return build_model(cfg.model, scope, 'cpu'), 'cpu'
    except Exception as err:
        raise _tag(err, 'build')
