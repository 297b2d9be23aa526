"""Convert official InternImage checkpoints (OpenGVLab/InternImage) to
VisionPlug's layout.

    python tools/model_converters/internimage_to_visionplug.py SRC DST
        [--key model] [--backbone-only]

Layouts read (a ``module.`` prefix is stripped first):

* classification (``internimage_{t,s,b,l,xl}_*.pth``, weights under
  ``model``; ``--key model_ema`` for the EMA weights of a training
  checkpoint): ``patch_embed.*`` and ``levels.*`` become ``backbone.*``
  (names unchanged), ``conv_head.*`` becomes ``head.conv_head.*`` and
  ``head.*`` becomes ``head.fc.*``: the state dict of an mmpretrain
  ``ImageClassifier`` with ``InternImage`` + ``InternImageClsHead``. Det/seg
  configs load its backbone with ``init_cfg=dict(type='Pretrained',
  checkpoint=DST, prefix='backbone.')``.
* detection / segmentation (mmdet 2.x / mmseg 0.x ``state_dict`` with
  ``backbone.*`` keys): backbone names are already ours; the neck and head
  names of Mask R-CNN / Cascade / UPerNet did not change between mmdet 2.28
  and 3.x or mmseg 0.x and 1.x, so other keys are kept as they are.

Every key must be consumed: keys of other heads (the CLIP-projector head of
InternImage-H/G) or unknown modules raise an error naming them.
The source is read with ``torch.load(weights_only=True)``: training
checkpoints that pickle their yacs ``config`` are refused rather than
unpickled; re-save their ``model`` entry alone where the file is trusted.
``--backbone-only`` writes the backbone without its ``backbone.`` prefix.
"""
import argparse
import sys
from collections import OrderedDict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from projects.stack_compat.checkpoint_policy import load_checkpoint_or_exit  # noqa: E402
from projects.training_guards import atomic_torch_save  # noqa: E402

BACKBONE_ROOTS = ('patch_embed.', 'levels.')


def _strip_module(state_dict):
    if state_dict and all(k.startswith('module.') for k in state_dict):
        return OrderedDict((k[len('module.'):], v)
                           for k, v in state_dict.items())
    return OrderedDict(state_dict)


def _unknown(keys, what):
    shown = ', '.join(sorted(keys)[:8])
    more = f' (+{len(keys) - 8} more)' if len(keys) > 8 else ''
    return ValueError(
        f'{len(keys)} {what} key(s) not in the InternImage '
        f'T/S/B/L/XL layout: {shown}{more}')


def convert_classification(state_dict):
    """Official classification state dict -> mmpretrain classifier."""
    out, left = OrderedDict(), []
    for key, value in state_dict.items():
        if key.startswith(BACKBONE_ROOTS):
            out['backbone.' + key] = value
        elif key.startswith('conv_head.'):
            out['head.' + key] = value
        elif key.startswith('head.'):
            out['head.fc.' + key[len('head.'):]] = value
        else:
            left.append(key)
    if left:
        raise _unknown(left, 'classification checkpoint')
    return out


def convert_downstream(state_dict):
    """Official mmdet 2.x / mmseg 0.x state dict: backbone keys checked,
    everything kept under its name."""
    left = [k for k in state_dict if k.startswith('backbone.')
            and not k[len('backbone.'):].startswith(BACKBONE_ROOTS)]
    if left:
        raise _unknown(left, 'backbone')
    return OrderedDict(state_dict)


def convert(state_dict):
    """Convert an official state dict (either layout) to ours."""
    state_dict = _strip_module(state_dict)
    if any(k.startswith('backbone.') for k in state_dict):
        return convert_downstream(state_dict)
    return convert_classification(state_dict)


def to_official(state_dict):
    """Inverse of ``convert_classification`` (for checks and export)."""
    out = OrderedDict()
    for key, value in state_dict.items():
        if key.startswith('backbone.'):
            out[key[len('backbone.'):]] = value
        elif key.startswith('head.conv_head.'):
            out[key[len('head.'):]] = value
        elif key.startswith('head.fc.'):
            out['head.' + key[len('head.fc.'):]] = value
        else:
            raise _unknown([key], 'VisionPlug classifier')
    return out


def load_official(path, key=None):
    """The weights of an official checkpoint, read weights-only (a file with
    other pickled objects exits the tool with a one-line error)."""
    ckpt = load_checkpoint_or_exit(path)
    if not isinstance(ckpt, dict):
        raise TypeError(f'{path}: expected a dict, got {type(ckpt).__name__}')
    keys = [key] if key else ['model', 'state_dict', 'module']
    for name in keys:
        if isinstance(ckpt.get(name), dict):
            return ckpt[name]
    if key:
        raise KeyError(f'{path} has no {key!r} entry; entries: {sorted(ckpt)}')
    return ckpt


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('src', help='official checkpoint')
    parser.add_argument('dst', help='output checkpoint')
    parser.add_argument('--key', default=None,
                        help="entry holding the weights (default: 'model', "
                        "'state_dict' or the file itself)")
    parser.add_argument('--backbone-only', action='store_true',
                        help='write only the backbone, without prefix')
    args = parser.parse_args(argv)
    state_dict = convert(load_official(args.src, args.key))
    if args.backbone_only:
        state_dict = OrderedDict(
            (k[len('backbone.'):], v) for k, v in state_dict.items()
            if k.startswith('backbone.'))
    meta = dict(source=str(args.src), converter='internimage_to_visionplug')
    atomic_torch_save(dict(state_dict=state_dict, meta=meta), args.dst)
    print(f'wrote {len(state_dict)} tensors to {args.dst}')


if __name__ == '__main__':
    sys.exit(main())
