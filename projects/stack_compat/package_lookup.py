"""``importlib.metadata`` versions of mmengine's package look-ups.

mmengine 0.10.7 resolves ``mmdet::``/``mmseg::``/``mmpretrain::`` config bases
with ``pkg_resources``, which setuptools 82 removed. These replacements give the
same answers without it and are patched into every module that bound them.
"""
import importlib
import importlib.util
import os.path as osp
from importlib import metadata

# Modules that did ``from mmengine.utils import is_installed, get_installed_path``.
PATCHED_MODULES = ('mmengine.utils.package_utils', 'mmengine.utils',
                   'mmengine.config.config', 'mmengine.hub.hub')


def _module_name(package):
    """Top-level import name of a distribution (``mmsegmentation`` -> ``mmseg``)."""
    try:
        top = metadata.distribution(package).read_text('top_level.txt')
    except metadata.PackageNotFoundError:
        return package
    names = [ln.strip() for ln in (top or '').splitlines() if ln.strip()]
    return names[0] if names else package.replace('-', '_')


def is_installed(package):
    """Whether a distribution or importable top-level module ``package`` exists."""
    try:
        metadata.distribution(package)
        return True
    except metadata.PackageNotFoundError:
        spec = importlib.util.find_spec(package)
        return spec is not None and spec.origin is not None


def get_installed_path(package):
    """Directory of the top-level module of distribution ``package``."""
    module = _module_name(package)
    spec = importlib.util.find_spec(module)
    if spec is None:
        raise metadata.PackageNotFoundError(
            f'package {package!r} (module {module!r}) is not installed')
    if spec.origin is None:
        raise RuntimeError(f'{package} is a namespace package, which is '
                           'invalid for `get_installed_path`')
    return osp.dirname(spec.origin)


def package2module(package):
    """Module name of a distribution, as mmengine's helper of that name."""
    return _module_name(package)


def install():
    """Patch the look-ups into mmengine (idempotent)."""
    for name in PATCHED_MODULES:
        module = importlib.import_module(name)
        for attr in ('is_installed', 'get_installed_path', 'package2module'):
            if hasattr(module, attr):
                setattr(module, attr, globals()[attr])
