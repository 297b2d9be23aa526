"""Convert a DeiT-layout Castling-ViT checkpoint to VisionPlug's CastlingViT.

The released Castling-ViT code is only the ``LinAngularAttention`` block
(``qkv``, ``proj``, ``dconv``); a ViT using it in the DeiT/timm layout has
the keys::

    cls_token  pos_embed  patch_embed.proj.{weight,bias}
    blocks.{i}.norm1.*  blocks.{i}.attn.qkv.*  blocks.{i}.attn.proj.*
    blocks.{i}.attn.dconv.weight  blocks.{i}.norm2.*
    blocks.{i}.mlp.fc1.*  blocks.{i}.mlp.fc2.*  norm.*  [head.*]

They map to an mmpretrain ``ImageClassifier`` state dict (``backbone.*``
for ``CastlingViT``, ``head.fc.*`` for ``LinearClsHead``). The release has
no learnable mask; ``--aux-mask`` sets the per-head masks of the auxiliary
softmax branch (1.0: the release's ``sparse_reg=True`` branch, unscaled;
``none``: for a model built with ``aux_attn=False``).

    python tools/model_converters/castling_vit_to_visionplug.py SRC DST \
        [--aux-mask 1.0|0.0|none]

The source is read with ``torch.load(weights_only=True)``: tensors only.
"""
import argparse
import re
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from projects.stack_compat.checkpoint_policy import load_checkpoint_or_exit  # noqa: E402
from projects.training_guards import atomic_torch_save  # noqa: E402

_BLOCK = {
    'norm1': 'ln1',
    'attn.qkv': 'attn.qkv',
    'attn.proj': 'attn.proj',
    'attn.dconv': 'attn.dconv',
    'norm2': 'ln2',
    'mlp.fc1': 'ffn.layers.0.0',
    'mlp.fc2': 'ffn.layers.1',
}
_TOP = {
    'cls_token': 'backbone.cls_token',
    'pos_embed': 'backbone.pos_embed',
    'patch_embed.proj.weight': 'backbone.patch_embed.projection.weight',
    'patch_embed.proj.bias': 'backbone.patch_embed.projection.bias',
    'norm.weight': 'backbone.ln1.weight',
    'norm.bias': 'backbone.ln1.bias',
    'head.weight': 'head.fc.weight',
    'head.bias': 'head.fc.bias',
}
_BLOCK_RE = re.compile(r'^blocks\.(\d+)\.(.+)\.(weight|bias)$')


def unwrap(checkpoint):
    """The state dict inside a checkpoint (``model``/``state_dict`` keys)."""
    for key in ('model', 'state_dict', 'module'):
        if isinstance(checkpoint, dict) and isinstance(
                checkpoint.get(key), dict):
            return checkpoint[key]
    return checkpoint


def convert(state_dict, aux_mask=1.0):
    """DeiT-layout Castling-ViT keys -> ImageClassifier(CastlingViT) keys.

    Raises:
        KeyError: if a source key is not consumed (the list is given).
    """
    out, left = {}, []
    heads = {}
    for key, value in state_dict.items():
        if key in _TOP:
            out[_TOP[key]] = value
            continue
        m = _BLOCK_RE.match(key)
        if m and m.group(2) in _BLOCK:
            i, name, kind = m.groups()
            out[f'backbone.layers.{i}.{_BLOCK[name]}.{kind}'] = value
            if name == 'attn.dconv':
                heads[int(i)] = value.shape[0]
            continue
        left.append(key)
    if left:
        raise KeyError(f'castling_vit converter: {len(left)} key(s) not in '
                       f'the DeiT/Castling layout: {sorted(left)[:10]}')
    if aux_mask is not None:
        for i, num_heads in heads.items():
            out[f'backbone.layers.{i}.attn.aux_mask'] = torch.full(
                (num_heads, ), float(aux_mask))
    return out


def to_official(state_dict):
    """Inverse of ``convert`` (the auxiliary masks are dropped)."""
    top = {v: k for k, v in _TOP.items()}
    block = {v: k for k, v in _BLOCK.items()}
    pattern = re.compile(r'^backbone\.layers\.(\d+)\.(.+)\.(weight|bias)$')
    out, left = {}, []
    for key, value in state_dict.items():
        if key in top:
            out[top[key]] = value
            continue
        if key.endswith('.attn.aux_mask'):
            continue
        m = pattern.match(key)
        if m and m.group(2) in block:
            i, name, kind = m.groups()
            out[f'blocks.{i}.{block[name]}.{kind}'] = value
            continue
        left.append(key)
    if left:
        raise KeyError(f'castling_vit converter: {len(left)} key(s) have no '
                       f'DeiT/Castling counterpart: {sorted(left)[:10]}')
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('src', help='DeiT-layout checkpoint')
    parser.add_argument('dst', help='output checkpoint for VisionPlug')
    parser.add_argument('--aux-mask', default='1.0',
                        help="initial per-head mask, or 'none'")
    args = parser.parse_args(argv)
    aux = None if args.aux_mask.lower() == 'none' else float(args.aux_mask)
    checkpoint = load_checkpoint_or_exit(args.src)
    try:
        state_dict = convert(unwrap(checkpoint), aux_mask=aux)
    except KeyError as err:
        sys.exit(f'{args.src}: {err.args[0]}')
    meta = dict(converted_from=str(args.src), converter='castling_vit_to_visionplug')
    atomic_torch_save(dict(state_dict=state_dict, meta=meta), args.dst)
    print(f'{len(state_dict)} tensors written to {args.dst}')


if __name__ == '__main__':
    main()
