"""VisionPlug plugins: one package per paper or shared concern.

Importing any plugin first applies the stack fixes of ``stack_compat``.
"""
from . import stack_compat  # noqa: F401
