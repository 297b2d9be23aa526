"""Convert an official (facebookresearch/hiera) or timm Hiera checkpoint to VisionPlug.

Plain (``hiera_*_224``) and absolute-window (``hiera_{small,base}_abswin_256``:
``pos_embed`` [1, C, H, W] + ``pos_embed_win``; ``pos_embed_abs`` is renamed
``pos_embed``) checkpoints are handled; build the model with the matching
arch (``small_abswin`` / ``base_abswin``).

The file is read with ``torch.load(weights_only=True)``: only tensors are
accepted, nothing stored in it is executed. Every key is mapped or listed
as dropped; an unknown key aborts.

Usage::

    python tools/model_converters/hiera_to_visionplug.py SRC DST [--backbone-only]

DST holds ``{'state_dict': ...}`` in the mmpretrain ImageClassifier layout
(``backbone.*``, ``head.*``); configs load it with
``init_cfg=dict(type='Pretrained', checkpoint=DST, prefix='backbone.')``.
"""
import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from projects.hiera import hiera_to_visionplug, load_state_dict  # noqa: E402
from projects.training_guards import atomic_torch_save  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('src', help='official checkpoint')
    parser.add_argument('dst', help='output .pth')
    parser.add_argument('--backbone-only', action='store_true',
                        help='drop the classifier (for det / seg)')
    args = parser.parse_args(argv)
    try:
        state = load_state_dict(args.src)
        converted, dropped = hiera_to_visionplug(state, backbone_only=args.backbone_only)
    except (ValueError, KeyError) as err:
        sys.exit(f'error: {err}')
    atomic_torch_save(dict(state_dict=converted, meta=dict(source=str(args.src))), args.dst)
    print(f'{len(converted)} tensors written to {args.dst}; '
          f'{len(dropped)} dropped' + (f': {dropped}' if dropped else ''))


if __name__ == '__main__':
    main()
