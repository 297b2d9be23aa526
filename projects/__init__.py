"""VisionPlug plugins: one package per paper or shared concern.

Importing any plugin first applies the stack fixes of ``stack_compat`` and
the atomic file writes of ``training_guards``.
"""
from . import stack_compat  # noqa: F401
from . import training_guards  # noqa: F401
