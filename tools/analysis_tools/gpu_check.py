"""Check that every zoo config trains and infers: one table of params,
training-step and inference time, peak memory, finite loss or the error.

    python tools/analysis_tools/gpu_check.py [CONFIG ...] --device cuda \\
        [--jobs 6] [--timeout 150] [--deadline 185] [--warmup 1] [--iters 1]
        [--batch-size N] [--data-root DIR] [--cache-dir DIR] [--tiny]
        [--out docs/gpu_check]

Without CONFIG arguments every non-base config under ``configs/`` is
checked (``--tiny``: only the tiny ones, the CPU mode CI runs). For each
config the model is built and, on batches of the config's own pipelines at
its real resolution (its per-GPU batch size unless ``--batch-size``), runs
``--warmup`` untimed and ``--iters`` timed training steps (forward,
backward, optimizer step, with the config's AMP setting; fp32 on the CPU)
and inference steps. A missing data root is replaced by a synthetic dataset
of the same format, written once per run into ``--cache-dir`` (real image
sizes: nuScenes cameras 1600 x 900, Cityscapes 2048 x 1024, ...). Search
configs run their proxy model, transfer suites one row per task, kNN
configs inference only (see ``projects/analysis/check_targets.py``).

``--jobs N`` worker processes share the device (timings are taken with N
configs running at once; the header says so); a config past ``--timeout``
seconds, or unfinished at ``--deadline`` seconds after the start, gets an
error row. ``<out>.md`` and ``<out>.json`` are rewritten after every config,
so a killed run leaves a partial table. Exit status 1 if a row fails.
"""
import argparse
import os
import signal
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('configs', nargs='*', help='config files (default: '
                        'every non-base config under configs/)')
    parser.add_argument('--device', default='cuda', help='cuda or cpu')
    parser.add_argument('--tiny', action='store_true',
                        help='only the tiny CPU configs (a synthetic dataset '
                        'suffix in the file name)')
    parser.add_argument('--jobs', type=int, default=1,
                        help='worker processes sharing the device')
    parser.add_argument('--timeout', type=float, default=300,
                        help='seconds per config before its worker is killed')
    parser.add_argument('--deadline', type=float, default=None,
                        help='seconds for the whole run; unfinished configs '
                        'get error rows')
    parser.add_argument('--max-heavy', type=int, default=2,
                        help='heavy (real-size, large) configs at once')
    parser.add_argument('--warmup', type=int, default=1)
    parser.add_argument('--iters', type=int, default=1)
    parser.add_argument('--batch-size', type=int, default=None,
                        help="default: each dataloader's own batch size")
    parser.add_argument('--threads', type=int, default=None,
                        help='torch CPU threads per worker (default: the '
                        'cores divided among the workers)')
    parser.add_argument('--data-root', help='dataset root for every config')
    parser.add_argument('--cache-dir', help='synthetic datasets (default: a '
                        'temporary folder removed at the end)')
    parser.add_argument('--out', default='gpu_check',
                        help='writes OUT.md and OUT.json')
    args = parser.parse_args(argv)
    if args.jobs < 1 or args.iters < 1 or args.warmup < 0:
        parser.error(f'--jobs and --iters must be >= 1 and --warmup >= 0, '
                     f'got {args.jobs}, {args.iters}, {args.warmup}')
    if args.batch_size is not None and args.batch_size < 1:
        parser.error(f'--batch-size must be >= 1, got {args.batch_size}')
    if args.timeout <= 0 or (args.deadline is not None and args.deadline <= 0):
        parser.error('--timeout and --deadline must be positive seconds')
    if args.device not in ('cpu', 'cuda') and not args.device.startswith(
            'cuda:'):
        parser.error(f"--device must be 'cpu' or 'cuda[:N]', got "
                     f'{args.device!r}')
    return args


def select_configs(args):
    """The config files to check (``FileNotFoundError`` naming a missing
    one)."""
    from projects.analysis.check_targets import zoo_configs
    configs = args.configs or zoo_configs(ROOT / 'configs')
    for config in configs:
        if not Path(config).is_file():
            raise FileNotFoundError(f'config file {config} does not exist')
    if args.tiny:
        configs = [c for c in configs if 'synthetic' in Path(c).name]
    return configs


def main(argv=None):
    args = parse_args(argv)
    from projects.analysis.check_report import ReportWriter, environment
    from projects.analysis.check_runner import run_targets
    from projects.analysis.check_targets import expand
    from projects.run_config import error_exit
    try:
        configs = select_configs(args)
    except FileNotFoundError as err:
        error_exit(err.filename or str(err), err)
    if args.data_root and not Path(args.data_root).is_dir():
        error_exit(args.data_root, FileNotFoundError(
            f'data root {args.data_root} does not exist'))
    if args.device.startswith('cuda'):
        import torch
        if not torch.cuda.is_available():
            error_exit(args.device, RuntimeError(
                f'--device {args.device} but torch {torch.__version__} sees '
                'no CUDA device (use --device cpu)'))
    start = time.time()
    targets = [t for config in configs for t in expand(config)]
    threads = args.threads or max(1, (os.cpu_count() or 1) // args.jobs)
    run = {'device': args.device, 'rows': len(targets),
           'concurrent workers': f'{args.jobs} (timings taken with '
           f'{args.jobs} configs running at once)',
           'steps': f'{args.warmup} warm-up + {args.iters} timed (median)',
           'batch': args.batch_size or "each config's own per-GPU batch",
           'data': args.data_root or 'synthetic at real resolution where '
           'the data root is missing',
           'CPU threads per worker': threads}
    writer = ReportWriter(args.out, environment(args.device), run,
                          len(targets))
    # a TERM (e.g. from `timeout`) unwinds like Ctrl-C: workers are
    # killed, unfinished rows written
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    with tempfile.TemporaryDirectory() as tmp:
        settings = dict(
            device=args.device, iters=args.iters, warmup=args.warmup,
            batch_size=args.batch_size, data_root=args.data_root,
            cache_dir=args.cache_dir or os.path.join(tmp, 'data'),
            work_dir=os.path.join(tmp, 'work'), threads=threads,
            measure='projects.analysis.check_runner:measure_target',
            # before a worker says it is ready: not in a config's timeout
            imports=('mmdet.models', 'mmseg.models', 'mmpretrain.models'))
        os.makedirs(settings['cache_dir'], exist_ok=True)

        def on_row(row):
            writer.add(row)
            state = 'ok' if not row.get('error') else row['error']
            print(f"[{len(writer.rows)}/{len(targets)} "
                  f"{time.time() - start:.0f}s] {row['config']}: {state}",
                  file=sys.stderr, flush=True)

        run_targets(targets, settings, on_row, jobs=args.jobs,
                    timeout=args.timeout,
                    deadline=args.deadline and start + args.deadline,
                    max_heavy=args.max_heavy)
    writer.run['wall time'] = f'{time.time() - start:.0f} s'
    writer.write()
    from projects.analysis.check_report import passed
    failed = [r['config'] for r in writer.rows if not passed(r)]
    print(f'{len(writer.rows) - len(failed)} of {len(writer.rows)} rows pass '
          f'in {time.time() - start:.0f} s; table: {args.out}.md')
    return writer.rows, failed


if __name__ == '__main__':
    sys.exit(1 if main()[1] else 0)
