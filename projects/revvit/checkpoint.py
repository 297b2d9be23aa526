"""Key mapping between official RevViT (SlowFast) checkpoints and VisionPlug.

Official layout (facebookresearch/SlowFast, ``{'model_state': ...}``):
``patch_embed.proj.*``, ``pos_embed`` [1, N, D] (no class token),
``rev_backbone.layers.{i}.F.norm.*``, ``...F.attn.{q,k,v,proj}.*``,
``...G.norm.*``, ``...G.mlp.{fc1,fc2}.*``, ``norm.*`` (over 2 D),
``head.projection.*``.

VisionPlug layout (mmpretrain ``ImageClassifier`` + ``RevViT``):
``backbone.patch_embed.projection.*``, ``backbone.pos_embed``,
``backbone.layers.{i}.{ln1,attn.qkv,attn.proj,ln2,ffn.layers.0.0,
ffn.layers.1}.*``, ``backbone.ln1.*``, ``head.fc.*``. Separate q, k, v
are concatenated into ``qkv`` (and split back by the inverse).
"""
import re
from collections import OrderedDict

import torch

from projects.stack_compat.checkpoint_policy import (
    UnsafeCheckpointError, load_checkpoint_file)

_LAYER = re.compile(r'^rev_backbone\.layers\.(\d+)\.(F|G)\.(.+)$')
_F = {'norm.': 'ln1.', 'attn.proj.': 'attn.proj.'}
_G = {'norm.': 'ln2.', 'mlp.fc1.': 'ffn.layers.0.0.',
      'mlp.fc2.': 'ffn.layers.1.'}


def load_state_dict(path):
    """Tensors of a checkpoint file, loaded weights-only (``stack_compat``)."""
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


def _map_branch(table, rest, key):
    for old, new in table.items():
        if rest.startswith(old):
            return new + rest[len(old):]
    raise KeyError(f'unexpected key {key!r} for an official RevViT checkpoint')


def revvit_to_visionplug(state_dict, backbone_only=False):
    """Official RevViT state dict -> VisionPlug. Returns
    ``(converted, dropped)``; unknown keys raise, incomplete q/k/v too."""
    out, dropped, qkv = OrderedDict(), [], {}
    for key, value in state_dict.items():
        m = _LAYER.match(key)
        if m:
            idx, branch, rest = m.groups()
            prefix = f'backbone.layers.{idx}.'
            qkv_m = re.match(r'^attn\.([qkv])\.(weight|bias)$', rest)
            if branch == 'F' and qkv_m:
                part, kind = qkv_m.groups()
                qkv.setdefault(prefix + 'attn.qkv.' + kind, {})[part] = value
                continue
            table = _F if branch == 'F' else _G
            out[prefix + _map_branch(table, rest, key)] = value
        elif key == 'pos_embed':
            out['backbone.pos_embed'] = value
        elif key.startswith('patch_embed.proj.'):
            out['backbone.patch_embed.projection.' +
                key[len('patch_embed.proj.'):]] = value
        elif key.startswith('norm.'):
            out['backbone.ln1.' + key[len('norm.'):]] = value
        elif key.startswith('head.projection.'):
            if backbone_only:
                dropped.append(key)
            else:
                out['head.fc.' + key[len('head.projection.'):]] = value
        else:
            raise KeyError(f'unexpected key {key!r} for an official RevViT '
                           f'checkpoint')
    for name, parts in qkv.items():
        if set(parts) != {'q', 'k', 'v'}:
            raise KeyError(f'{name}: q, k and v are all needed, got '
                           f'{sorted(parts)}')
        out[name] = torch.cat([parts['q'], parts['k'], parts['v']], dim=0)
    return out, dropped


def visionplug_to_revvit(state_dict):
    """Inverse of :func:`revvit_to_visionplug` (official layout)."""
    inv_f = {v: k for k, v in _F.items()}
    inv_g = {v: k for k, v in _G.items()}
    out = OrderedDict()
    for key, value in state_dict.items():
        m = re.match(r'^backbone\.layers\.(\d+)\.(.+)$', key)
        if m:
            idx, rest = m.groups()
            prefix = f'rev_backbone.layers.{idx}.'
            qkv_m = re.match(r'^attn\.qkv\.(weight|bias)$', rest)
            if qkv_m:
                for part, chunk in zip('qkv', value.chunk(3, dim=0)):
                    out[f'{prefix}F.attn.{part}.{qkv_m.group(1)}'] = chunk
                continue
            for table, branch in ((inv_f, 'F'), (inv_g, 'G')):
                hit = [k for k in table if rest.startswith(k)]
                if hit:
                    out[prefix + branch + '.' + table[hit[0]] +
                        rest[len(hit[0]):]] = value
                    break
            else:
                raise KeyError(f'unexpected key {key!r}')
        elif key == 'backbone.pos_embed':
            out['pos_embed'] = value
        elif key.startswith('backbone.patch_embed.projection.'):
            out['patch_embed.proj.' +
                key[len('backbone.patch_embed.projection.'):]] = value
        elif key.startswith('backbone.ln1.'):
            out['norm.' + key[len('backbone.ln1.'):]] = value
        elif key.startswith('head.fc.'):
            out['head.projection.' + key[len('head.fc.'):]] = value
        else:
            raise KeyError(f'unexpected key {key!r}')
    return out
