"""A frozen teacher inside a student model, shared by the G2SD wrappers.

The teacher is built from a config (any registered model/backbone, weights
from its own ``init_cfg``) or passed as a module. It never gets gradients,
always stays in eval mode, is skipped by the optimiser (``requires_grad``
False) and, unless ``save_teacher=True``, is kept out of ``state_dict()`` so
that checkpoints hold the student only; missing ``teacher.*`` keys are then
ignored on load (the teacher comes from its ``init_cfg`` again).
"""
from contextlib import contextmanager
from typing import Dict, Union

import torch.nn as nn


def build_teacher(teacher: Union[dict, nn.Module], registry) -> nn.Module:
    """Build ``teacher`` with ``registry`` (or take the module) and freeze it.

    Raises:
        TypeError: if ``teacher`` is neither a dict nor an ``nn.Module``.
    """
    if isinstance(teacher, nn.Module):
        module = teacher
    elif isinstance(teacher, dict):
        module = registry.build(teacher)
    else:
        raise TypeError('teacher must be a config dict or an nn.Module, got '
                        f'{type(teacher).__name__}')
    freeze(module)
    return module


def freeze(module: nn.Module) -> None:
    """``requires_grad=False`` on every parameter and eval mode."""
    for param in module.parameters():
        param.requires_grad_(False)
    module.eval()


class FrozenTeacherMixin:
    """Keeps ``self.teacher`` frozen through ``train()``/``init_weights()``.

    Put it before the model base class; call :meth:`_setup_teacher` in
    ``__init__`` after ``super().__init__``.
    """

    def _setup_teacher(self, teacher: Union[dict, nn.Module], registry,
                       save_teacher: bool = False) -> None:
        self.teacher = build_teacher(teacher, registry)
        self.save_teacher = save_teacher
        if not save_teacher:
            self._register_state_dict_hook(_drop_teacher_keys)
            self.register_load_state_dict_post_hook(_ignore_missing_teacher)

    def train(self, mode: bool = True):
        """Set train/eval mode; the teacher always stays in eval mode."""
        super().train(mode)
        self.teacher.eval()
        return self

    def init_weights(self) -> None:
        """Initialise (or load) every part, then re-freeze the teacher."""
        super().init_weights()
        freeze(self.teacher)


def _drop_teacher_keys(module, state_dict, prefix, local_metadata):
    for key in [k for k in state_dict if k.startswith(prefix + 'teacher.')]:
        del state_dict[key]
    return state_dict


def _ignore_missing_teacher(module, incompatible_keys):
    missing = incompatible_keys.missing_keys
    missing[:] = [k for k in missing
                  if not (k.startswith('teacher.') or '.teacher.' in k)]


@contextmanager
def capture_outputs(modules: Dict[str, nn.Module]):
    """Record the forward output of each named module while in the block.

    Yields a dict filled with ``name -> output`` of the LAST call of each
    module (the hooks are removed on exit).
    """
    outputs = {}
    handles = []
    for name, module in modules.items():
        def hook(mod, args, out, name=name):
            outputs[name] = out
        handles.append(module.register_forward_hook(hook))
    try:
        yield outputs
    finally:
        for handle in handles:
            handle.remove()
