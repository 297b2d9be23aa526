"""Benchmark how pre-trained backbones transfer to downstream tasks.

    python tools/benchmark_transfer.py PROTOCOL --pretrained [NAME=]CKPT ...
        [--work-dir work_dirs/transfer/<protocol>] [--launcher local|torchrun|slurm]
        [--gpus 8] [--partition P] [--tasks a b] [--dry-run]
        [--seeds 0 1 2 | --num-seeds 3]

PROTOCOL: configs/benchmark/*.py|yaml (downstream configs + equalised
settings). --pretrained takes checkpoints (NAME=path, or a path: NAME = file
stem) or zoo pre-training entries (ENTRY or ENTRY=CKPT: its backbone is
swapped into each downstream config). Evaluation-only tasks (kNN configs
with a KNNTestLoop) are built with the pre-trained backbone and tested,
never trained. --seeds / --num-seeds: every (checkpoint, task) pair runs
once per seed (randomness.seed; runs in <pretrained>/<task>/seed<k>/) and
the table and plot report mean ± std over the seeds. Finished runs (seeds)
are skipped, unfinished ones resumed; results go to
<work-dir>/results.{md,csv,json,png} and results_summary.json.
"""
import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from projects.transfer_benchmark import (LAUNCHERS, Launcher,  # noqa: E402
                                         ProtocolError, TransferBenchmark,
                                         load_protocol, parse_pretrained,
                                         write_report)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('protocol', help='configs/benchmark/<protocol>.py')
    parser.add_argument('--pretrained', nargs='+', required=True,
                        help='[NAME=]CHECKPOINT or ZOO_ENTRY[=CHECKPOINT]')
    parser.add_argument('--work-dir', help='default: '
                        'work_dirs/transfer/<protocol>')
    parser.add_argument('--tasks', nargs='+', help='only these tasks')
    parser.add_argument('--launcher', choices=LAUNCHERS, default='local')
    parser.add_argument('--gpus', type=int, default=1,
                        help='processes per run (torchrun, slurm)')
    parser.add_argument('--partition', help='slurm partition')
    parser.add_argument('--dry-run', action='store_true',
                        help='print the commands, run nothing')
    seeds = parser.add_mutually_exclusive_group()
    seeds.add_argument('--seeds', type=int, nargs='+',
                       help='run every pair once per seed')
    seeds.add_argument('--num-seeds', type=int,
                       help='seeds 0 .. N-1')
    args = parser.parse_args(argv)
    if args.num_seeds is not None:
        if args.num_seeds < 1:
            parser.error(f'--num-seeds must be >= 1, got {args.num_seeds}')
        args.seeds = list(range(args.num_seeds))
    if args.seeds is not None and len(set(args.seeds)) != len(args.seeds):
        parser.error(f'--seeds must be distinct, got {args.seeds}')
    return args


def main(argv=None):
    args = parse_args(argv)
    try:
        protocol = load_protocol(args.protocol)
        if args.tasks:
            unknown = set(args.tasks) - {t.name for t in protocol.tasks}
            if unknown:
                raise ProtocolError(f'unknown task(s) {sorted(unknown)}; the '
                                    f'protocol has '
                                    f'{[t.name for t in protocol.tasks]}')
            protocol.tasks = [t for t in protocol.tasks
                              if t.name in args.tasks]
        pretrained = [parse_pretrained(p) for p in args.pretrained]
        launcher = Launcher(args.launcher, gpus=args.gpus,
                            partition=args.partition,
                            job_prefix=protocol.name)
        work_dir = args.work_dir or f'work_dirs/transfer/{protocol.name}'
        bench = TransferBenchmark(protocol, pretrained, work_dir, launcher,
                                  dry_run=args.dry_run, seeds=args.seeds)
    except (ProtocolError, ValueError) as err:
        sys.stderr.write(f'error: {err}\n')
        return 2
    try:
        rows = bench.run()
    except RuntimeError as err:  # data preparation
        sys.stderr.write(f'error: {err}\n')
        return 2
    if args.dry_run:
        return 0
    rows = write_report(bench.work_dir, protocol, args.seeds)
    print((bench.work_dir / 'results.md').read_text())
    print(f'results: {bench.work_dir}/results.{{md,csv,json,png}}')
    return 1 if any(r['status'] == 'failed' for r in rows) else 0


if __name__ == '__main__':
    sys.exit(main())
