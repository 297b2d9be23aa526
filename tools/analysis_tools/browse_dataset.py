"""Draw dataset samples after the config's pipeline (det boxes, seg masks,
class labels, BEVFormer v2 multi-camera samples with a BEV plot).

    python tools/analysis_tools/browse_dataset.py CONFIG --out-dir DIR
        [--num 5] [--phase train|val] [--data-root DIR] [--cfg-options ...]

One PNG per sample. Detection: mmdet's DetLocalVisualizer; segmentation:
mmseg's SegLocalVisualizer; classification: mmpretrain's UniversalVisualizer;
BEV: the 3D GT boxes projected into every camera with the sample's
``lidar2img`` (front face crossed) plus a top-down plot
(``projects/analysis/bev_drawing.py``).
"""
import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from mmengine.config import DictAction  # noqa: E402

from projects.run_config import error_exit  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', help='config file path')
    parser.add_argument('--out-dir', required=True, help='where to write')
    parser.add_argument('--num', type=int, default=5, help='samples to draw')
    parser.add_argument('--phase', choices=['train', 'val', 'test'],
                        default='train', help='which dataloader\'s dataset')
    parser.add_argument('--data-root', help='dataset root to use instead of '
                        'the config\'s')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, key=value')
    args = parser.parse_args(argv)
    if args.num < 1:
        parser.error(f'--num must be >= 1, got {args.num}')
    return args


def main(argv=None):
    args = parse_args(argv)
    from projects.analysis.browsing import browse_dataset
    from projects.analysis.samples import load_analysis_config, quiet_logs
    quiet_logs()
    try:
        cfg = load_analysis_config(args.config, args.cfg_options)
        results = browse_dataset(cfg, args.out_dir, args.num, args.phase,
                                 args.data_root)
    except (FileNotFoundError, KeyError, ValueError) as err:
        error_exit(args.config, err)
    for r in results:
        print(f'{r["task"]}: {r["out_file"]}')
    return results


if __name__ == '__main__':
    main()
