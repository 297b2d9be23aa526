"""Draw a checkpoint's predictions next to the ground truth on validation
samples (det, seg, cls, BEVFormer v2).

    python tools/analysis_tools/visualize_predictions.py CONFIG CHECKPOINT
        --out-dir DIR [--num 5] [--score-thr 0.3] [--data-root DIR]
        [--device cpu] [--cfg-options ...]

One PNG per sample, drawn as ``browse_dataset.py`` draws (GT left,
prediction right for det / seg; GT green and predictions red for BEV, in the
cameras and the BEV plot). Predictions below ``--score-thr`` are not drawn.
"""
import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from mmengine.config import DictAction  # noqa: E402

from projects.run_config import error_exit  # noqa: E402
from projects.stack_compat import UnsafeCheckpointError  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', help='config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--out-dir', required=True, help='where to write')
    parser.add_argument('--num', type=int, default=5, help='samples to draw')
    parser.add_argument('--score-thr', type=float, default=0.3)
    parser.add_argument('--data-root', help='dataset root to use instead of '
                        'the config\'s')
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, key=value')
    args = parser.parse_args(argv)
    if args.num < 1:
        parser.error(f'--num must be >= 1, got {args.num}')
    return args


def main(argv=None):
    args = parse_args(argv)
    from projects.analysis.browsing import visualize_predictions
    from projects.analysis.samples import load_analysis_config, quiet_logs
    quiet_logs()
    where = args.config
    try:
        cfg = load_analysis_config(args.config, args.cfg_options)
        where = args.checkpoint
        if not Path(args.checkpoint).is_file():
            raise FileNotFoundError(
                f'checkpoint {args.checkpoint} does not exist')
        where = args.config
        results = visualize_predictions(cfg, args.checkpoint, args.out_dir,
                                        args.num, args.score_thr,
                                        args.data_root, args.device)
    except (FileNotFoundError, KeyError, ValueError,
            UnsafeCheckpointError) as err:
        error_exit(where, err)
    for r in results:
        print(f'{r["task"]}: {r["out_file"]}')
    return results


if __name__ == '__main__':
    main()
