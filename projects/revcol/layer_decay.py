"""Layer-wise learning-rate decay for RevCol (official det/seg recipe).

A parameter's layer id is its block's depth index plus its column index plus
one (a Manhattan distance on the depth x column grid): blocks of level ``l``
start at depth ``sum(layers[:l])``, a level's fusion takes the id of its
first block, ``alpha`` takes depth 0 of its column, the stem has id 0 and
everything outside the backbone (neck, heads) the largest id + 1. The lr of
id ``i`` is scaled by ``decay_rate ** (num_layers - i - 1)`` with
``num_layers = depth + num_subnet + 1``, so the heads train at the base lr.
1-D parameters, biases and ``alpha`` get no weight decay (as the official
constructor).
"""
import re

from mmengine.logging import MMLogger
from mmengine.optim import DefaultOptimWrapperConstructor
from mmengine.registry import OPTIM_WRAPPER_CONSTRUCTORS

from .revcol import RevCol


def revcol_layer_id(name, layers, num_subnet, prefix='backbone.'):
    """Layer id of parameter ``name`` (see the module docstring)."""
    depth = sum(layers)
    if name.startswith(prefix + 'stem.'):
        return 0
    m = re.match(re.escape(prefix) +
                 r'subnet(\d+)\.(alpha\d|level(\d)\.(fusion|blocks)'
                 r'(?:\.(\d+))?)', name)
    if m is None:
        return depth + num_subnet
    col = int(m.group(1))
    if m.group(2).startswith('alpha'):
        return col + 1
    level = int(m.group(3))
    block = sum(layers[:level])
    if m.group(4) == 'blocks':
        block += min(int(m.group(5)), layers[level] - 1)
    return block + col + 1


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class RevColLayerDecayOptimizerConstructor(DefaultOptimWrapperConstructor):
    """``paramwise_cfg=dict(decay_rate=0.85)``; the model must have a
    ``backbone`` that is a :class:`RevCol` (its layers and number of columns
    are read from it)."""

    def add_params(self, params, module, **kwargs):
        backbone = getattr(module, 'backbone', None)
        if not isinstance(backbone, RevCol):
            raise TypeError(
                'RevColLayerDecayOptimizerConstructor needs model.backbone '
                f'to be RevCol, got {type(backbone).__name__}')
        decay_rate = float(self.paramwise_cfg.get('decay_rate', 1.0))
        layers, num_subnet = backbone.layers, backbone.num_subnet
        num_layers = sum(layers) + num_subnet + 1
        groups = {}
        for name, param in module.named_parameters():
            if not param.requires_grad:
                continue
            no_decay = (param.ndim == 1 or name.endswith('.bias')
                        or re.search(r'\.alpha\d$', name) is not None)
            layer_id = revcol_layer_id(name, layers, num_subnet)
            key = (layer_id, no_decay)
            if key not in groups:
                scale = decay_rate**(num_layers - layer_id - 1)
                groups[key] = dict(params=[], lr=self.base_lr * scale,
                                   weight_decay=0. if no_decay else
                                   self.base_wd)
            groups[key]['params'].append(param)
        MMLogger.get_current_instance().debug(
            f'RevCol layer decay {decay_rate}: {len(groups)} groups, '
            f'{num_layers} layers')
        params.extend(groups[k] for k in sorted(groups))
