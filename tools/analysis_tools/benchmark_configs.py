"""Inference time, training-step time and peak memory of configs, as ratios
to the first config measured in the same run.

    python tools/analysis_tools/benchmark_configs.py CONFIG [CONFIG ...]
        [--batch-size 2] [--iters 3] [--warmup 1] [--device cpu|cuda]
        [--threads 1] [--data-root DIR] [--out rows.json]

Every config is measured in this process, in the order given, on batches of
its own train / val pipelines: on its data root, on ``--data-root``, or,
when its root is missing, on a small synthetic dataset of the same format
(COCO, ADE20K, ImageNet, nuScenes) written to a temporary directory.
``--warmup`` untimed calls, then the median of ``--iters`` timed
``test_step`` (inference) and ``train_step`` (forward + backward + optimizer
step) calls, then one call of each under a memory probe:
``torch.cuda.max_memory_allocated`` above the start on CUDA, the peak of the
live tensors on the CPU (see ``projects/analysis/memory.py``). A config that
fails gets an error row; the first config measured is the baseline of the
ratios. CPU timings on a shared machine are noisy; compare ratios within
one run.
"""
import argparse
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from projects.run_config import error_exit  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('configs', nargs='+', help='config files; the first '
                        'one measured is the baseline')
    parser.add_argument('--batch-size', type=int, default=2)
    parser.add_argument('--iters', type=int, default=3)
    parser.add_argument('--warmup', type=int, default=1)
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--threads', type=int, default=1,
                        help='torch CPU threads')
    parser.add_argument('--data-root', help='dataset root for every config')
    parser.add_argument('--out', help='also write the rows as JSON here')
    args = parser.parse_args(argv)
    if min(args.batch_size, args.iters) < 1 or args.warmup < 0:
        parser.error('--batch-size and --iters must be >= 1, --warmup >= 0')
    return args


def main(argv=None):
    args = parse_args(argv)
    import torch

    from projects.analysis.samples import load_analysis_config, quiet_logs
    from projects.analysis.timing import (format_table, measure_config,
                                          prepare_data)
    for config in args.configs:
        if not Path(config).is_file():
            error_exit(config, FileNotFoundError(
                f'config file {config} does not exist'))
    if args.data_root and not Path(args.data_root).is_dir():
        error_exit(args.data_root, FileNotFoundError(
            f'data root {args.data_root} does not exist'))
    torch.set_num_threads(args.threads)
    quiet_logs()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for config in args.configs:
            try:
                cfg = load_analysis_config(config)
                prepare_data(cfg, args.data_root, tmp)
                row = measure_config(cfg, args.batch_size, args.iters,
                                     args.warmup, args.device)
            except Exception as err:  # one broken config: an error row
                msg = str(err).strip().splitlines() or ['']
                row = dict(error=f'{type(err).__name__}: {msg[0]}')
            rows.append(dict(config=config, **row))
            print(f'{config}: {rows[-1]}', file=sys.stderr)
    print(f'batch {args.batch_size}, median of {args.iters} after '
          f'{args.warmup} warm-up, device {args.device}, {args.threads} '
          f'thread(s); ratios against the first config measured')
    print(format_table(rows))
    if args.out:
        Path(args.out).write_text(json.dumps(rows, indent=2))
    return rows


if __name__ == '__main__':
    main()
