"""Plot curves from and time training runs of mmengine's JSON logs.

    python tools/analysis_tools/analyze_logs.py plot_curve LOG.json [LOG ...]
        [--keys loss mIoU] [--legend run1 run2] [--title T] [--out curve.png]
    python tools/analysis_tools/analyze_logs.py cal_train_time LOG.json [...]
        [--include-outliers]

LOG is ``<work_dir>/<timestamp>/vis_data/scalars.json`` (or the
``<timestamp>.json`` next to it): one JSON dict per line. Several logs are
overlaid, one panel per key; a key may omit its metric prefix
(``bbox_mAP`` for ``coco/bbox_mAP``). A missing file, a malformed line or an
unknown key exits with status 2 and a message naming the file (and line, or
the available keys).
"""
import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from projects.analysis.logs import (format_train_time, load_log,  # noqa: E402
                                    plot_curves, train_time)
from projects.run_config import error_exit  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    sub = parser.add_subparsers(dest='task', required=True)
    plot = sub.add_parser('plot_curve', help='plot keys of one or more logs')
    plot.add_argument('json_logs', nargs='+')
    plot.add_argument('--keys', nargs='+', default=['loss'])
    plot.add_argument('--legend', nargs='+', help='one label per log')
    plot.add_argument('--title')
    plot.add_argument('--out', default='curve.png', help='image to write')
    timing = sub.add_parser('cal_train_time', help='seconds per iteration')
    timing.add_argument('json_logs', nargs='+')
    timing.add_argument('--include-outliers', action='store_true',
                        help='keep the first logged window (warm-up)')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    current = args.json_logs[0]
    try:
        if args.task == 'plot_curve':
            for current in args.json_logs:
                load_log(current)  # errors name this log
            current = ' '.join(args.json_logs)
            data = plot_curves(args.json_logs, args.keys, args.out,
                               args.legend, args.title)
            print(f'saved {", ".join(data)} of {len(args.json_logs)} log(s) '
                  f'to {args.out}')
            return data
        results = {}
        for current in args.json_logs:
            stats = train_time(load_log(current), current,
                               args.include_outliers)
            print(format_train_time(current, stats))
            results[current] = stats
        return results
    except (FileNotFoundError, ValueError, KeyError) as err:
        error_exit(current, err)


if __name__ == '__main__':
    main()
