"""Convert an official De-focus Attention Networks checkpoint to VisionPlug.

    python tools/model_converters/defocus_to_visionplug.py SRC DST
        [--key model|model_ema|state_dict] [--backbone-only]

SRC is read with ``torch.load(weights_only=True)`` (a file that carries
pickled objects other than tensors is refused). The output holds
``{'state_dict': ..., 'meta': ...}`` in the layout of an mmpretrain
``ImageClassifier`` with ``DefocusMamba`` + ``DefocusClsHead``
(``backbone.*``, ``head.head.*``, ``head.head2.*``); detection and
segmentation configs load its backbone with
``init_cfg=dict(type='Pretrained', checkpoint=DST, prefix='backbone.')``.
``--backbone-only`` drops the classification heads, or the neck and heads of
an official detection checkpoint.
"""
import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from projects.training_guards import atomic_torch_save  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('src', help='official checkpoint (.pth)')
    parser.add_argument('dst', help='output checkpoint (.pth)')
    parser.add_argument('--key', choices=['model', 'model_ema', 'state_dict'],
                        help='state dict inside SRC (default: model, else '
                        'state_dict, else the file itself)')
    parser.add_argument('--backbone-only', action='store_true',
                        help='keep only the backbone weights')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    from projects.defocus.checkpoint import convert_official, unwrap_checkpoint
    from projects.stack_compat.checkpoint_policy import \
        load_checkpoint_or_exit
    ckpt = load_checkpoint_or_exit(args.src)
    state_dict = unwrap_checkpoint(ckpt, args.key)
    converted, dropped = convert_official(state_dict,
                                          backbone_only=args.backbone_only)
    meta = dict(source=str(args.src), converter=Path(__file__).name, dropped_keys=dropped)
    atomic_torch_save(dict(state_dict=converted, meta=meta), args.dst)
    print(f'converted {len(converted)} tensors to {args.dst}'
          + (f'; dropped {len(dropped)} keys' if dropped else ''))
    return converted, dropped


if __name__ == '__main__':
    main()
