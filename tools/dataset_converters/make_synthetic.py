"""Generate a synthetic dataset in a real format.

Example::

    python tools/dataset_converters/make_synthetic.py coco \
        --out data/synthetic_coco --num-train 200 --num-val 50 --size 128 128
    python tools/dataset_converters/make_synthetic.py nuscenes \
        --out data/synthetic_nuscenes --num-train 8 --num-val 2 --size 90 160
    python tools/dataset_converters/make_synthetic.py cityscapes \
        --out data/cityscapes --num-train 2 --num-val 2 --real-size
    python tools/dataset_converters/make_synthetic.py ssl_patterns \
        --out data/ssl_patterns --num-train 600 --num-val 300 --size 40 40

For ``nuscenes`` the counts are SCENES (4 key frames each) and the root also
gets the infos files (``nuscenes_infos_{train,val}.json``).
"""
import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from projects.synthetic_data import GENERATORS, REAL_SIZES  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[1])
    parser.add_argument('kind', choices=sorted(GENERATORS))
    parser.add_argument('--out', required=True, help='dataset root to write')
    parser.add_argument('--num-train', type=int, default=200)
    parser.add_argument('--num-val', type=int, default=50)
    size = parser.add_mutually_exclusive_group()
    size.add_argument('--size', type=int, nargs=2, default=[128, 128],
                      metavar=('H', 'W'))
    size.add_argument('--real-size', action='store_true',
                      help='the real dataset\'s image size '
                      '(nuScenes 900 x 1600, Cityscapes 1024 x 2048, ...)')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--num-classes', type=int, default=None,
                        help='drawn classes (coco, imagenet, ssl_patterns)')
    parser.add_argument('--palette', type=int, default=None,
                        help='ssl_patterns: colour pairs shared by all '
                        'images (default 4; 0: independent random colours)')
    args = parser.parse_args(argv)
    if args.real_size:
        args.size = list(REAL_SIZES[args.kind])
    if args.num_train < 1 or args.num_val < 1:
        parser.error('--num-train and --num-val must be >= 1')
    if min(args.size) < 32:
        parser.error(f'--size must be at least 32 x 32, got {args.size}')
    if args.kind == 'ssl_patterns' and args.size[0] != args.size[1]:
        parser.error(f'ssl_patterns images are square, got --size {args.size}')
    if args.palette is not None and args.kind != 'ssl_patterns':
        parser.error(f'--palette does not apply to {args.kind}')
    if args.num_classes is not None and \
            args.kind not in ('coco', 'imagenet', 'ssl_patterns'):
        parser.error(f'--num-classes does not apply to {args.kind}')
    return args


def main(argv=None):
    args = parse_args(argv)
    kwargs = dict(size=tuple(args.size), seed=args.seed)
    if args.num_classes is not None:
        kwargs['num_classes'] = args.num_classes
    if args.palette is not None:
        kwargs['palette'] = args.palette
    start = time.time()
    root = GENERATORS[args.kind](args.out, args.num_train, args.num_val,
                                 **kwargs)
    print(f'wrote synthetic {args.kind} ({args.num_train} train / '
          f'{args.num_val} val, {args.size[0]}x{args.size[1]}) to {root} '
          f'in {time.time() - start:.1f}s')


if __name__ == '__main__':
    main()
