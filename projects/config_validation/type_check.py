"""Check every ``type`` in a config resolves and every key is accepted.

Runs before any dataset or model is built: an unknown type name or a keyword
that the resolved class does not take fails with the config key path and the
closest valid names. Keywords are bound to the signatures of every typed
entry (hooks, optimizers, schedulers, loops, models ...), following
``**kwargs`` where a class forwards it (:mod:`.signatures`).
"""
import importlib
import re

from mmengine.registry import Registry
from mmengine.registry import root as root_registries

from .errors import ConfigError, suggest
from .signatures import accepted_keywords

# Arguments the runner passes itself when building these objects.
INJECTED = {'runner', 'dataloader', 'evaluator', 'optimizer', 'dataset',
            'seed', 'module', 'name', 'params'}
RESERVED = {'type', '_scope_', '_delete_'}
# Top-level keys the runner builds; other top-level entries are variables
# (``norm_cfg = dict(...)``) whose arguments are checked where they are used.
RUNNER_KEYS = {'model', 'train_dataloader', 'val_dataloader',
               'test_dataloader', 'train_cfg', 'val_cfg', 'test_cfg',
               'optim_wrapper', 'param_scheduler', 'val_evaluator',
               'test_evaluator', 'default_hooks', 'custom_hooks',
               'log_processor', 'visualizer', 'data_preprocessor'}
# Keys read by the builder of a config entry, not by its ``type`` (pattern
# of the key path -> keys): the optimizer-wrapper constructor consumes
# ``constructor``/``paramwise_cfg``, ``Runner.register_hook`` pops
# ``priority``, mmengine's scheduler builder ``convert_to_iter_based``,
# mmcv's ``build_norm_layer`` ``requires_grad``.
CONSUMED = (
    (r'(.+\.)?\w*norm_cfg', {'requires_grad'}),
    (r'optim_wrapper', {'constructor', 'paramwise_cfg'}),
    (r'(default_hooks\.\w+|custom_hooks\[\d+\])', {'priority'}),
    (r'param_scheduler(\.\w+)?(\[\d+\])?', {'convert_to_iter_based'}),
)


def consumed_keys(path):
    """Keys the builder of the entry at ``path`` reads itself."""
    return set().union(*(keys for pattern, keys in CONSUMED
                         if re.fullmatch(pattern, path)))


def scope_registries(scope):
    """The registries of ``scope`` (one per root registry), modules imported."""
    try:
        own = vars(importlib.import_module(f'{scope}.registry')).values()
    except ImportError:
        own = []
    found = []
    for value in vars(root_registries).values():
        if not isinstance(value, Registry):
            continue
        registry = value._children.get(scope, value)
        registry.import_from_location()
        found.append(registry)
    # registries of the scope without a root parent (mmpretrain's TOKENIZER)
    found += [r for r in own if isinstance(r, Registry) and r.parent is None
              and r not in found]
    return found


def registered_names(registries):
    """All names visible from ``registries`` (their own and their parents')."""
    names = set()
    for registry in registries:
        while registry is not None:
            names.update(registry.module_dict)
            registry = registry.parent
    return names


def resolve(type_name, registries):
    """Objects registered as ``type_name`` in any of ``registries``."""
    found = []
    for registry in registries:
        try:
            obj = registry.get(type_name)
        except Exception:  # mmengine raises RuntimeError for unknown dotted paths
            obj = None
        if obj is not None and not any(obj is f for f in found):
            found.append(obj)
    if not found and '.' not in type_name:
        # mmcv op specs such as dict(type='nms') or dict(type='RoIAlign').
        ops = importlib.import_module('mmcv.ops')
        if hasattr(ops, type_name):
            found.append(getattr(ops, type_name))
    return found


class TypeChecker:
    """Walks a config and checks its ``type`` entries against the registries."""

    def __init__(self, default_scope, source=''):
        self.default_scope = default_scope or 'mmengine'
        self.source = f'{source}: ' if source else ''
        self._registries = {}

    def registries(self, scope):
        if scope not in self._registries:
            self._registries[scope] = scope_registries(scope)
        return self._registries[scope]

    def check(self, node, path='', scope=None):
        scope = scope or self.default_scope
        if isinstance(node, dict):
            scope = node.get('_scope_', scope)
            if isinstance(node.get('type'), str):
                self._check_typed(node, path, scope)
            for key, value in node.items():
                self.check(value, f'{path}.{key}' if path else str(key), scope)
        elif isinstance(node, (list, tuple)):
            for i, value in enumerate(node):
                self.check(value, f'{path}[{i}]', scope)

    def _check_typed(self, node, path, scope):
        registries = self.registries(scope)
        type_name = node['type']
        objs = resolve(type_name, registries)
        if not objs:
            hint = suggest(type_name.split('.')[-1], registered_names(registries))
            raise ConfigError(
                f"{self.source}key '{path}.type': '{type_name}' is not a "
                f"registered type in scope '{scope}'.{hint}")
        if '.' not in path and '[' not in path and path not in RUNNER_KEYS:
            return
        accepted = [accepted_keywords(obj, node) for obj in objs]
        if any(a is None for a in accepted):
            return
        known = set().union(*accepted) | consumed_keys(path)
        for key in node:
            if key not in known | INJECTED | RESERVED:
                raise ConfigError(
                    f"{self.source}key '{path}.{key}': {type_name} takes no "
                    f"argument '{key}'.{suggest(key, known)}")


def check_types(cfg, source=''):
    """Raise :class:`ConfigError` for the first unknown type or argument."""
    checker = TypeChecker(cfg.get('default_scope'), source)
    checker.check(cfg.to_dict() if hasattr(cfg, 'to_dict') else cfg)

