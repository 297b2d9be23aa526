"""Key mapping between official De-focus checkpoints and VisionPlug models.

Official classification checkpoints (``ckpt['model']`` / ``['model_ema']``)
hold the backbone keys at the top level plus ``head.*`` and ``head2.*``;
detection checkpoints rename ``patch_embed.proj`` to
``patch_embed.projection`` and prefix ``backbone.``. VisionPlug's layout is an
mmpretrain ``ImageClassifier`` with :class:`DefocusMamba` and
:class:`DefocusClsHead`: ``backbone.<official name>``, ``head.head.*``,
``head.head2.*`` (``init_cfg=dict(type='Pretrained', prefix='backbone.')``
loads the backbone part into detection and segmentation models).
"""
import re

_BACKBONE = re.compile(
    r'^(?:backbone\.)?('
    r'cls_token|norm\.(?:weight|bias)|'
    r'blocks\.\d+\.(?:norm\.weight|mixer\.(?:in_proj\.weight|'
    r'conv1d\.(?:weight|bias)|x_proj\.weight|dt_proj\.(?:weight|bias)|'
    r'A_log|D|out_proj\.weight|freq)))$')
_PATCH = re.compile(r'^(?:backbone\.)?patch_embed\.(?:proj|projection)\.'
                    r'(weight|bias)$')
_HEAD = re.compile(r'^(head2?)\.((?:\d+\.)?(?:weight|bias))$')
# parts of official detection checkpoints that have no VisionPlug match
_DET_ONLY = re.compile(r'^(neck|bbox_head|decoder|encoder|query_embedding|'
                       r'level_embed|memory_trans_|dn_query_generator|'
                       r'data_preprocessor)')


def convert_official(state_dict, backbone_only=False):
    """Official keys -> VisionPlug classifier keys.

    Args:
        state_dict (dict[str, Tensor]): An official classification or
            detection state dict.
        backbone_only (bool): Drop the heads (classification ``head*`` and
            the detection neck / heads) instead of converting or refusing.

    Returns:
        tuple[dict, list[str]]: The converted state dict and the dropped
        official keys.

    Raises:
        ValueError: Keys that match no known official name (listed), or
            detection-head keys without ``backbone_only``.
    """
    out, dropped, unknown = {}, [], []
    for key, value in state_dict.items():
        m = _PATCH.match(key)
        if m:
            out[f'backbone.patch_embed.proj.{m.group(1)}'] = value
            continue
        m = _BACKBONE.match(key)
        if m:
            out[f'backbone.{m.group(1)}'] = value
            continue
        m = _HEAD.match(key)
        if m:
            if backbone_only:
                dropped.append(key)
            else:
                out[f'head.{m.group(1)}.{m.group(2)}'] = value
            continue
        if backbone_only and _DET_ONLY.match(key):
            dropped.append(key)
            continue
        unknown.append(key)
    if unknown:
        hint = ('' if backbone_only else
                ' (detection neck/head keys need backbone_only=True)')
        raise ValueError(f'convert_official: {len(unknown)} keys match no '
                         f'official De-focus name{hint}: {unknown[:10]}')
    return out, dropped


def convert_to_official(state_dict):
    """VisionPlug classifier keys -> official classification keys."""
    out, unknown = {}, []
    for key, value in state_dict.items():
        if key.startswith('backbone.'):
            out[key[len('backbone.'):]] = value
        elif key.startswith('head.head'):
            out[key[len('head.'):]] = value
        else:
            unknown.append(key)
    if unknown:
        raise ValueError(f'convert_to_official: unexpected keys {unknown[:10]}')
    return out


def unwrap_checkpoint(ckpt, key=None):
    """The state dict inside an official checkpoint file's content.

    ``key`` picks ``'model'``, ``'model_ema'`` or ``'state_dict'``; by
    default the first of ``model``, ``state_dict`` present, else ``ckpt``
    itself when it maps names to tensors.
    """
    if key is not None:
        if key not in ckpt:
            raise KeyError(f'checkpoint has no {key!r}; top-level keys: '
                           f'{sorted(ckpt)[:10]}')
        return ckpt[key]
    for name in ('model', 'state_dict'):
        if isinstance(ckpt.get(name), dict):
            return ckpt[name]
    if ckpt and all(hasattr(v, 'shape') for v in ckpt.values()):
        return ckpt
    raise KeyError(f'no state dict found; top-level keys: {sorted(ckpt)[:10]}')
