"""Convert a torchscale (Magneto / Sub-LN) vision encoder to MagnetoViT.

torchscale's ``Encoder(EncoderConfig(subln=True), embed_tokens=
VisionEmbedding(prepend_cls_token=True), embed_positions=
PositionalEmbedding(num_tokens + 2, D))`` has the keys (after an optional
prefix such as ``encoder.``)::

    embed_tokens.proj.{weight,bias}  embed_tokens.cls_token
    embed_positions.weight                  [num_tokens + 2, D]
    layers.{i}.self_attn.{q,k,v,out}_proj.*  layers.{i}.self_attn.inner_attn_ln.*
    layers.{i}.self_attn_layer_norm.*  layers.{i}.ffn.{fc1,fc2,ffn_layernorm}.*
    layers.{i}.final_layer_norm.*  layer_norm.*   [head.* without prefix]

They map to an mmpretrain ``ImageClassifier`` state dict (``backbone.*``
for ``MagnetoViT``, ``head.fc.*`` for ``LinearClsHead``). Positions start
at row 2 in torchscale (fairseq offset), so ``pos_embed`` is
``embed_positions.weight[2:]``; ``to_official`` writes zeros to the two
unused rows.

    python tools/model_converters/magneto_to_visionplug.py SRC DST

The source is read with ``torch.load(weights_only=True)``: tensors only.
"""
import argparse
import math
import re
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from projects.stack_compat.checkpoint_policy import load_checkpoint_or_exit  # noqa: E402
from projects.training_guards import atomic_torch_save  # noqa: E402

_LAYER = {
    'self_attn.q_proj': 'attn.q_proj',
    'self_attn.k_proj': 'attn.k_proj',
    'self_attn.v_proj': 'attn.v_proj',
    'self_attn.out_proj': 'attn.out_proj',
    'self_attn.inner_attn_ln': 'attn.inner_ln',
    'self_attn_layer_norm': 'ln1',
    'ffn.fc1': 'ffn.fc1',
    'ffn.fc2': 'ffn.fc2',
    'ffn.ffn_layernorm': 'ffn.ffn_ln',
    'final_layer_norm': 'ln2',
}
_TOP = {
    'embed_tokens.proj.weight': 'backbone.patch_embed.projection.weight',
    'embed_tokens.proj.bias': 'backbone.patch_embed.projection.bias',
    'embed_tokens.cls_token': 'backbone.cls_token',
    'layer_norm.weight': 'backbone.ln1.weight',
    'layer_norm.bias': 'backbone.ln1.bias',
}
_HEAD = {'head.weight': 'head.fc.weight', 'head.bias': 'head.fc.bias'}
POSITION_OFFSET = 2  # fairseq/torchscale positions start at 2
_ANCHOR = 'layers.0.self_attn.q_proj.weight'
_LAYER_RE = re.compile(r'^layers\.(\d+)\.(.+)\.(weight|bias)$')


def unwrap(checkpoint):
    """The state dict inside a checkpoint (``model``/``state_dict`` keys)."""
    for key in ('model', 'state_dict', 'module'):
        if isinstance(checkpoint, dict) and isinstance(
                checkpoint.get(key), dict):
            return checkpoint[key]
    return checkpoint


def find_prefix(state_dict):
    """The prefix in front of the encoder keys (e.g. ``'encoder.'``)."""
    prefixes = {k[:-len(_ANCHOR)] for k in state_dict if k.endswith(_ANCHOR)}
    if len(prefixes) != 1:
        raise KeyError(f'magneto converter: expected one key ending in '
                       f'{_ANCHOR!r}, found prefixes {sorted(prefixes)}')
    return prefixes.pop()


def convert(state_dict):
    """torchscale encoder keys -> ImageClassifier(MagnetoViT) keys.

    Raises:
        KeyError: if a source key is not consumed (the list is given).
        ValueError: if the position table does not fit a square grid.
    """
    prefix = find_prefix(state_dict)
    out, left = {}, []
    for key, value in state_dict.items():
        if key in _HEAD:
            out[_HEAD[key]] = value
            continue
        if not key.startswith(prefix):
            left.append(key)
            continue
        name = key[len(prefix):]
        if name in _TOP:
            out[_TOP[name]] = value
            continue
        if name == 'embed_positions.weight':
            tokens = value.shape[0] - POSITION_OFFSET
            has_cls = prefix + 'embed_tokens.cls_token' in state_dict
            side = math.isqrt(max(tokens - has_cls, 0))
            if side * side != tokens - has_cls:
                raise ValueError(
                    f'magneto converter: {key} has {value.shape[0]} rows; '
                    f'{value.shape[0]} - {POSITION_OFFSET} - {int(has_cls)} '
                    'is not a square patch grid')
            out['backbone.pos_embed'] = value[POSITION_OFFSET:].unsqueeze(0)
            continue
        m = _LAYER_RE.match(name)
        if m and m.group(2) in _LAYER:
            i, part, kind = m.groups()
            out[f'backbone.layers.{i}.{_LAYER[part]}.{kind}'] = value
            continue
        left.append(key)
    if left:
        raise KeyError(f'magneto converter: {len(left)} key(s) not in the '
                       f'torchscale Sub-LN encoder layout: {sorted(left)[:10]}')
    return out


def to_official(state_dict, prefix=''):
    """Inverse of ``convert`` (the two offset rows are zeros)."""
    top = {v: k for k, v in _TOP.items()}
    head = {v: k for k, v in _HEAD.items()}
    layer = {v: k for k, v in _LAYER.items()}
    pattern = re.compile(r'^backbone\.layers\.(\d+)\.(.+)\.(weight|bias)$')
    out, left = {}, []
    for key, value in state_dict.items():
        if key in head:
            out[head[key]] = value
        elif key in top:
            out[prefix + top[key]] = value
        elif key == 'backbone.pos_embed':
            pad = value.new_zeros(POSITION_OFFSET, value.shape[-1])
            out[prefix + 'embed_positions.weight'] = torch.cat(
                [pad, value[0]])
        elif pattern.match(key) and pattern.match(key).group(2) in layer:
            i, part, kind = pattern.match(key).groups()
            out[f'{prefix}layers.{i}.{layer[part]}.{kind}'] = value
        else:
            left.append(key)
    if left:
        raise KeyError(f'magneto converter: {len(left)} key(s) have no '
                       f'torchscale counterpart: {sorted(left)[:10]}')
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('src', help='torchscale checkpoint')
    parser.add_argument('dst', help='output checkpoint for VisionPlug')
    args = parser.parse_args(argv)
    checkpoint = load_checkpoint_or_exit(args.src)
    try:
        state_dict = convert(unwrap(checkpoint))
    except (KeyError, ValueError) as err:
        sys.exit(f'{args.src}: {err.args[0]}')
    meta = dict(converted_from=str(args.src), converter='magneto_to_visionplug')
    atomic_torch_save(dict(state_dict=state_dict, meta=meta), args.dst)
    print(f'{len(state_dict)} tensors written to {args.dst}')


if __name__ == '__main__':
    main()
