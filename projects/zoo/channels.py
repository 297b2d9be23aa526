"""Output channels of a backbone config: a registered table, else a probe.

``backbone_channels(cfg, scope)`` returns one channel count per output
feature map. Types in :data:`CHANNEL_TABLE` are computed from their
arguments (no model is built); any other backbone is built on the meta
device (no memory, no compute) and run on a meta input, falling back to a
real CPU forward at ``input_size`` when an op has no meta kernel.
"""
import copy
import inspect

import torch
from mmengine.registry import MODELS, DefaultScope

CHANNEL_TABLE = {}


def register_channels(*type_names):
    """Decorator: ``fn(cfg, cls) -> list[int]`` for these backbone types."""
    def wrap(fn):
        for name in type_names:
            CHANNEL_TABLE[name] = fn
        return fn
    return wrap


def _default(cls, name, fallback):
    param = inspect.signature(cls).parameters.get(name)
    if param is None or param.default is inspect.Parameter.empty:
        return fallback
    return param.default


@register_channels('ResNet', 'ResNetV1c', 'ResNetV1d')
def _resnet_channels(cfg, cls):
    depth = cfg['depth']
    expansion = 1 if depth in (18, 34) else 4
    base = cfg.get('base_channels', _default(cls, 'base_channels', 64))
    out_indices = cfg.get('out_indices', _default(cls, 'out_indices',
                                                  (0, 1, 2, 3)))
    num_stages = cfg.get('num_stages', _default(cls, 'num_stages', 4))
    return [base * 2 ** i * expansion for i in out_indices
            if i < num_stages]


def resolve_backbone_class(type_name, scope):
    """The class registered as ``type_name`` seen from ``scope``."""
    with DefaultScope.overwrite_default_scope(scope):
        with MODELS.switch_scope_and_registry(scope) as registry:
            return registry.get(type_name)


def _outputs_channels(out):
    if isinstance(out, torch.Tensor):
        out = [out]
    if isinstance(out, dict):
        out = list(out.values())
    chans = []
    for x in out:
        if isinstance(x, (list, tuple)):  # e.g. ViT (patch, cls) pairs
            x = x[0]
        if not isinstance(x, torch.Tensor) or x.dim() < 3:
            shape = tuple(x.shape) if isinstance(x, torch.Tensor) else \
                type(x).__name__
            raise ValueError(f'backbone output {len(chans)} is {shape}, not '
                             'a feature map (configure the backbone to '
                             'return feature maps, e.g. no global pooling)')
        chans.append(int(x.shape[1]))
    return chans


def probe_channels(cfg, scope, input_size=224):
    """Build the backbone and run it once; channels of each output."""
    cfg = copy.deepcopy(dict(cfg))
    cfg.pop('init_cfg', None)
    cfg.pop('pretrained', None)
    from .building import parameters_on_meta
    errors = []
    for device in ('meta', 'meta parameters', 'cpu'):
        try:
            with DefaultScope.overwrite_default_scope(scope):
                if device == 'meta parameters':
                    with parameters_on_meta():
                        model = MODELS.build(copy.deepcopy(cfg))
                    model.to('meta')  # buffers too
                else:
                    with torch.device(device):
                        model = MODELS.build(copy.deepcopy(cfg))
                model.eval()
                with torch.no_grad():
                    out = model(torch.zeros(
                        1, 3, input_size, input_size,
                        device='cpu' if device == 'cpu' else 'meta'))
            return _outputs_channels(out)
        except Exception as err:  # try the next device
            errors.append(f'{device}: {type(err).__name__}: {err}')
    raise RuntimeError(f'could not probe the output channels of '
                       f'{cfg.get("type")!r}: ' + '; '.join(errors))


def backbone_channels(cfg, scope, input_size=224):
    """Output channels of backbone config ``cfg`` built in ``scope``."""
    scope = cfg.get('_scope_', scope)
    type_name = cfg['type']
    bare = type_name.rpartition('.')[2] if isinstance(type_name, str) \
        else type_name.__name__
    if bare in CHANNEL_TABLE:
        cls = resolve_backbone_class(type_name, scope)
        if cls is not None:
            return CHANNEL_TABLE[bare](cfg, cls)
    return probe_channels(cfg, scope, input_size)
