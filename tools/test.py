"""Evaluate a checkpoint with the test split of a config.

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--out preds.pkl]
        [--show-dir DIR] [--tta] [--allow-mismatch] [--cfg-options k=v ...]
        [--launcher pytorch]

The metrics are printed and written to ``<work_dir>/<timestamp>/metrics.json``
with ``checkpoint_keys``: how many model keys the checkpoint filled and which
it lacked or held with another shape. A checkpoint that fills fewer than half
of the model keys, or none of a top-level module (a checkpoint of another
model), is refused unless ``--allow-mismatch`` is given.
"""
import argparse
import inspect
import json
import os.path as osp
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from projects.run_config import (add_common_args, build_runner,  # noqa: E402
                                 error_exit, load_config, write_json_atomic)
from projects.run_config.cli import set_local_rank  # noqa: E402
from projects.config_validation import validate_config  # noqa: E402
from projects.config_validation.type_check import (  # noqa: E402
    resolve, scope_registries)
from projects.stack_compat import UnsafeCheckpointError  # noqa: E402
from projects.training_guards import (  # noqa: E402
    CheckpointMismatchError, check_checkpoint, storage_error_message)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Test (evaluate) a model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--out', help='dump the predictions to this pickle')
    parser.add_argument('--show-dir', help='write visualised predictions '
                        'to this directory (inside the work dir)')
    parser.add_argument('--tta', action='store_true',
                        help='test-time augmentation (tta_model/tta_pipeline)')
    parser.add_argument('--allow-mismatch', action='store_true',
                        help='evaluate even when most model keys, or a whole '
                        'module, are missing from the checkpoint or have '
                        'another shape there')
    add_common_args(parser)
    args = parser.parse_args(argv)
    set_local_rank(args)
    return args


def apply_test_flags(cfg, args):
    """Apply the checkpoint, --out, --show-dir and --tta to ``cfg``."""
    cfg.load_from = args.checkpoint
    if args.out:
        if not args.out.endswith(('.pkl', '.pickle')):
            raise ValueError(f'--out must be a .pkl or .pickle file, got '
                             f'{args.out}')
        dump = 'DumpDetResults' if cfg.get('default_scope') == 'mmdet' \
            else 'DumpResults'
        evaluators = cfg.test_evaluator
        if not isinstance(evaluators, (list, tuple)):
            evaluators = [evaluators]
        cfg.test_evaluator = list(evaluators) + [
            dict(type=dump, out_file_path=args.out)]
    if args.show_dir:
        enable_visualization(cfg, args.show_dir)
    if args.tta:
        if 'tta_model' not in cfg or 'tta_pipeline' not in cfg:
            raise KeyError('--tta needs tta_model and tta_pipeline in the '
                           'config')
        cfg.test_dataloader.dataset.pipeline = cfg.tta_pipeline
        cfg.tta_model.module = cfg.model
        cfg.model = cfg.tta_model


def enable_visualization(cfg, show_dir):
    """Turn on the config's visualization hook and point it at ``show_dir``."""
    hook = cfg.get('default_hooks', {}).get('visualization')
    if not hook:
        raise KeyError('--show-dir needs default_hooks.visualization in the '
                       'config')
    scope = hook.get('_scope_', cfg.get('default_scope', 'mmengine'))
    (hook_cls, *_) = resolve(hook['type'], scope_registries(scope))
    params = inspect.signature(hook_cls).parameters
    hook['draw' if 'draw' in params else 'enable'] = True
    hook['test_out_dir' if 'test_out_dir' in params else 'out_dir'] = show_dir


def main(argv=None):
    args = parse_args(argv)
    try:
        cfg = load_config(args.config, args.cfg_options, args.work_dir,
                          args.launcher)
        if not osp.isfile(args.checkpoint):
            raise FileNotFoundError(f'checkpoint {args.checkpoint} does not '
                                    'exist')
        apply_test_flags(cfg, args)
        validate_config(cfg, ('test',), source=args.config)
    except (ValueError, KeyError, FileNotFoundError, RuntimeError) as err:
        error_exit(args.config, err)
    try:
        runner = build_runner(cfg, evaluate=True)
        keys = check_checkpoint(runner.model, args.checkpoint,
                                args.allow_mismatch)
        if keys.missing or keys.mismatched:
            runner.logger.warning(f'checkpoint {args.checkpoint}: '
                                  f'{keys.summary()}')
        metrics = runner.test()
        metrics = {k: float(v) if hasattr(v, '__float__') else v
                   for k, v in metrics.items()}
        print(f'metrics: {json.dumps(metrics)}')  # kept if the file fails
        metrics['checkpoint_keys'] = keys.as_dict()
        write_json_atomic(osp.join(runner.log_dir, 'metrics.json'), metrics)
    except (UnsafeCheckpointError, CheckpointMismatchError) as err:
        error_exit(args.config, err)
    except OSError as err:
        message = storage_error_message(err, cfg.work_dir,
                                        checkpoint=args.checkpoint)
        if message is None:
            raise
        error_exit(args.config, message)
    print(f'metrics written to {osp.join(runner.log_dir, "metrics.json")}')
    return metrics


if __name__ == '__main__':
    main()
