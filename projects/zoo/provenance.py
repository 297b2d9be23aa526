"""Where each key of a merged config comes from, and semantic diffs.

mmengine merges the ``_base_`` chain without keeping provenance, so this
module loads the config once while recording the merged dict of every file
of the chain (``Config._file2dict`` is called once per file, bases included,
``mmdet::``/``mmseg::``/``mmpretrain::`` ones too). A key's origin is the
deepest file of the chain that already gives it its final value: a child
that re-sets a base value unchanged does not claim it.
"""
import contextlib
import copy
from dataclasses import dataclass, field
from pathlib import Path

from mmengine.config import Config, ConfigDict

import projects  # noqa: F401  (stack fixes before any config is read)
from .metafile import REPO_ROOT

PACKAGE_SCOPES = {'mmdet': 'mmdet', 'mmsegmentation': 'mmseg',
                  'mmseg': 'mmseg', 'mmpretrain': 'mmpretrain',
                  'mmdet3d': 'mmdet3d'}


@dataclass
class ChainNode:
    """One file of the inheritance chain with its merged dict."""
    file: str
    bases: list = field(default_factory=list)
    merged: dict = None
    _flat: dict = None

    @property
    def flat(self):
        if self._flat is None:
            self._flat = flatten(self.merged or {})
        return self._flat

    def walk(self, depth=0):
        yield depth, self
        for base in self.bases:
            yield from base.walk(depth + 1)


def to_plain(value):
    """ConfigDict/tuple trees -> plain dicts and lists (for comparison)."""
    if isinstance(value, (dict, ConfigDict)):
        return {k: to_plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_plain(v) for v in value]
    return value


def flatten(tree, prefix=''):
    """``{'a': {'b': 1}}`` -> ``{'a.b': 1}``; lists and empty dicts are
    leaves."""
    out = {}
    for key, value in tree.items():
        path = f'{prefix}{key}'
        if isinstance(value, (dict, ConfigDict)) and value:
            out.update(flatten(value, path + '.'))
        else:
            out[path] = to_plain(value)
    return out


def display_path(path, root=REPO_ROOT):
    """Repo-relative path, or ``mmdet::<rel>`` for an installed base."""
    path = Path(path).resolve()
    parts = path.parts
    if '.mim' in parts:
        i = parts.index('.mim')
        scope = PACKAGE_SCOPES.get(parts[i - 1], parts[i - 1])
        rel = Path(*parts[i + 2:]).as_posix()  # after .mim/configs
        return f'{scope}::{rel}'
    try:
        return path.relative_to(Path(root).resolve()).as_posix()
    except ValueError:
        return str(path)


@contextlib.contextmanager
def _recording():
    """Record every ``Config._file2dict`` call as a tree of ChainNodes."""
    original = Config.__dict__['_file2dict']
    func = original.__func__
    stack, roots = [], []

    def recorded(filename, *args, **kwargs):
        node = ChainNode(str(Path(filename).resolve()))
        (stack[-1].bases if stack else roots).append(node)
        stack.append(node)
        try:
            result = func(filename, *args, **kwargs)
        finally:
            stack.pop()
        node.merged = to_plain(copy.deepcopy(result[0]))
        return result

    Config._file2dict = staticmethod(recorded)
    try:
        yield roots
    finally:
        Config._file2dict = original


def load_chain(path):
    """``(Config, root ChainNode)`` of a config file."""
    with _recording() as roots:
        cfg = Config.fromfile(str(path))
    return cfg, roots[0]


def _origin(node, key, value):
    for base in node.bases:
        if key in base.flat and base.flat[key] == value:
            return _origin(base, key, value)
    return node


def provenance(path, cfg_options=None):
    """``(cfg, chain, {dotted key: (value, origin file)})`` for a config.

    ``cfg_options`` (a dict of dotted keys, as ``--cfg-options``) are merged
    last and reported with origin ``'--cfg-options'``.
    """
    cfg, chain = load_chain(path)
    flat = flatten(to_plain(cfg._cfg_dict))
    origins = {}
    for key, value in flat.items():
        leaf_parent, _, leaf = key.rpartition('.')
        if leaf == '_scope_' and f'{leaf_parent}.type' in flat:
            # mmengine stamps _scope_ next to the type of a pkg:: base
            lookup = f'{leaf_parent}.type'
            node = _origin(chain, lookup, flat[lookup])
        else:
            node = _origin(chain, key, value)
        origins[key] = (value, node.file)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
        after = flatten(to_plain(cfg._cfg_dict))
        for key, value in after.items():
            if key not in origins or origins[key][0] != value:
                origins[key] = (value, '--cfg-options')
        for key in set(origins) - set(after):
            del origins[key]
    return cfg, chain, origins


def chain_lines(chain, root=REPO_ROOT):
    """The inheritance tree, one file per line, bases indented."""
    return ['  ' * depth + ('└─ ' if depth else '') +
            display_path(node.file, root) for depth, node in chain.walk()]


def diff_configs(a, b):
    """Semantic diff of two configs (paths, Config objects or dicts).

    Returns a list of ``(op, dotted_path, old, new)`` with op ``'+'`` (only
    in ``b``), ``'-'`` (only in ``a``) or ``'~'`` (changed). Lists of the
    same length are compared item by item (``train_pipeline[2].scale``).
    """
    def load(x):
        if isinstance(x, (str, Path)):
            x = Config.fromfile(str(x))
        if isinstance(x, Config):
            x = x._cfg_dict
        return to_plain(x)

    out = []
    _diff(load(a), load(b), '', out)
    return out


def _diff(a, b, path, out):
    if isinstance(a, dict) and isinstance(b, dict):
        for key in list(a) + [k for k in b if k not in a]:
            sub = f'{path}.{key}' if path else str(key)
            if key not in b:
                out.append(('-', sub, a[key], None))
            elif key not in a:
                out.append(('+', sub, None, b[key]))
            else:
                _diff(a[key], b[key], sub, out)
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b) \
            and any(isinstance(x, (dict, list)) for x in a + b):
        for i, (x, y) in enumerate(zip(a, b)):
            _diff(x, y, f'{path}[{i}]', out)
    elif a != b or type(a) is not type(b) and not (
            isinstance(a, (int, float)) and isinstance(b, (int, float))
            and not isinstance(a, bool) and not isinstance(b, bool)):
        out.append(('~', path, a, b))


