"""Key mapping between official Conformer checkpoints and VisionPlug.

Official layout (pengzhiliang/Conformer ``conformer.py``; the mmdetection
fork's ``backbone.*`` is the same under that prefix): CNN branch
(``conv1``, ``bn1``, ``conv_1``, ``conv_trans_{i}.{cnn_block,fusion_block,
squeeze_block,expand_block}``) as in mmpretrain, transformer blocks
``trans_1`` / ``conv_trans_{i}.trans_block`` with ``norm1``, ``attn.qkv``,
``attn.proj``, ``norm2``, ``mlp.fc1``, ``mlp.fc2`` (mmpretrain: ``ln1``,
``attn.*``, ``ln2``, ``ffn.layers.0.0``, ``ffn.layers.1``), the heads
``trans_norm``, ``conv_cls_head``, ``trans_cls_head``.

VisionPlug layout: an mmpretrain ``ImageClassifier`` with ``ConformerDense``
(``backbone.*``) and ``ConformerHead`` (``head.conv_cls_head``,
``head.trans_cls_head``).
"""
import re
from collections import OrderedDict

from projects.stack_compat.checkpoint_policy import (
    UnsafeCheckpointError, load_checkpoint_file)

_TRANS = [('.norm1.', '.ln1.'), ('.norm2.', '.ln2.'),
          ('.mlp.fc1.', '.ffn.layers.0.0.'), ('.mlp.fc2.', '.ffn.layers.1.')]
_TRANS_KEY = re.compile(r'^(trans_1|conv_trans_\d+\.trans_block)\.')
_HEADS = ('conv_cls_head.', 'trans_cls_head.')
_BACKBONE = re.compile(
    r'^(cls_token$|conv1\.|bn1\.|conv_1\.|trans_patch_conv\.|trans_1\.|'
    r'conv_trans_\d+\.|trans_norm\.)')


def load_state_dict(path):
    """Tensors of a checkpoint file, loaded weights-only (``stack_compat``)."""
    try:
        ckpt = load_checkpoint_file(path, map_location='cpu')
    except (FileNotFoundError, UnsafeCheckpointError) as err:
        raise ValueError(str(err)) from None
    for key in ('model', 'state_dict', 'model_state'):
        if isinstance(ckpt, dict) and isinstance(ckpt.get(key), dict):
            ckpt = ckpt[key]
            break
    if not isinstance(ckpt, dict):
        raise ValueError(f'{path}: no state dict found')
    return ckpt


def _rename(key, pairs):
    body = key
    for old, new in pairs:
        body = body.replace(old, new)
    return body


def conformer_to_visionplug(state_dict, backbone_only=False):
    """Official Conformer (classification or ``backbone.``-prefixed
    detection) state dict -> VisionPlug. Returns ``(converted, dropped)``;
    unknown keys raise."""
    out, dropped = OrderedDict(), []
    for key, value in state_dict.items():
        name = key[len('backbone.'):] if key.startswith('backbone.') else key
        if name.startswith(_HEADS):
            if backbone_only:
                dropped.append(key)
            else:
                out['head.' + name] = value
            continue
        if not _BACKBONE.match(name):
            raise KeyError(f'unexpected key {key!r} for an official '
                           f'Conformer checkpoint')
        if _TRANS_KEY.match(name):
            name = _rename('.' + name, _TRANS)[1:]
        out['backbone.' + name] = value
    return out, dropped


def visionplug_to_conformer(state_dict):
    """Inverse of :func:`conformer_to_visionplug` (official layout)."""
    inverse = [(new, old) for old, new in _TRANS]
    out = OrderedDict()
    for key, value in state_dict.items():
        if key.startswith('head.'):
            out[key[len('head.'):]] = value
        elif key.startswith('backbone.'):
            name = key[len('backbone.'):]
            if _TRANS_KEY.match(name):
                name = _rename('.' + name, inverse)[1:]
            out[name] = value
        else:
            raise KeyError(f'unexpected key {key!r}')
    return out
