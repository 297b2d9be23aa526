"""Load a zoo config and build its model cheaply (meta device first)."""
import contextlib
import copy

import torch
from mmengine.config import Config
from mmengine.registry import MODELS, DefaultScope

import projects  # noqa: F401  (stack fixes before any config is read)


def count_params(model):
    return sum(p.numel() for p in model.parameters())


def build_model(model_cfg, scope, device='meta'):
    """``MODELS.build(model_cfg)`` with ``scope`` as default scope, with the
    parameters created on ``device``. ``model_cfg`` is not modified (some
    detectors write into their head's config while they are built)."""
    with DefaultScope.overwrite_default_scope(scope):
        with torch.device(device):
            return MODELS.build(copy.deepcopy(model_cfg))


@contextlib.contextmanager
def parameters_on_meta():
    """Create tensors on the CPU as usual but move every parameter to the
    meta device when it is registered: modules that compute with tensors in
    ``__init__`` (``linspace(...).item()``, tables of values) build, while
    the weights take no memory."""
    original = torch.nn.Module.register_parameter

    def register(self, name, param):
        if param is not None and param.device.type != 'meta':
            param = torch.nn.Parameter(param.to('meta'),
                                       requires_grad=param.requires_grad)
        return original(self, name, param)

    torch.nn.Module.register_parameter = register
    try:
        yield
    finally:
        torch.nn.Module.register_parameter = original


def build_model_without_weights(model_cfg, scope):
    """``(model, how)``: built on the meta device, or else with only its
    parameters on the meta device (see :func:`parameters_on_meta`)."""
    try:
        return build_model(model_cfg, scope, 'meta'), 'meta'
    except Exception:
        with parameters_on_meta():
            return build_model(model_cfg, scope, 'cpu'), 'meta parameters'


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
        return build_model_without_weights(cfg.model, scope)
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
