"""Convert an official RevCol classification checkpoint to VisionPlug.

    python tools/model_converters/revcol_to_visionplug.py SRC DST [--arch t]

VisionPlug keeps the official parameter names, so the conversion is a
re-keying: the checkpoint's ``model`` (or ``state_dict``) dict is taken, a
``module.`` prefix is stripped, backbone keys (``stem.*``, ``subnet*``) get
``backbone.`` and classifier keys (``cls.*``, ``cls_blocks.*``,
``decoder_blocks.*``, see ``RevColClsHead``) get ``head.``. The official
first column's four ``alpha`` tensors multiply zero features and do not
exist here; they are dropped (and reported). Any other key is an error.

The output is an mmengine checkpoint ``{'state_dict': ..., 'meta': ...}``:
load it whole into a ``RevColClassifier`` (``load_from``), or as backbone
weights with ``init_cfg=dict(type='Pretrained', checkpoint=DST,
prefix='backbone.')`` in detection/segmentation configs.

The source is read with ``torch.load(weights_only=True)``: no code in the
file is executed. With ``--arch`` the result is checked against a RevCol of
that arch built on the meta device (every key present, shapes equal).
"""
import argparse
import re
import sys
from collections import OrderedDict
from pathlib import Path

import torch

BACKBONE = re.compile(r'^(stem\.|subnet\d+\.)')
HEAD = re.compile(r'^(cls|cls_blocks|decoder_blocks)\.')
DEAD_ALPHA = re.compile(r'^subnet0\.alpha[0-3]$')


def extract_state_dict(ckpt):
    """The parameter dict of an official checkpoint (``model`` key, as the
    official training script saves it; ``state_dict`` or a bare dict also
    work)."""
    if not isinstance(ckpt, dict):
        raise ValueError(f'expected a dict checkpoint, got {type(ckpt)}')
    for key in ('model', 'state_dict'):
        if key in ckpt and isinstance(ckpt[key], dict):
            return ckpt[key]
    return ckpt


def convert(state_dict):
    """Return ``(converted, dropped)``; raise on an unknown key."""
    out, dropped, unknown = OrderedDict(), [], []
    for key, value in state_dict.items():
        name = key[len('module.'):] if key.startswith('module.') else key
        if not isinstance(value, torch.Tensor):
            unknown.append(key)
        elif DEAD_ALPHA.match(name):
            dropped.append(key)
        elif BACKBONE.match(name):
            out['backbone.' + name] = value
        elif HEAD.match(name):
            out['head.' + name] = value
        else:
            unknown.append(key)
    if unknown:
        raise KeyError(f'not an official RevCol key: {unknown[:10]}'
                       f'{" ..." if len(unknown) > 10 else ""}')
    return out, dropped


def check_against_model(converted, arch, num_classes=None,
                        inter_supv=False):
    """Compare with a meta-device RevCol (+ RevColClsHead when the
    checkpoint has a head); raise listing missing/unexpected keys."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from projects.revcol import RevCol, RevColClsHead
    with torch.device('meta'):
        backbone = RevCol(arch=arch, inter_supv=inter_supv)
        expected = {'backbone.' + k: v.shape
                    for k, v in backbone.state_dict().items()}
        if any(k.startswith('head.') for k in converted):
            head = RevColClsHead(num_classes=num_classes,
                                 in_channels=backbone.channels[-1],
                                 channels=backbone.channels,
                                 inter_supv=inter_supv,
                                 num_supervised=len(backbone.inter_columns)
                                 + 1)
            expected.update({'head.' + k: v.shape
                             for k, v in head.state_dict().items()})
    missing = sorted(set(expected) - set(converted))
    unexpected = sorted(set(converted) - set(expected))
    wrong = sorted(k for k in set(expected) & set(converted)
                   if tuple(expected[k]) != tuple(converted[k].shape))
    if missing or unexpected or wrong:
        raise ValueError(f'checkpoint does not match RevCol arch={arch!r}: '
                         f'missing {missing[:5]}, unexpected '
                         f'{unexpected[:5]}, wrong shape {wrong[:5]}')


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('src', help='official checkpoint (.pth)')
    parser.add_argument('dst', help='output path')
    parser.add_argument('--arch', help='check against this RevCol arch')
    args = parser.parse_args(argv)
    try:
        ckpt = torch.load(args.src, map_location='cpu', weights_only=True)
    except Exception as e:  # the file holds more than tensors
        parser.exit(2, f'error: refusing {args.src}: it cannot be read with '
                       f'weights_only=True ({type(e).__name__}: '
                       f'{str(e).splitlines()[0][:200]})\n')
    converted, dropped = convert(extract_state_dict(ckpt))
    if args.arch:
        head = [k for k in converted if k.startswith('head.')]
        inter = any(k.startswith('head.cls_blocks.') for k in head)
        num_classes = None
        for k in head:
            if k.endswith('classifier.1.weight'):
                num_classes = converted[k].shape[0]
        check_against_model(converted, args.arch, num_classes, inter)
    Path(args.dst).parent.mkdir(parents=True, exist_ok=True)
    torch.save(dict(state_dict=converted,
                    meta=dict(source=str(args.src), converter=Path(
                        __file__).name, dropped=dropped)), args.dst)
    print(f'{len(converted)} tensors written to {args.dst}; dropped '
          f'{len(dropped)} (first-column alphas)')


if __name__ == '__main__':
    main()
