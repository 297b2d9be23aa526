"""Convert an official SIM (SiameseIM) pre-training checkpoint to VisionPlug.

    python tools/model_converters/sim_to_visionplug.py SRC DST \
        [--backbone-only]

The official ``SiameseIMViT`` (OpenGVLab/Siamese-Image-Modeling,
``models_sim.py``; the released ``sim_base_1600ep_pretrain.pth`` is a
``{'model': state_dict, ...}`` dict) maps onto our ``SIM`` model:

    patch_embed.proj.*, cls_token, pos_embed  -> backbone.patch_embed.
                                                 projection.*, ...
    blocks.{i}.*                              -> backbone.layers.{i}.*
    decoder_embed.*                           -> neck.decoder_embed.*
    projector_decoder_blocks.{i}.*            -> neck.layers.{i}.*
    mask_token, decoder_pos_mlp.*, decoder_pred.*  -> head.*
    predictor_decoder_blocks.{i}.*            -> head.layers.{i}.*
    mm_patch_embed.proj.*, mm_cls_token, mm_blocks.{i}.*
                                     -> target_net.module.backbone.*
    mm_decoder_embed.*, mm_projector_decoder_blocks.{i}.*
                                     -> target_net.module.neck.*

Inside a block: ``norm1/norm2`` -> ``ln1/ln2`` (``ln{1,2}.bn.*`` for the
decoder's BatchNorm, the official ``PermuteBN``), ``attn.qkv/proj`` ->
``attn.qkv/proj``, ``mlp.fc1`` -> ``ffn.layers.0.0``, ``mlp.fc2`` ->
``ffn.layers.1``. The momentum encoder shares the online ``pos_embed``
(copied to the target), ``target_net.steps`` is set to 1 so that the next
momentum update averages instead of copying the online weights. Dropped:
``decoder_pos_embed`` (the fixed sin-cos table that ``SIMHead`` computes)
and ``mm_mask_token`` (never used by the official forward). Any other key
is an error. ``--backbone-only`` keeps the ``backbone.*`` keys (a plain
mmpretrain ``VisionTransformer`` with ``final_norm=False``; load it with
``init_cfg=dict(type='Pretrained', checkpoint=DST, prefix='backbone.')``).

The source is read with ``torch.load(weights_only=True)``; the official
training script also pickles its ``argparse.Namespace`` (``args``), which is
the one non-tensor type accepted here (plain attributes, no code runs).
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

BLOCK_PARTS = {
    'attn.qkv': 'attn.qkv',
    'attn.proj': 'attn.proj',
    'mlp.fc1': 'ffn.layers.0.0',
    'mlp.fc2': 'ffn.layers.1',
}
_BN_STATS = ('weight', 'bias', 'running_mean', 'running_var',
             'num_batches_tracked')
_BLOCK_RE = re.compile(r'^(\d+)\.(.+)\.([a-z_]+)$')
_BLOCKS = {
    'blocks.': 'backbone.layers.',
    'projector_decoder_blocks.': 'neck.layers.',
    'predictor_decoder_blocks.': 'head.layers.',
    'mm_blocks.': 'target_net.module.backbone.layers.',
    'mm_projector_decoder_blocks.': 'target_net.module.neck.layers.',
}
_TOP = {
    'patch_embed.proj.weight': 'backbone.patch_embed.projection.weight',
    'patch_embed.proj.bias': 'backbone.patch_embed.projection.bias',
    'cls_token': 'backbone.cls_token',
    'pos_embed': 'backbone.pos_embed',
    'decoder_embed.weight': 'neck.decoder_embed.weight',
    'decoder_embed.bias': 'neck.decoder_embed.bias',
    'mask_token': 'head.mask_token',
    'decoder_pos_mlp.weight': 'head.decoder_pos_mlp.weight',
    'decoder_pos_mlp.bias': 'head.decoder_pos_mlp.bias',
    'decoder_pred.weight': 'head.decoder_pred.weight',
    'decoder_pred.bias': 'head.decoder_pred.bias',
    'mm_patch_embed.proj.weight':
    'target_net.module.backbone.patch_embed.projection.weight',
    'mm_patch_embed.proj.bias':
    'target_net.module.backbone.patch_embed.projection.bias',
    'mm_cls_token': 'target_net.module.backbone.cls_token',
    'mm_decoder_embed.weight': 'target_net.module.neck.decoder_embed.weight',
    'mm_decoder_embed.bias': 'target_net.module.neck.decoder_embed.bias',
}
DROPPED = ('decoder_pos_embed', 'mm_mask_token')


def block_key(name):
    """Key inside one official block (``norm1.weight``, ``attn.qkv.bias``,
    ``norm2.bn.running_mean``, ...) -> the key inside mmpretrain's
    ``TransformerEncoderLayer``; None if it is not a block key."""
    m = re.match(r'^norm([12])\.(bn\.)?([a-z_]+)$', name)
    if m:
        idx, bn, kind = m.groups()
        if (bn and kind in _BN_STATS) or (not bn and kind in ('weight',
                                                              'bias')):
            return f'ln{idx}.{bn or ""}{kind}'
        return None
    part, _, kind = name.rpartition('.')
    if part in BLOCK_PARTS and kind in ('weight', 'bias'):
        return f'{BLOCK_PARTS[part]}.{kind}'
    return None


def unwrap(checkpoint):
    """The state dict of a checkpoint (``model``/``state_dict`` entry or the
    dict itself), without a DDP ``module.`` prefix."""
    if not isinstance(checkpoint, dict):
        raise ValueError(f'expected a dict checkpoint, got '
                         f'{type(checkpoint).__name__}')
    for key in ('model', 'state_dict'):
        if isinstance(checkpoint.get(key), dict):
            checkpoint = checkpoint[key]
            break
    return {(k[len('module.'):] if k.startswith('module.') else k): v
            for k, v in checkpoint.items()}


def convert(state_dict, backbone_only=False):
    """Official ``SiameseIMViT`` keys -> our ``SIM`` keys.

    Raises:
        KeyError: a key outside the official layout (the first ones are
            named), or no encoder block at all.
    """
    if 'blocks.0.attn.qkv.weight' not in state_dict:
        raise KeyError('no official SIM encoder key blocks.0.attn.qkv.weight '
                       f'among {len(state_dict)} keys (first: '
                       f'{sorted(state_dict)[:5]})')
    out, left = {}, []
    for key, value in state_dict.items():
        if key in DROPPED:
            continue
        if key in _TOP:
            out[_TOP[key]] = value
            continue
        for src, dst in _BLOCKS.items():
            if key.startswith(src):
                m = _BLOCK_RE.match(key[len(src):])
                inner = m and block_key(f'{m.group(2)}.{m.group(3)}')
                if inner:
                    out[f'{dst}{m.group(1)}.{inner}'] = value
                    break
        else:
            left.append(key)
    if left:
        raise KeyError(f'{len(left)} key(s) not in the official SIM '
                       f'pre-training layout: {sorted(left)[:10]}')
    if 'target_net.module.backbone.cls_token' in out:
        out['target_net.module.backbone.pos_embed'] = out['backbone.pos_embed']
        out['target_net.steps'] = torch.tensor(1)
    if backbone_only:
        out = {k: v for k, v in out.items() if k.startswith('backbone.')}
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('src', help='official SIM pre-training checkpoint')
    parser.add_argument('dst', help='output checkpoint for VisionPlug')
    parser.add_argument('--backbone-only', action='store_true',
                        help='keep only the backbone.* keys')
    args = parser.parse_args(argv)
    with torch.serialization.safe_globals([argparse.Namespace]):
        checkpoint = load_checkpoint_or_exit(args.src)
    try:
        state_dict = convert(unwrap(checkpoint), args.backbone_only)
    except (KeyError, ValueError) as err:
        sys.exit(f'error: {args.src}: {err.args[0]}')
    meta = dict(converted_from=str(args.src), converter='sim_to_visionplug')
    atomic_torch_save(dict(state_dict=state_dict, meta=meta), args.dst)
    print(f'{len(state_dict)} tensors written to {args.dst}')


if __name__ == '__main__':
    main()
