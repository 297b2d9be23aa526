"""Extract the backbone of a (self-supervised) checkpoint for downstream
configs and report how its keys match a target config's backbone.

    python tools/model_converters/extract_backbone.py SSL_CKPT OUT.pth \
        [--src-prefix backbone.] [--out-prefix backbone.] \
        [--target-config mmdet_or_mmseg_config.py ...] \
        [--cfg-options model.backbone.depth=18 ...] [--strict]

OUT.pth holds only the backbone, keyed ``<out-prefix><key>`` (default
``backbone.``), which downstream configs load with::

    model = dict(backbone=dict(init_cfg=dict(
        type='Pretrained', checkpoint='OUT.pth', prefix='backbone.')))

``--src-prefix`` defaults to auto-detection (``backbone.`` for mmpretrain /
mmselfsup checkpoints, then ``module.backbone.``, MoCo's ``encoder_q.`` ...);
``target_net.module.0.`` takes mmpretrain's momentum encoder instead. With
``--target-config`` the backbone of each config is built (in its own
default scope, no weights loaded) and the missing / unexpected keys and
shape mismatches are listed; ``--strict`` exits with 1 if any backbone key
is missing or mismatched.
"""
import argparse
import pickle
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from mmengine.config import DictAction  # noqa: E402

from projects.training_guards import atomic_torch_save  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('checkpoint')
    parser.add_argument('out')
    parser.add_argument('--src-prefix', default=None)
    parser.add_argument('--out-prefix', default='backbone.')
    parser.add_argument('--target-config', nargs='+', default=[])
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='overrides applied to every target config')
    parser.add_argument('--strict', action='store_true')
    args = parser.parse_args(argv)

    from projects.ssl_eval.handoff import (
        backbone_key_report,
        build_config_backbone,
        detect_prefix,
        extract_backbone,
        format_report,
        load_state_dict,
        strip_prefix,
    )
    try:
        state = load_state_dict(args.checkpoint)
    except (FileNotFoundError, ValueError, pickle.UnpicklingError) as err:
        sys.exit(f'error: {err}')
    src = args.src_prefix
    if src is None:
        src = detect_prefix(state)
    weights = extract_backbone(state, src, args.out_prefix)
    meta = dict(source=str(args.checkpoint), src_prefix=src, prefix=args.out_prefix)
    atomic_torch_save(dict(state_dict=weights, meta=meta), args.out)
    print(f'{args.out}: {len(weights)} backbone tensors from '
          f'{args.checkpoint} ({src!r} -> {args.out_prefix!r}); load with '
          f"init_cfg=dict(type='Pretrained', checkpoint='{args.out}', "
          f"prefix='{args.out_prefix}')")
    failed = False
    plain = strip_prefix(weights, args.out_prefix)
    for config in args.target_config:
        backbone, _ = build_config_backbone(config, args.cfg_options)
        report = backbone_key_report(plain, backbone)
        print(format_report(report, f'{config} ({type(backbone).__name__}): '))
        failed |= bool(report['missing'] or report['shape_mismatch'])
    return 1 if (failed and args.strict) else 0


if __name__ == '__main__':
    sys.exit(main())
