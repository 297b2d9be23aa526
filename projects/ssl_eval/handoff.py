"""Hand a pre-trained backbone to mmdet / mmseg / mmpretrain configs.

An SSL checkpoint holds the online backbone under ``backbone.`` next to the
projector, predictor, momentum copy (``target_net.module.0.``), teachers,
queues ...  :func:`extract_backbone` keeps only the backbone, written under
``out_prefix`` (default ``backbone.``), which is what downstream configs
load with::

    model = dict(backbone=dict(init_cfg=dict(
        type='Pretrained', checkpoint='backbone.pth', prefix='backbone.')))

:func:`backbone_key_report` compares the weights with the backbone that a
target config builds (missing / unexpected keys, shape mismatches).
"""
from collections import OrderedDict
from typing import Dict, Iterable, Optional, Sequence

import torch

# where known checkpoint layouts keep their backbone, tried in order
SOURCE_PREFIXES = (
    'backbone.',  # mmpretrain / mmselfsup / mmdet / mmseg models
    'module.backbone.',  # DDP-wrapped
    'target_net.module.0.',  # mmpretrain momentum encoder (CosineEMA)
    'module.encoder_q.',  # official MoCo
    'encoder_q.',
    'module.encoder.',  # official SimSiam / Barlow Twins
    'encoder.',
    'module.',
    '',
)


def load_state_dict(path: str) -> Dict[str, torch.Tensor]:
    """The state dict of a local checkpoint (weights-only loading with the
    allow-list of ``projects.stack_compat``); ``state_dict``/``model``
    wrappers are unpacked."""
    import projects  # noqa: F401  (weights-only loading policy)
    from mmengine.runner.checkpoint import _load_checkpoint
    ckpt = _load_checkpoint(path, map_location='cpu')
    if isinstance(ckpt, dict):
        for key in ('state_dict', 'model'):
            if isinstance(ckpt.get(key), dict):
                return ckpt[key]
    if not isinstance(ckpt, dict):
        raise ValueError(f'{path}: not a state dict checkpoint')
    return ckpt


def detect_prefix(keys: Iterable[str],
                  candidates: Sequence[str] = SOURCE_PREFIXES) -> str:
    """The first of ``candidates`` that some key starts with."""
    keys = list(keys)
    for prefix in candidates:
        if any(k.startswith(prefix) for k in keys):
            return prefix
    tops = sorted({k.split('.')[0] for k in keys})
    raise KeyError(f'no backbone prefix found; the checkpoint has top-level '
                   f'keys {tops[:20]}')


def extract_backbone(state_dict: Dict[str, torch.Tensor],
                     src_prefix: Optional[str] = None,
                     out_prefix: str = 'backbone.'
                     ) -> 'OrderedDict[str, torch.Tensor]':
    """Backbone weights of ``state_dict`` re-keyed from ``src_prefix``
    (auto-detected from :data:`SOURCE_PREFIXES` when None; use
    ``'target_net.module.0.'`` for the momentum encoder) to
    ``out_prefix``."""
    if src_prefix is None:
        src_prefix = detect_prefix(state_dict)
    out = OrderedDict()
    for key, value in state_dict.items():
        if key.startswith(src_prefix):
            out[out_prefix + key[len(src_prefix):]] = value
    if not out:
        raise KeyError(f'no key starts with {src_prefix!r} (top-level keys: '
                       f'{sorted({k.split(".")[0] for k in state_dict})})')
    return out


def strip_prefix(state_dict, prefix):
    """The entries under ``prefix`` without it (what ``init_cfg=Pretrained
    (prefix=...)`` loads)."""
    return OrderedDict((k[len(prefix):], v) for k, v in state_dict.items()
                       if k.startswith(prefix))


def backbone_key_report(weights: Dict[str, torch.Tensor],
                        backbone: torch.nn.Module) -> dict:
    """Compare backbone ``weights`` (keys without prefix) with a module.

    Returns:
        dict: ``missing`` (module keys without a weight), ``unexpected``
        (weights the module has no place for), ``shape_mismatch``
        (``(key, weight shape, module shape)``) and ``matched`` (count).
    """
    target = backbone.state_dict()
    missing = sorted(k for k in target if k not in weights)
    unexpected = sorted(k for k in weights if k not in target)
    mismatch = sorted((k, tuple(weights[k].shape), tuple(target[k].shape))
                      for k in target if k in weights
                      and tuple(weights[k].shape) != tuple(target[k].shape))
    matched = sum(1 for k in target if k in weights) - len(mismatch)
    return dict(missing=missing, unexpected=unexpected,
                shape_mismatch=mismatch, matched=matched)


def build_config_backbone(config: str, cfg_options: Optional[dict] = None):
    """Build ``model.backbone`` of a (mmdet / mmseg / mmpretrain / ours)
    config in the config's default scope, without loading its init
    weights. Returns ``(backbone module, config)``."""
    import projects  # noqa: F401
    from mmengine.config import Config
    from mmengine.registry import MODELS, DefaultScope
    cfg = Config.fromfile(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    model = cfg.get('model')
    if not isinstance(model, dict) or 'backbone' not in model:
        raise KeyError(f'{config}: has no model.backbone')
    bb = model['backbone'].copy()
    bb.pop('init_cfg', None)
    bb.pop('pretrained', None)
    scope = cfg.get('default_scope') or 'mmengine'
    with DefaultScope.overwrite_default_scope(scope):
        return MODELS.build(bb), cfg


def format_report(report: dict, title: str = '') -> str:
    lines = [f'{title}matched {report["matched"]}, missing '
             f'{len(report["missing"])}, unexpected '
             f'{len(report["unexpected"])}, shape mismatch '
             f'{len(report["shape_mismatch"])}']
    for name in ('missing', 'unexpected'):
        for key in report[name][:30]:
            lines.append(f'  {name}: {key}')
        if len(report[name]) > 30:
            lines.append(f'  ... {len(report[name]) - 30} more {name}')
    for key, a, b in report['shape_mismatch'][:30]:
        lines.append(f'  shape mismatch: {key}: checkpoint {a} vs model {b}')
    return '\n'.join(lines)
