"""The keyword arguments a registered class accepts from a config.

Explicit parameters are taken from the signature. ``**kwargs`` is followed to
where ``__init__`` forwards it: when its only use is ``**kwargs`` in a
``super().__init__(...)`` (or ``Base.__init__(self, ...)``) call, the class
accepts what the next ``__init__`` in its MRO accepts, less the parameters that
call fills positionally. Classes that store ``**kwargs`` for a later call have
a rule in :data:`KWARGS_RULES`; any other use of ``**kwargs`` leaves the class
unchecked (None: every key may be valid).
"""
import ast
import inspect
import textwrap


def _save_checkpoint_kwargs(node):
    # CheckpointHook keeps **kwargs for Runner.save_checkpoint, whose every
    # parameter the hook already passes itself: an extra key only fails at
    # the first checkpoint save.
    return []


def _ema_kwargs(node):
    # EMAHook builds dict(type=ema_type, **kwargs) in mmengine's MODELS, with
    # ``model`` given by the hook.
    from mmengine.registry import MODELS
    ema_type = node.get('ema_type', 'ExponentialMovingAverage')
    try:
        ema_cls = MODELS.get(ema_type) if isinstance(ema_type, str) else None
    except (KeyError, RuntimeError):
        ema_cls = None
    names = accepted_keywords(ema_cls) if ema_cls else None
    return None if names is None else [n for n in names if n != 'model']


# ``module.qualname`` of the class whose __init__ takes **kwargs -> rule
# returning the extra keys it accepts for the config node (None: any).
KWARGS_RULES = {
    'mmengine.hooks.checkpoint_hook.CheckpointHook': _save_checkpoint_kwargs,
    'mmengine.hooks.ema_hook.EMAHook': _ema_kwargs,
}


def _unchecked(obj):
    """torch layers (``norm_cfg=dict(type='BN', requires_grad=True)``) are
    built by mmcv's ``build_*_layer`` helpers, which consume extra keys;
    torch optimizers have explicit signatures and are checked."""
    if not getattr(obj, '__module__', '').startswith('torch.'):
        return False
    import torch
    return not (inspect.isclass(obj)
                and issubclass(obj, torch.optim.Optimizer))


def _named(params):
    return [p.name for p in params
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]


def _kwargs_call(func, kwargs_name):
    """The single ``super().__init__``/``Base.__init__`` call that receives
    ``**kwargs_name`` if that is the only use of the name, else None."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(func)))
    except (OSError, TypeError, SyntaxError, IndentationError):
        return None
    uses = [n for n in ast.walk(tree)
            if isinstance(n, ast.Name) and n.id == kwargs_name]
    calls = [c for c in ast.walk(tree) if isinstance(c, ast.Call) and any(
        k.arg is None and isinstance(k.value, ast.Name)
        and k.value.id == kwargs_name for k in c.keywords)]
    if len(uses) != 1 or len(calls) != 1:
        return None
    call = calls[0]
    target = call.func
    if not (isinstance(target, ast.Attribute) and target.attr == '__init__'):
        return None
    if (isinstance(target.value, ast.Call)
            and isinstance(target.value.func, ast.Name)
            and target.value.func.id == 'super'):
        return call, None
    if isinstance(target.value, ast.Name):
        return call, target.value.id
    return None


def _init_keywords(cls, start, node):
    """Ordered keywords the ``__init__`` found from ``cls.__mro__[start]``
    accepts, or None if unknown."""
    mro = cls.__mro__
    index = next((i for i in range(start, len(mro))
                  if '__init__' in vars(mro[i])), None)
    if index is None or mro[index] is object:
        return []
    owner = mro[index]
    init = vars(owner)['__init__']
    try:
        params = list(inspect.signature(init).parameters.values())[1:]
    except (TypeError, ValueError):
        return None
    named = _named(params)
    var_kw = next((p.name for p in params if p.kind is p.VAR_KEYWORD), None)
    if var_kw is None:
        return named
    rule = KWARGS_RULES.get(f'{owner.__module__}.{owner.__qualname__}')
    if rule is not None:
        extra = rule(node)
        return None if extra is None else named + list(extra)
    found = _kwargs_call(init, var_kw)
    if found is None:
        return None
    call, base_name = found
    if base_name is None:
        forwarded = _init_keywords(cls, index + 1, node)
        filled = len([a for a in call.args if not isinstance(a, ast.Starred)])
    else:
        base = vars(inspect.getmodule(owner)).get(base_name)
        if not inspect.isclass(base):
            return None
        forwarded = _init_keywords(base, 0, node)
        filled = len([a for a in call.args
                      if not isinstance(a, ast.Starred)]) - 1
    if forwarded is None:
        return None
    given = {k.arg for k in call.keywords if k.arg}
    return named + [n for n in forwarded[max(filled, 0):]
                    if n not in given and n not in named]


def accepted_keywords(obj, node=None):
    """Parameter names ``obj`` accepts from a config, or None if any keyword
    may be valid.

    Args:
        obj (type | callable): the registered class or function.
        node (dict, optional): its config (read by :data:`KWARGS_RULES`).
    """
    if _unchecked(obj):
        return None
    node = node or {}
    if inspect.isclass(obj):
        names = _init_keywords(obj, 0, node)
        return None if names is None else set(names)
    try:
        params = inspect.signature(obj).parameters.values()
    except (TypeError, ValueError):
        return None
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return None
    return set(_named(params))
