"""Layer-wise learning-rate decay for InternImage (the official det/seg/BEV
recipe, ``CustomLayerDecayOptimizerConstructor`` of OpenGVLab/InternImage).

With ``D = sum(depths)`` the backbone has ``D + 2`` layer ids:

- ``0``: the stem (``patch_embed``); also any parameter whose name contains
  ``level_embeds`` (e.g. BEVFormer's transformer) and mmseg Mask2Former's
  ``decode_head.{mask_embed,cls_embed,level_embed,query_embed,query_feat}``
  (official special cases: embeddings train at the smallest lr);
- ``1 + sum(depths[:s]) + j``: block ``j`` of level ``s``
  (``levels.{s}.blocks.{j}``; also ``levels.{s}.post_norms.{j}``, as the
  official rule reads any ``levels.{s}.<name>.{j}``);
- ``1 + sum(depths[:min(s + 1, L - 1)])``: level ``s``'s ``downsample`` and
  ``norm`` (the last level shares level ``L - 2``'s id);
- ``D + 1``: everything else (neck, heads).

Group lr: ``base_lr * layer_decay_rate ** (D + 1 - layer_id)``, so the heads
train at the base lr. Weight decay is 0 for 1-D parameters, biases and any
name containing ``norm``, ``relative_position`` or ``sampling_offsets``.
Optional official switches: ``offset_lr_scale`` multiplies the lr of names
containing ``sampling_offsets`` or ``reference_points``; ``dino_head`` gives
those 0.1x when they have the top id; ``backbone_small_lr`` multiplies every
decayed (scale < 1) lr by 0.1.
"""
import difflib
import re

from mmengine.logging import MMLogger
from mmengine.optim import DefaultOptimWrapperConstructor
from mmengine.registry import OPTIM_WRAPPER_CONSTRUCTORS

from .internimage import InternImage

_MASK2FORMER_EMBEDS = tuple(
    f'decode_head.{k}' for k in ('mask_embed', 'cls_embed', 'level_embed',
                                 'query_embed', 'query_feat'))
_KEYS = ('layer_decay_rate', 'num_layers', 'depths', 'offset_lr_scale',
         'dino_head', 'backbone_small_lr', 'backbone')


def internimage_layer_id(name, depths, prefix='backbone.'):
    """Layer id of parameter ``name`` (see the module docstring)."""
    depths = list(depths)
    if (name.startswith(prefix + 'patch_embed.') or 'level_embeds' in name
            or name.startswith(_MASK2FORMER_EMBEDS)):
        return 0
    m = re.match(re.escape(prefix) + r'levels\.(\d+)\.([^.]+)(?:\.(\d+))?\.',
                 name)
    if m is None:
        return sum(depths) + 1
    level, part = int(m.group(1)), m.group(2)
    if part in ('downsample', 'norm'):
        return 1 + sum(depths[:min(level + 1, len(depths) - 1)])
    if m.group(3) is None:
        raise ValueError(f'cannot assign a layer id to {name!r}: expected '
                         f'{prefix}levels.<i>.<blocks|downsample|norm>...')
    return 1 + sum(depths[:level]) + int(m.group(3))


def no_weight_decay(name, param):
    """The official rule: 1-D, biases, norms, relative positions, offsets."""
    return (param.ndim == 1 or name.endswith('.bias') or 'norm' in name
            or 'relative_position' in name or 'sampling_offsets' in name)


def _find_backbone(model, attr):
    names = [attr] if attr else ['backbone', 'img_backbone']
    for n in names:
        if isinstance(getattr(model, n, None), InternImage):
            return n, getattr(model, n)
    found = {n: type(getattr(model, n, None)).__name__ for n in names}
    raise TypeError(
        'InternImageLayerDecayOptimizerConstructor needs an InternImage '
        f'backbone at model.{" or model.".join(names)}; found {found} '
        '(set paramwise_cfg.backbone to the attribute name)')


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class InternImageLayerDecayOptimizerConstructor(DefaultOptimWrapperConstructor):
    """Official InternImage layer-wise lr decay as an mmengine constructor.

    ``optim_wrapper = dict(constructor='InternImageLayerDecayOptimizerConstructor',
    optimizer=dict(type='AdamW', lr=..., weight_decay=...),
    paramwise_cfg=dict(layer_decay_rate=0.96, num_layers=33,
    depths=[4, 4, 21, 4]))``. ``num_layers`` and ``depths`` are optional (read
    from the backbone) and, when given as in the official configs, checked
    against it; ``layer_decay_rate`` defaults to 1.0 (only the weight-decay
    rule applies). The backbone is ``model.backbone`` (mmdet/mmseg/mmpretrain)
    or ``model.img_backbone`` (BEVFormer v2), or ``paramwise_cfg.backbone``.
    mmengine's own paramwise options (``custom_keys``, ``*_decay_mult``) do
    not apply here and are rejected.
    """

    def __init__(self, optim_wrapper_cfg, paramwise_cfg=None):
        super().__init__(optim_wrapper_cfg, paramwise_cfg)
        unknown = sorted(set(self.paramwise_cfg) - set(_KEYS))
        if unknown:
            hints = {k: difflib.get_close_matches(k, _KEYS, n=1) for k in unknown}
            hint = '; '.join(f'{k!r} (did you mean {v[0]!r}?)' if v else repr(k)
                             for k, v in hints.items())
            raise KeyError(
                f'paramwise_cfg of InternImageLayerDecayOptimizerConstructor '
                f'has unknown keys: {hint}; allowed: {", ".join(_KEYS)}')
        if not self.paramwise_cfg:  # mmengine skips add_params when empty
            self.paramwise_cfg = dict(layer_decay_rate=1.0)
        rate = self.paramwise_cfg.get('layer_decay_rate', 1.0)
        if not 0 < float(rate) <= 1:
            raise ValueError(f'layer_decay_rate must be in (0, 1], got {rate}')

    def add_params(self, params, module, **kwargs):
        cfg = self.paramwise_cfg
        attr, backbone = _find_backbone(module, cfg.get('backbone'))
        depths = list(backbone.depths)
        if cfg.get('depths') is not None and list(cfg['depths']) != depths:
            raise ValueError(f'paramwise_cfg.depths {list(cfg["depths"])} != '
                             f'the backbone depths {depths}')
        if cfg.get('num_layers') is not None and cfg['num_layers'] != sum(depths):
            raise ValueError(f'paramwise_cfg.num_layers {cfg["num_layers"]} != '
                             f'sum of the backbone depths {sum(depths)}')
        rate = float(cfg.get('layer_decay_rate', 1.0))
        offset_scale = float(cfg.get('offset_lr_scale', 1.0))
        top = sum(depths) + 1
        groups = {}
        for name, param in module.named_parameters():
            if not param.requires_grad:
                continue
            no_decay = no_weight_decay(name, param)
            layer_id = internimage_layer_id(name, depths, attr + '.')
            scale = rate**(top - layer_id)
            if cfg.get('backbone_small_lr', False) and scale < 1:
                scale *= 0.1
            tag = ''
            if 'sampling_offsets' in name or 'reference_points' in name:
                if layer_id == top and cfg.get('dino_head', False):
                    tag, scale = '0.1x', scale * 0.1
                else:
                    tag, scale = 'offset', scale * offset_scale
            key = (layer_id, no_decay, tag)
            if key not in groups:
                groups[key] = dict(params=[], lr=self.base_lr * scale,
                                   lr_scale=scale)
                if no_decay:
                    groups[key]['weight_decay'] = 0.
                elif self.base_wd is not None:
                    groups[key]['weight_decay'] = self.base_wd
            groups[key]['params'].append(param)
        MMLogger.get_current_instance().debug(
            f'InternImage layer decay {rate}: {len(groups)} groups, ids 0..{top}')
        params.extend(groups[k] for k in sorted(groups))
