"""Look configs up in the zoo: by name, by filters, by a search query."""
import difflib
import operator
import re

from mmengine.config import Config

from .metafile import (REPO_ROOT, load_entries, normalize_key, normalize_task,
                       parse_quantity)

_OPS = {'<=': operator.le, '>=': operator.ge, '!=': operator.ne,
        '==': operator.eq, '=': operator.eq, '<': operator.lt,
        '>': operator.gt}
_CONDITION = re.compile(r'^\s*([A-Za-z][\w .\-/()]*?)\s*(<=|>=|!=|==|=|<|>|~)'
                        r'\s*(.+?)\s*$')
# query field -> how to read it from an entry; text fields match like the
# list_configs filters, numeric ones compare as quantities (50M, 2G, 40.5)
_TEXT_FIELDS = {
    'task': lambda e: e.tasks,
    'dataset': lambda e: e.datasets,
    'backbone': lambda e: e.backbones,
    'project': lambda e: [e.project],
    'collection': lambda e: [e.collection or ''],
    'name': lambda e: [e.name],
    'config': lambda e: [e.config],
}
_NUMERIC_FIELDS = {
    'params': lambda e: e.params, 'parameters': lambda e: e.params,
    'flops': lambda e: e.flops,
}


def get_entry(name, root=REPO_ROOT):
    """The :class:`ZooEntry` called ``name`` (or whose config path or stem is
    ``name``); KeyError with close names otherwise."""
    entries = load_entries(root)
    for entry in entries:
        if name in (entry.name, entry.config) or \
                entry.config.endswith('/' + name) or \
                entry.config.endswith('/' + name + '.py'):
            return entry
    close = difflib.get_close_matches(name, [e.name for e in entries], n=3,
                                      cutoff=0.5)
    hint = f'; did you mean {", ".join(map(repr, close))}?' if close else ''
    raise KeyError(f'no zoo entry named {name!r}{hint}')


def get_config(name, root=REPO_ROOT):
    """The merged mmengine ``Config`` of zoo entry ``name``."""
    return Config.fromfile(str(get_entry(name, root).config_path))


def _norm_text(text):
    return re.sub(r'[^a-z0-9]', '', str(text).lower())


def _text_match(field, query, values):
    if field == 'task':
        return normalize_task(query) in [normalize_task(v) for v in values]
    if field in ('project', 'name', 'collection', 'config'):
        return any(_norm_text(query) == _norm_text(v) for v in values) or (
            field == 'config' and any(query in v for v in values))
    # dataset, backbone: normalised substring ('coco' ~ 'COCO 2017',
    # 'resnet' ~ 'ResNet', 'r18' ~ name field 'r18')
    q = _norm_text(query)
    return any(q and q in _norm_text(v) for v in values)


def list_configs(task=None, dataset=None, backbone=None, project=None,
                 root=REPO_ROOT):
    """Zoo entries matching every given filter, sorted by name.

    ``task`` matches canonical task names ('detection' = 'Object
    Detection'); ``dataset`` and ``backbone`` match case- and
    punctuation-insensitive substrings (backbone: ``Metadata.Backbone``, the
    architecture list, or the backbone field of the config name);
    ``project`` is the configs/<project> folder.
    """
    filters = dict(task=task, dataset=dataset, backbone=backbone,
                   project=project)
    entries = load_entries(root)
    for key, value in filters.items():
        if value is not None:
            entries = [e for e in entries
                       if _text_match(key, value, _TEXT_FIELDS[key](e))]
    return sorted(entries, key=lambda e: e.name)


def _entry_numbers(entry):
    """Numeric fields of an entry by normalised key: metrics, metadata."""
    out = {}
    for key, value in list(entry.metadata.items()) + list(
            entry.metrics.items()):
        try:
            out[normalize_key(key)] = parse_quantity(value)
        except (ValueError, TypeError):
            pass
    return out


def _parse_bool(text):
    low = text.lower()
    if low in ('true', 'yes', '1'):
        return True
    if low in ('false', 'no', '0'):
        return False
    raise ValueError(f'expected true or false, got {text!r}')


def _condition(field, op, value, entries):
    """A predicate for one ``field op value`` condition."""
    key = normalize_key(field)
    if key in ('reproduced', 'official'):
        want = _parse_bool(value)
        if key == 'official':
            want = not want
        if op not in ('=', '==', '!='):
            raise ValueError(f'{field} takes = or !=, got {op}')
        return lambda e: (bool(e.reproduced) == want) != (op == '!=')
    if key in _TEXT_FIELDS:
        if op == '~':
            return lambda e: any(value.lower() in str(v).lower()
                                 for v in _TEXT_FIELDS[key](e))
        if op not in ('=', '==', '!='):
            raise ValueError(f'{field} is a text field: use =, != or ~, '
                             f'got {op}')
        return lambda e: _text_match(key, value, _TEXT_FIELDS[key](e)) != (
            op == '!=')
    if op == '~':
        raise ValueError(f'~ (contains) needs a text field, got {field!r}')
    number = parse_quantity(value)
    if key in _NUMERIC_FIELDS:
        getter = _NUMERIC_FIELDS[key]
    else:
        known = set().union(*(_entry_numbers(e) for e in entries)) \
            if entries else set()
        if key not in known:
            names = sorted(known | set(_TEXT_FIELDS) | set(_NUMERIC_FIELDS))
            close = difflib.get_close_matches(key, names, n=3, cutoff=0.5)
            hint = f'; did you mean {", ".join(close)}?' if close else ''
            raise ValueError(f'unknown search field {field!r}{hint} '
                             f'(known: {", ".join(names)})')
        getter = lambda e: _entry_numbers(e).get(key)  # noqa: E731
    fn = _OPS[op]
    return lambda e: getter(e) is not None and fn(getter(e), number)


def search(query, root=REPO_ROOT):
    """Entries matching a query such as ``'params<50M,task=detection'``.

    Comma-separated terms; all must hold. A term ``field OP value`` (OP one of
    ``< <= > >= = == != ~``) is a condition on a text field (task, dataset,
    backbone, project, collection, name, config; ``~`` = contains), a number
    (params, flops, epochs, batch size, any metric such as ``box AP`` or
    ``mIoU``; values take K/M/G/T suffixes) or ``reproduced=true``. Any other
    term is free text that must occur (case-insensitively) in the name,
    config, collection, tasks, datasets or architecture.
    """
    entries = load_entries(root)
    predicates = []
    for term in [t for t in str(query).split(',') if t.strip()]:
        match = _CONDITION.match(term)
        if match:
            predicates.append(_condition(*match.groups(), entries))
        else:
            words = term.lower().split()
            predicates.append(
                lambda e, words=words: all(w in _haystack(e) for w in words))
    return sorted([e for e in entries if all(p(e) for p in predicates)],
                  key=lambda e: e.name)


def _haystack(entry):
    parts = [entry.name, entry.config, entry.collection or '', entry.project,
             *entry.tasks, *entry.datasets, *entry.architecture]
    return ' '.join(map(str, parts)).lower()
