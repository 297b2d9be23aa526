"""Fixes for the pinned OpenMMLab stack on current torch and setuptools.

Importing this package (``projects`` does) allow-lists mmengine's checkpoint
types for ``torch.load(weights_only=True)`` and replaces mmengine's
``pkg_resources`` package look-ups, so resume, ``load_checkpoint`` and
``mmdet::`` config bases work on torch >= 2.6 and setuptools >= 82; it also
resolves ``mmdet::`` model config names without re-reading every metafile
(``config_lookup``), lets ``--launcher pytorch`` run on CPU-only
machines with gloo (``cpu_distributed``), and puts back SciPy's removed
``interp2d`` for the gridded use of mmpretrain / mmseg (``interp2d``).
"""
from . import (checkpoint_policy, config_lookup, cpu_distributed, interp2d,
               package_lookup)
from .checkpoint_policy import UnsafeCheckpointError, load_checkpoint_file


def install():
    """Apply every fix (idempotent)."""
    package_lookup.install()
    config_lookup.install()
    checkpoint_policy.install()
    cpu_distributed.install()
    interp2d.install()


install()

__all__ = ['install', 'load_checkpoint_file', 'UnsafeCheckpointError']
