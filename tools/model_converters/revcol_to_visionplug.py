"""Convert an official RevCol classification checkpoint to VisionPlug.

    python tools/model_converters/revcol_to_visionplug.py SRC DST [--arch t] [--pad-kernel 7]

VisionPlug keeps the official parameter names, so the conversion is a
re-keying: the checkpoint's ``model`` (or ``state_dict``) dict is taken, a
``module.`` prefix is stripped, backbone keys (``stem.*``, ``subnet*``) get
``backbone.`` and classifier keys (``cls.*``, ``cls_blocks.*``,
``decoder_blocks.*``, see ``RevColClsHead``) get ``head.``. The official
first column's four ``alpha`` tensors multiply zero features and do not
exist here; they are dropped (and reported). Any other key is an error.

RevCol-H (``models/revcol_huge.py``) has the same layout plus the extra
branch ``subnet{i}.level0.fusion.up2.channel_reschedule.{0,1}.*`` (columns
1..7), which maps like every backbone key (``RevCol(arch='h')`` has it).
The released H classification weights use 3x3 depthwise kernels, the H
segmentation ones 7x7 ("pad conv kernel to 7x7 after pretraining");
``--pad-kernel 7`` zero-pads every ``dwconv`` kernel around its centre,
which leaves the network's function unchanged (the padding of the conv grows
with the kernel), so a 3x3 checkpoint loads into the kernel-7 ``'h'`` arch.

The output is an mmengine checkpoint ``{'state_dict': ..., 'meta': ...}``:
load it whole into a ``RevColClassifier`` (``load_from``), or as backbone
weights with ``init_cfg=dict(type='Pretrained', checkpoint=DST,
prefix='backbone.')`` in detection/segmentation configs.

The source is read with ``torch.load(weights_only=True)``: no code in the
file is executed. With ``--arch`` the result is checked against a RevCol of
that arch built on the meta device (every key present, shapes equal), with
the kernel size read from the checkpoint.
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

BACKBONE = re.compile(r'^(stem\.|subnet\d+\.)')
HEAD = re.compile(r'^(cls|cls_blocks|decoder_blocks)\.')
DEAD_ALPHA = re.compile(r'^subnet0\.alpha[0-3]$')
DWCONV = re.compile(r'\.blocks\.\d+\.dwconv\.weight$')


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


def kernel_size_of(state_dict):
    """Depthwise kernel size of a (converted) RevCol state dict, or None."""
    sizes = {v.shape[-1] for k, v in state_dict.items() if DWCONV.search(k)}
    if len(sizes) > 1:
        raise ValueError(f'mixed depthwise kernel sizes {sorted(sizes)}')
    return sizes.pop() if sizes else None


def pad_kernels(state_dict, kernel_size):
    """Zero-pad every depthwise kernel to ``kernel_size`` (centred); the
    function is unchanged since RevCol pads each conv by (k - 1) / 2."""
    out = OrderedDict()
    for key, value in state_dict.items():
        if DWCONV.search(key):
            k = value.shape[-1]
            if kernel_size < k or (kernel_size - k) % 2:
                raise ValueError(f'cannot pad a {k}x{k} kernel to '
                                 f'{kernel_size}x{kernel_size}')
            p = (kernel_size - k) // 2
            value = torch.nn.functional.pad(value, (p, p, p, p))
        out[key] = value
    return out


def check_against_model(converted, arch, num_classes=None,
                        inter_supv=False, kernel_size=None):
    """Compare with a meta-device RevCol (+ RevColClsHead when the
    checkpoint has a head); raise listing missing/unexpected keys.
    ``kernel_size`` defaults to the checkpoint's."""
    from projects.revcol import RevCol, RevColClsHead
    if kernel_size is None:
        kernel_size = kernel_size_of(converted)
    with torch.device('meta'):
        backbone = RevCol(arch=arch, inter_supv=inter_supv,
                          kernel_size=kernel_size)
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
    parser.add_argument('--pad-kernel', type=int, metavar='K',
                        help='zero-pad the depthwise kernels to KxK (e.g. 7 '
                        'for a 3x3 RevCol-H checkpoint into arch h)')
    args = parser.parse_args(argv)
    ckpt = load_checkpoint_or_exit(args.src)
    converted, dropped = convert(extract_state_dict(ckpt))
    if args.pad_kernel:
        try:
            converted = pad_kernels(converted, args.pad_kernel)
        except ValueError as e:
            parser.exit(2, f'error: {e}\n')
    if args.arch:
        head = [k for k in converted if k.startswith('head.')]
        inter = any(k.startswith('head.cls_blocks.') for k in head)
        num_classes = None
        for k in head:
            if k.endswith('classifier.1.weight'):
                num_classes = converted[k].shape[0]
        check_against_model(converted, args.arch, num_classes, inter)
    meta = dict(source=str(args.src), converter=Path(__file__).name, dropped=dropped)
    atomic_torch_save(dict(state_dict=converted, meta=meta), args.dst)
    print(f'{len(converted)} tensors written to {args.dst}; dropped '
          f'{len(dropped)} (first-column alphas)')


if __name__ == '__main__':
    main()
