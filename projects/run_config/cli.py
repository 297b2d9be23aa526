"""Command-line flags common to the train and test tools."""
import os
import sys

from mmengine.config import DictAction


def add_common_args(parser):
    """Add ``--work-dir --cfg-options --launcher --local-rank`` to ``parser``."""
    parser.add_argument('--work-dir', help='directory for logs, checkpoints '
                        'and results (default: ./work_dirs/<config name>)')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override config settings, key=value (lists: key="[a,b]" or '
        'key=a,b; no white space)')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm',
                                               'mpi'], default='none',
                        help='job launcher')
    # torchrun and torch.distributed.launch pass --local-rank (or set LOCAL_RANK)
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    return parser


def set_local_rank(args):
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)


def error_exit(config, err):
    """Exit with status 2 and a one-paragraph message instead of a traceback."""
    sys.stderr.write(f'error: {err}\n' if str(config) in str(err)
                     else f'error ({config}): {err}\n')
    sys.exit(2)
