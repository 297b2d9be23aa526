"""Write the BEVFormer v2 infos files of a nuScenes root (nuscenes-devkit).

Examples::

    python tools/dataset_converters/create_nuscenes_infos.py \
        --root data/nuscenes --version v1.0-trainval
    python tools/dataset_converters/create_nuscenes_infos.py \
        --root data/nuscenes --version v1.0-mini --splits train=mini_train val=mini_val

Writes ``nuscenes_infos_<split>.json`` (JSON, never pickle) to ``--out-dir``
(default: the root). Default splits: train/val for v1.0-trainval,
mini_train/mini_val for v1.0-mini, test for v1.0-test, and for any other
version the ``*_train``/``*_val``/``*_test`` keys of ``<version>/splits.json``
(the synthetic set). See projects/bevformer_v2/DATA.md for the format.
"""
import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from projects.bevformer_v2.datasets.converter import \
    create_nuscenes_infos  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--root', required=True, help='nuScenes root')
    parser.add_argument('--version', default='v1.0-trainval')
    parser.add_argument('--out-dir', default=None,
                        help='where to write the infos (default: --root)')
    parser.add_argument('--splits', nargs='+', default=None,
                        metavar='NAME=DEVKIT_SPLIT',
                        help='infos split name = devkit split name')
    parser.add_argument('--no-check-files', action='store_true',
                        help='do not require the LIDAR_TOP files on disk '
                        '(camera-only downloads)')
    args = parser.parse_args(argv)
    if args.splits is not None:
        pairs = [s.split('=') for s in args.splits]
        if any(len(p) != 2 or not all(p) for p in pairs):
            parser.error(f'--splits expects NAME=DEVKIT_SPLIT, got {args.splits}')
        args.splits = dict(pairs)
    return args


def main(argv=None):
    args = parse_args(argv)
    start = time.time()
    paths = create_nuscenes_infos(args.root, args.version, args.out_dir,
                                  args.splits,
                                  check_files=not args.no_check_files)
    for name, path in paths.items():
        print(f'{name}: {path}')
    print(f'done in {time.time() - start:.1f}s')


if __name__ == '__main__':
    main()
