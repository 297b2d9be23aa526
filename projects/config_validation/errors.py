"""The error raised for invalid configs, data paths and annotation files."""
import difflib

MAX_REPORTED = 20


class ConfigError(ValueError):
    """A config, a path it names or an annotation file it points to is invalid."""


def suggest(name, candidates, n=3):
    """`` did you mean 'a', 'b'?`` for close matches of ``name`` (or '')."""
    close = difflib.get_close_matches(str(name), sorted(set(candidates)), n=n,
                                      cutoff=0.6)
    if not close:
        return ''
    return ' Did you mean ' + ', '.join(repr(c) for c in close) + '?'


def describe(value, width=60):
    """``value`` and its type for a message: ``'128' (str)``."""
    text = repr(value)
    if len(text) > width:
        text = text[:width - 3] + '...'
    return f'{text} ({type(value).__name__})'


def raise_problems(what, problems, note=''):
    """Raise :class:`ConfigError` listing (up to 20 of) ``problems``.

    Args:
        what (str): the file or folder the problems are in.
        problems (list[str]): one line per bad record.
        note (str): how the records were chosen (e.g. the sampling).
    """
    if problems:
        shown = '\n  '.join(problems[:MAX_REPORTED])
        more = (f'\n  ... and {len(problems) - MAX_REPORTED} more'
                if len(problems) > MAX_REPORTED else '')
        note = f' ({note})' if note else ''
        raise ConfigError(f'{what} has {len(problems)} invalid record(s)'
                          f'{note}:\n  {shown}{more}')
