"""Convert an official BEVFormer v2 checkpoint (fundamentalvision/BEVFormer,
mmdet3d 0.17) to projects.bevformer_v2.

The module layout follows the official one, so nearly every key is kept as
is. What changes:

- the BEV head's box code: the official regresses
  ``(cx, cy, log w, log l, cz, log h, sin a, cos a, vx, vy)`` with mmdet3d
  0.17's yaw ``a = -yaw - pi/2``; ours is
  ``(cx, cy, log l, log w, cz, log h, sin yaw, cos yaw, vx, vy)``. Since
  ``sin yaw = -cos a`` and ``cos yaw = -sin a``, the last Linear of every
  ``reg_branches`` gets rows 2 <-> 3 swapped and rows (6, 7) <- -(7, 6);
  ``code_weights`` gets the same permutation (without the sign);
- ``fcos3d_bbox_head.fcos3d_head.box3d_size``: the official predicts the
  per-class size in DD3D's (w, l, h) order (channels ``k * C + class``); ours
  is (l, w, h), so the first two channel blocks are swapped;
- ``fcos3d_bbox_head.attr_logits`` (3 attributes within the class, as ours)
  is kept as is;
- keys the model does not have (e.g. v1's ``can_bus_mlp``) are dropped and
  listed.

The source is read with ``torch.load(weights_only=True)``: no code in the
file is run.

Usage:
    python tools/model_converters/bevformer_v2_to_visionplug.py \
        bevformerv2-r50-t1-base-24ep.pth checkpoints/bevformer-v2_r50_t1-base.pth
"""
import argparse
import re
import sys
from collections import OrderedDict
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from projects.stack_compat.checkpoint_policy import load_checkpoint_or_exit  # noqa: E402
from projects.training_guards import atomic_torch_save  # noqa: E402

REG_LAST = re.compile(r'^pts_bbox_head\.reg_branches\.\d+\.(\d+)\.(weight|bias)$')
# ours[i] = SIGN[i] * official[PERM[i]]
PERM = [0, 1, 3, 2, 4, 5, 7, 6, 8, 9]
SIGN = [1, 1, 1, 1, 1, 1, -1, -1, 1, 1]
SIZE_KEY = re.compile(r'^fcos3d_bbox_head\.fcos3d_head\.box3d_size\.\d+\.(weight|bias)$')
DROP_PREFIXES = ('pts_bbox_head.transformer.can_bus_mlp.', )


def _last_reg_index(keys):
    idx = [int(m.group(1)) for k in keys for m in [REG_LAST.match(k)] if m]
    return max(idx) if idx else None


def map_box_rows(t: torch.Tensor, with_sign: bool = True) -> torch.Tensor:
    """Official box-code rows (dim 0) -> ours."""
    if t.shape[0] != 10:
        raise ValueError(f'expected a 10-row box-code tensor, got {tuple(t.shape)}')
    out = t[PERM].clone()
    if with_sign:
        sign = torch.tensor(SIGN, dtype=t.dtype).view(-1, *([1] * (t.dim() - 1)))
        out = out * sign
    return out


def map_size_channels(t: torch.Tensor) -> torch.Tensor:
    """DD3D's per-class size channels (w, l, h) x C (dim 0) -> ours (l, w, h)."""
    if t.shape[0] % 3:
        raise ValueError(f'expected 3 x num_classes size channels, got {tuple(t.shape)}')
    w, l, h = t.chunk(3, 0)
    return torch.cat([l, w, h]).clone()


def convert(state_dict: dict):
    """Returns (converted state dict, list of dropped keys)."""
    if 'state_dict' in state_dict:
        state_dict = state_dict['state_dict']
    last = _last_reg_index(state_dict.keys())
    out, dropped = OrderedDict(), []
    for key, val in state_dict.items():
        if key.startswith('module.'):
            key = key[len('module.'):]
        if key.startswith(DROP_PREFIXES):
            dropped.append(key)
            continue
        m = REG_LAST.match(key)
        if m and int(m.group(1)) == last:
            val = map_box_rows(val)
        elif SIZE_KEY.match(key):
            val = map_size_channels(val)
        elif key == 'pts_bbox_head.code_weights':
            val = map_box_rows(val, with_sign=False)
        out[key] = val
    return out, dropped


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('src', help='official checkpoint')
    parser.add_argument('dst', help='output path')
    args = parser.parse_args(argv)
    ckpt = load_checkpoint_or_exit(args.src)
    state_dict, dropped = convert(ckpt)
    atomic_torch_save(dict(state_dict=state_dict, meta=dict(converted_from=args.src)), args.dst)
    print(f'{len(state_dict)} tensors written to {args.dst}; dropped: {dropped}')


if __name__ == '__main__':
    main()
