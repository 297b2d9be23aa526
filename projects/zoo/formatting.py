"""Write config values as readable Python (``dict(a=1, b=[...])``)."""
import keyword

LINE = 79


def _is_ident(key):
    return isinstance(key, str) and key.isidentifier() and \
        not keyword.iskeyword(key)


def format_value(value, indent=0, col=None):
    """``value`` as Python source whose first line starts at column ``col``
    (default ``indent``) and whose wrapped lines are indented from
    ``indent`` in steps of four spaces, each line within ``LINE``."""
    col = indent if col is None else col
    flat = _one_line(value)
    if col + len(flat) <= LINE or not isinstance(
            value, (dict, list, tuple)) or not value:
        return flat
    pad = ' ' * (indent + 4)
    if isinstance(value, dict):
        if all(_is_ident(k) for k in value):
            items = [f'{k}=' + format_value(v, indent + 4,
                                            indent + 5 + len(k))
                     for k, v in value.items()]
            return 'dict(\n' + ',\n'.join(pad + i for i in items) + ')'
        items = [f'{k!r}: ' + format_value(v, indent + 4,
                                           indent + 6 + len(repr(k)))
                 for k, v in value.items()]
        return '{\n' + ',\n'.join(pad + i for i in items) + '}'
    open_, close = ('[', ']') if isinstance(value, list) else ('(', ')')
    items = [format_value(v, indent + 4) for v in value]
    tail = ',' if isinstance(value, tuple) and len(value) == 1 else ''
    return open_ + '\n' + ',\n'.join(pad + i for i in items) + tail + close


def _one_line(value):
    if isinstance(value, dict):
        if all(_is_ident(k) for k in value):
            return 'dict(' + ', '.join(f'{k}={_one_line(v)}'
                                       for k, v in value.items()) + ')'
        return '{' + ', '.join(f'{k!r}: {_one_line(v)}'
                               for k, v in value.items()) + '}'
    if isinstance(value, list):
        return '[' + ', '.join(_one_line(v) for v in value) + ']'
    if isinstance(value, tuple):
        inner = ', '.join(_one_line(v) for v in value)
        return f'({inner},)' if len(value) == 1 else f'({inner})'
    return repr(value)


def format_assignments(assignments):
    """``{'model': {...}}`` -> ``model = dict(...)`` lines."""
    return '\n'.join(f'{key} = {format_value(value, 0, len(key) + 3)}'
                     for key, value in assignments.items()) + '\n'
