"""Parameters and FLOPs of a config's model (det, seg, cls, SSL, BEV).

    python tools/analysis_tools/get_flops.py CONFIG [--shape H W]
        [--out result.json] [--cfg-options k=v ...]

Counts with mmengine's ``get_model_complexity_info`` on one random image
(or one random multi-camera BEV sample) sent through the model's
``data_preprocessor``; what is counted for each task is printed (see
``projects/analysis/complexity.py``). ``--shape`` defaults to the size the
config's test pipeline produces. A model with an InternImage backbone also
gets the official InternImage count (``projects/internimage/complexity.py``).
"""
import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from mmengine.config import DictAction  # noqa: E402

from projects.run_config import error_exit  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', help='config file path')
    parser.add_argument('--shape', type=int, nargs='+', metavar='H W',
                        help='input size (H W, or one number for a square)')
    parser.add_argument('--out', help='also write the result as JSON here')
    parser.add_argument('--no-full-bev', action='store_true',
                        help='BEV models: count only the image backbone+neck')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, key=value')
    args = parser.parse_args(argv)
    if args.shape is not None:
        if len(args.shape) not in (1, 2) or min(args.shape) < 1:
            parser.error(f'--shape takes H W or one size, got {args.shape}')
        args.shape = tuple(args.shape) * (3 - len(args.shape))
    return args


def main(argv=None):
    args = parse_args(argv)
    from projects.analysis.complexity import (format_complexity,
                                              model_complexity)
    from projects.analysis.samples import load_analysis_config, quiet_logs
    quiet_logs()
    try:
        cfg = load_analysis_config(args.config, args.cfg_options)
        result = model_complexity(cfg, args.shape,
                                  full_bev=not args.no_full_bev)
    except (FileNotFoundError, KeyError, ValueError) as err:
        error_exit(args.config, err)
    print(format_complexity(result, args.config))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(dict(config=args.config,
                                                  **result), indent=2))
    return result


if __name__ == '__main__':
    main()
