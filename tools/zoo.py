"""Browse, check and extend the config zoo.

    python tools/zoo.py list [--task T] [--dataset D] [--backbone B] [--project P]
    python tools/zoo.py search "params<50M,task=detection"   (or free text)
    python tools/zoo.py show NAME [--key model.backbone] [--cfg-options k=v ...]
    python tools/zoo.py diff A B
    python tools/zoo.py derive BASE --backbone NAME [--pretrained CKPT] --out new.py
    python tools/zoo.py validate [--no-build] [--static]

NAME/A/B/BASE are zoo entry names (config stems) or config paths.
"""
import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mmengine.config import DictAction  # noqa: E402

from projects.zoo import (chain_lines, derive_config, diff_configs,  # noqa
                          display_path, list_configs, provenance,
                          resolve_config_path, search, validate_metafiles,
                          validate_zoo)
from projects.zoo.formatting import format_value  # noqa: E402


def _print_entries(entries, as_json=False):
    if as_json:
        import json
        print(json.dumps([dict(name=e.name, config=e.config, tasks=e.tasks,
                               datasets=e.datasets, params=e.params,
                               flops=e.flops, metrics=e.metrics,
                               reproduced=e.reproduced) for e in entries],
                         indent=2))
        return
    for entry in entries:
        print(entry.summary())
        print(f'    {entry.config}')
    print(f'{len(entries)} config(s)')


def cmd_list(args):
    _print_entries(list_configs(task=args.task, dataset=args.dataset,
                                backbone=args.backbone, project=args.project),
                   args.json)


def cmd_search(args):
    _print_entries(search(' '.join(args.query)), args.json)


def _short(value, width=100):
    text = format_value(value) if not isinstance(value, str) else repr(value)
    text = ' '.join(text.split())
    return text if len(text) <= width else text[:width - 3] + '...'


def cmd_show(args):
    path = resolve_config_path(args.name)
    _, chain, origins = provenance(path, args.cfg_options)
    print('inheritance chain:')
    print('\n'.join('  ' + line for line in chain_lines(chain)))
    print()
    keys = [k for k in origins if not args.key or k == args.key
            or k.startswith(args.key + '.')]
    if not keys:
        raise SystemExit(f'error: no key {args.key!r} in {path}')
    width = min(max(len(k) for k in keys), 48)
    for key in keys:
        value, origin = origins[key]
        where = origin if origin == '--cfg-options' else display_path(origin)
        print(f'{key:<{width}} = {_short(value)}  # {where}')


def cmd_diff(args):
    a, b = resolve_config_path(args.a), resolve_config_path(args.b)
    changes = diff_configs(a, b)
    print(f'--- {display_path(a)}\n+++ {display_path(b)}')
    for op, key, old, new in changes:
        if op == '+':
            print(f'+ {key} = {_short(new)}')
        elif op == '-':
            print(f'- {key} = {_short(old)}')
        else:
            print(f'~ {key}: {_short(old, 60)} -> {_short(new, 60)}')
    counts = {op: sum(c[0] == op for c in changes) for op in '+-~'}
    print(f'{counts["+"]} added, {counts["-"]} removed, {counts["~"]} '
          'changed')


def cmd_derive(args):
    text = derive_config(args.base, args.backbone, args.pretrained, args.out,
                         backbone_args=args.backbone_args,
                         imports=args.imports, input_size=args.input_size)
    print(text if args.out is None else f'wrote {args.out}')


def cmd_validate(args):
    if args.static:
        problems = validate_metafiles()
    else:
        problems = validate_zoo(build=not args.no_build)
    for problem in problems:
        print(problem)
    errors = sum(p.level == 'error' for p in problems)
    print(f'{errors} error(s), {len(problems) - errors} warning(s)')
    return 1 if errors else 0


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    sub = parser.add_subparsers(dest='command', required=True)
    p = sub.add_parser('list', help='list zoo entries')
    for key in ('task', 'dataset', 'backbone', 'project'):
        p.add_argument(f'--{key}')
    p.add_argument('--json', action='store_true')
    p.set_defaults(func=cmd_list)
    p = sub.add_parser('search', help='free text and conditions, e.g. '
                       '"params<50M,task=detection"')
    p.add_argument('query', nargs='+')
    p.add_argument('--json', action='store_true')
    p.set_defaults(func=cmd_search)
    p = sub.add_parser('show', help='merged config with the origin of '
                       'every key')
    p.add_argument('name')
    p.add_argument('--key', help='only this key and the keys under it')
    p.add_argument('--cfg-options', nargs='+', action=DictAction)
    p.set_defaults(func=cmd_show)
    p = sub.add_parser('diff', help='semantic diff of two merged configs')
    p.add_argument('a')
    p.add_argument('b')
    p.set_defaults(func=cmd_diff)
    p = sub.add_parser('derive', help='new config with another backbone')
    p.add_argument('base')
    p.add_argument('--backbone', required=True,
                   help='zoo entry or registered backbone type')
    p.add_argument('--backbone-args', nargs='+', action=DictAction,
                   default={}, help='backbone arguments, key=value')
    p.add_argument('--pretrained', help='checkpoint for the backbone '
                   "(its keys 'backbone.*')")
    p.add_argument('--imports', nargs='+', default=[],
                   help='plugin modules that register the backbone type')
    p.add_argument('--input-size', type=int, default=224,
                   help='input of the channel probe')
    p.add_argument('--out', help='output config (default: print it)')
    p.set_defaults(func=cmd_derive)
    p = sub.add_parser('validate', help='check metafiles, coverage, parse '
                       'and build')
    p.add_argument('--no-build', action='store_true')
    p.add_argument('--static', action='store_true',
                   help='metafiles only, load no config')
    p.set_defaults(func=cmd_validate)
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    try:
        return args.func(args) or 0
    except (KeyError, ValueError, FileNotFoundError) as err:
        msg = err.args[0] if isinstance(err, KeyError) and err.args else err
        sys.stderr.write(f'error: {msg}\n')
        return 2


if __name__ == '__main__':
    sys.exit(main())
