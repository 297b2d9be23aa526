"""The error raised for invalid configs, data paths and annotation files."""
import difflib


class ConfigError(ValueError):
    """A config, a path it names or an annotation file it points to is invalid."""


def suggest(name, candidates, n=3):
    """`` did you mean 'a', 'b'?`` for close matches of ``name`` (or '')."""
    close = difflib.get_close_matches(str(name), sorted(set(candidates)), n=n,
                                      cutoff=0.6)
    if not close:
        return ''
    return ' Did you mean ' + ', '.join(repr(c) for c in close) + '?'
