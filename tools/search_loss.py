"""Search the parameters of a searched loss (PAP, Auto Seg-Loss).

    python tools/search_loss.py CONFIG [--work-dir DIR] [--resume]
        [--cfg-options k=v ...] [--launcher {none,pytorch,slurm}]

Many machines: ``tools/misc/dist_launch.sh search_loss.py GPUS CONFIG ...``
(torchrun; on several nodes with NNODES, NODE_RANK, MASTER_ADDR and PORT as
for tools/dist_train.sh) or ``tools/misc/slurm_launch.sh PARTITION JOB
search_loss.py CONFIG ...``; rank r evaluates the samples r, r + W, ... of
every round, rank 0 writes the files, and the result is the single-process
search's. See projects/loss_search/README.md.
"""
import argparse
import os
import os.path as osp
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from projects.run_config import (add_common_args, error_exit,  # noqa: E402
                                 load_config)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Search loss parameters')
    parser.add_argument('config', help='search config (a proxy training '
                        'config with a loss_search section)')
    parser.add_argument('--resume', action='store_true',
                        help='continue the search in --work-dir where it '
                        'stopped')
    add_common_args(parser)
    return parser.parse_args(argv)


def init_distributed(launcher):
    """Join the process group of torchrun or slurm (gloo: the search process
    only exchanges small objects; the proxy runs use the GPUs)."""
    if launcher == 'none':
        return
    import torch.distributed as dist
    if launcher == 'slurm':
        env = os.environ
        env.setdefault('RANK', env['SLURM_PROCID'])
        env.setdefault('WORLD_SIZE', env['SLURM_NTASKS'])
        env.setdefault('LOCAL_RANK', env.get('SLURM_LOCALID', '0'))
        if 'MASTER_ADDR' not in env:
            env['MASTER_ADDR'] = subprocess.getoutput(
                f"scontrol show hostname {env['SLURM_NODELIST']} | head -n1")
        env.setdefault('MASTER_PORT', env.get('PORT', '29500'))
    elif launcher != 'pytorch':
        raise ValueError(f'unsupported launcher {launcher!r}')
    dist.init_process_group('gloo')


def main(argv=None):
    args = parse_args(argv)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    from projects.loss_search import LossSearch
    try:
        cfg = load_config(args.config, args.cfg_options, args.work_dir)
        work_dir = args.work_dir or osp.join(
            './work_dirs/loss_search',
            osp.splitext(osp.basename(args.config))[0])
        search = LossSearch(cfg, work_dir, config_name=args.config)
    except (ValueError, KeyError, FileNotFoundError) as err:
        error_exit(args.config, err)
    init_distributed(args.launcher)
    search.dist = type(search.dist)()
    try:
        state = search.run(resume=args.resume)
    except (ValueError, FileExistsError) as err:
        error_exit(args.config, err)
    if search.dist.rank == 0:
        best = search.best()
        print(f"search finished: {state['round']} rounds in {work_dir}; "
              f"parameters of the policy mean in {work_dir}/result/"
              + ('' if best is None else
                 f"; best sample reward {best['reward']:.4g} "
                 f"({work_dir}/best/)"))


if __name__ == '__main__':
    main()
