"""Train a model from a VisionPlug (or any OpenMMLab) config.

    python tools/train.py CONFIG [--work-dir DIR] [--resume [CKPT]] [--amp]
        [--auto-scale-lr] [--cfg-options k=v ...] [--launcher pytorch]
        [--strategy ddp|fsdp|deepspeed]
"""
import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from projects.run_config import (STRATEGIES, add_common_args,  # noqa: E402
                                 apply_strategy, build_runner, error_exit,
                                 load_config)
from projects.run_config.cli import set_local_rank  # noqa: E402
from projects.config_validation import validate_config  # noqa: E402
from projects.stack_compat import UnsafeCheckpointError  # noqa: E402
from projects.training_guards import (  # noqa: E402
    NonFiniteLossError, storage_error_message)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Train a model')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--amp', action='store_true',
                        help='automatic mixed precision (needs a GPU)')
    parser.add_argument('--auto-scale-lr', action='store_true',
                        help='scale the LR by the actual total batch size')
    parser.add_argument(
        '--resume', nargs='?', type=str, const='auto',
        help='resume from this checkpoint, or without a path from the '
        'latest checkpoint in the work directory')
    parser.add_argument(
        '--strategy', choices=sorted(STRATEGIES),
        help="train with mmengine's FlexibleRunner and this strategy (needs "
        "--launcher pytorch); a config's own strategy settings are kept")
    add_common_args(parser)
    args = parser.parse_args(argv)
    set_local_rank(args)
    return args


def apply_train_flags(cfg, args):
    """Apply --amp, --auto-scale-lr and --resume to ``cfg`` in place."""
    if args.amp:
        import torch
        if not torch.cuda.is_available():
            raise RuntimeError('--amp needs a CUDA GPU (mmengine\'s '
                               'AmpOptimWrapper); none is available')
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.loss_scale = 'dynamic'
    if args.auto_scale_lr:
        scale = cfg.get('auto_scale_lr') or {}
        if 'base_batch_size' not in scale:
            raise KeyError('--auto-scale-lr needs auto_scale_lr.base_batch_'
                           'size in the config')
        cfg.auto_scale_lr.enable = True
    hooks = list(cfg.get('custom_hooks') or [])
    if not any(h.get('type') == 'FiniteLossHook' for h in hooks):
        # a NaN/Inf loss stops training before the bad update is applied
        cfg.custom_hooks = hooks + [dict(type='FiniteLossHook')]
    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        cfg.resume = True
        cfg.load_from = args.resume


def main(argv=None):
    args = parse_args(argv)
    try:
        cfg = load_config(args.config, args.cfg_options, args.work_dir,
                          args.launcher)
        apply_train_flags(cfg, args)
        apply_strategy(cfg, args.strategy, source=args.config)
        splits = ('train', 'val') if cfg.get('val_cfg') else ('train',)
        validate_config(cfg, splits, source=args.config)
    except (ValueError, KeyError, FileNotFoundError, RuntimeError) as err:
        error_exit(args.config, err)
    try:
        runner = build_runner(cfg)
        runner.train()
    except (UnsafeCheckpointError, NonFiniteLossError) as err:
        error_exit(args.config, err)
    except OSError as err:  # a read-only or full work dir: one line
        message = storage_error_message(err, cfg.work_dir)
        if message is None:
            raise
        error_exit(args.config, message)


if __name__ == '__main__':
    main()
