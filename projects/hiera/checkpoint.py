"""Key mapping between official / timm Hiera checkpoints and VisionPlug.

Layouts:

- ``official`` (facebookresearch/hiera, ``{'model_state': ...}``):
  ``pos_embed``, ``patch_embed.proj.*``, ``blocks.{i}.*``, ``norm.*``,
  ``head.projection.*``. MAE checkpoints use ``encoder_norm.*`` and add
  the decoder (``decoder_*``, ``mask_token``, ``multi_scale_fusion_heads.*``)
  which is dropped (and reported).
- ``timm``: the same, but ``head.norm.*`` and ``head.fc.*``. The abswin
  variants (``hiera_{small,base}_abswin_256``) add ``pos_embed_win``
  ([1, C, 8, 8]), store the global ``pos_embed`` as [1, C, H, W] and carry
  layer scales ``blocks.{i}.ls{1,2}.gamma``; early abswin files name the
  global embedding ``pos_embed_abs`` (renamed to ``pos_embed``, as timm's
  ``checkpoint_filter_fn`` does).
- ``visionplug`` (an mmpretrain ``ImageClassifier`` with ``HieraDense``):
  ``backbone.<timm names>``, ``backbone.fc_norm.*``, ``head.fc.*``.
"""
from collections import OrderedDict

from projects.stack_compat.checkpoint_policy import (
    UnsafeCheckpointError, load_checkpoint_file)

MAE_ONLY_PREFIXES = ('decoder_', 'mask_token', 'multi_scale_fusion_heads.')
_NORMS = {'official': 'norm.', 'timm': 'head.norm.'}
_HEADS = {'official': 'head.projection.', 'timm': 'head.fc.'}


def load_state_dict(path):
    """Tensors of a checkpoint file, loaded with ``weights_only=True``.

    Unwraps ``model_state`` / ``model`` / ``state_dict``. Never executes
    code stored in the file: a pickle with other objects is refused.
    """
    try:
        ckpt = load_checkpoint_file(path, map_location='cpu')
    except (FileNotFoundError, UnsafeCheckpointError) as err:
        raise ValueError(str(err)) from None
    for key in ('model_state', 'model', 'state_dict'):
        if isinstance(ckpt, dict) and isinstance(ckpt.get(key), dict):
            ckpt = ckpt[key]
            break
    if not isinstance(ckpt, dict):
        raise ValueError(f'{path}: no state dict found')
    return ckpt


def detect_layout(state_dict):
    if any(k.startswith('backbone.') for k in state_dict):
        return 'visionplug'
    if any(k.startswith(('head.fc.', 'head.norm.')) for k in state_dict):
        return 'timm'
    return 'official'


def hiera_to_visionplug(state_dict, backbone_only=False, layout=None):
    """Official / timm Hiera state dict -> VisionPlug layout.

    Returns ``(converted, dropped)``: every input key is either mapped or
    listed in ``dropped`` (MAE decoder keys; the classifier and final norm
    too when ``backbone_only``, for dense models). Unknown keys raise.
    """
    layout = layout or detect_layout(state_dict)
    if layout not in _NORMS:
        raise ValueError(f'unknown Hiera layout {layout!r}; expected '
                         f'{sorted(_NORMS)}')
    norms = (_NORMS[layout], 'encoder_norm.')
    out, dropped = OrderedDict(), []
    for key, value in state_dict.items():
        if key.startswith(MAE_ONLY_PREFIXES):
            dropped.append(key)
        elif key.startswith(norms):
            if backbone_only:
                dropped.append(key)
            else:
                name = key.split('.', 1)[1] if key.startswith(
                    ('norm.', 'encoder_norm.')) else key[len('head.norm.'):]
                out['backbone.fc_norm.' + name] = value
        elif key.startswith(_HEADS[layout]):
            if backbone_only:
                dropped.append(key)
            else:
                out['head.fc.' + key[len(_HEADS[layout]):]] = value
        elif key == 'pos_embed_abs':
            out['backbone.pos_embed'] = value
        elif key in ('pos_embed', 'pos_embed_win') or key.startswith(
                ('patch_embed.', 'blocks.')):
            out['backbone.' + key] = value
        else:
            raise KeyError(f'unexpected key {key!r} for a {layout} Hiera '
                           f'checkpoint')
    return out, dropped


def visionplug_to_hiera(state_dict, layout='official'):
    """Inverse of :func:`hiera_to_visionplug` (classifier checkpoints);
    an abswin global embedding comes back as ``pos_embed`` (timm's name)."""
    if layout not in _NORMS:
        raise ValueError(f'unknown Hiera layout {layout!r}')
    out = OrderedDict()
    for key, value in state_dict.items():
        if key.startswith('backbone.fc_norm.'):
            out[_NORMS[layout] + key[len('backbone.fc_norm.'):]] = value
        elif key.startswith('backbone.'):
            out[key[len('backbone.'):]] = value
        elif key.startswith('head.fc.'):
            out[_HEADS[layout] + key[len('head.fc.'):]] = value
        else:
            raise KeyError(f'unexpected key {key!r} in a VisionPlug Hiera '
                           f'checkpoint')
    return out
