"""Stop (or skip) a training step whose loss is NaN or infinite."""
import os.path as osp

import torch
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.registry import HOOKS


class NonFiniteLossError(FloatingPointError):
    """A loss term became NaN/Inf; nothing of that step was applied."""


@HOOKS.register_module()
class FiniteLossHook(Hook):
    """Check the parsed loss of every training step before the update.

    The check wraps the model's ``parse_losses``, so it runs before the
    backward pass and the optimizer step: with ``action='raise'`` (default)
    training stops with :class:`NonFiniteLossError` naming the iteration,
    the bad loss terms and the last checkpoint written (the weights in
    memory are still those of the previous step); with ``action='skip'``
    the step is replaced by a no-op update (a zero loss without gradients)
    and counted in the log as ``nonfinite_skipped``.
    """

    priority = 'VERY_HIGH'

    def __init__(self, action='raise'):
        if action not in ('raise', 'skip'):
            raise ValueError(f"FiniteLossHook action must be 'raise' or "
                             f"'skip', got {action!r}")
        self.action = action
        self.skipped = 0

    def before_train(self, runner):
        model = runner.model.module if is_model_wrapper(runner.model) \
            else runner.model
        parse_losses = model.parse_losses

        def guarded(losses):
            loss, log_vars = parse_losses(losses)
            if torch.isfinite(loss).all():
                return loss, log_vars
            return self._handle(runner, loss, losses, log_vars)

        model.parse_losses = guarded

    def _handle(self, runner, loss, losses, log_vars):
        bad = [name for name, value in losses.items()
               if not all(torch.isfinite(v).all() for v in
                          (value if isinstance(value, (list, tuple))
                           else [value]))]
        if self.action == 'raise':
            raise NonFiniteLossError(
                f'iteration {runner.iter + 1}: the loss is {loss.item()} '
                f'(non-finite terms: {", ".join(bad) or "the total"}); the '
                f'update was not applied. Last checkpoint: '
                f'{last_checkpoint(runner.work_dir)}. Lower the learning '
                'rate, enable gradient clipping, or set '
                "FiniteLossHook(action='skip') to skip such steps.")
        self.skipped += 1
        runner.logger.warning(
            f'iteration {runner.iter + 1}: non-finite loss terms '
            f'{", ".join(bad)}; step skipped ({self.skipped} so far)')
        log_vars = {k: v for k, v in log_vars.items()
                    if torch.isfinite(torch.as_tensor(v)).all()}
        log_vars['nonfinite_skipped'] = float(self.skipped)
        return loss.new_zeros((), requires_grad=True), log_vars


def last_checkpoint(work_dir):
    """The checkpoint named in ``work_dir/last_checkpoint``, or a note."""
    path = osp.join(work_dir, 'last_checkpoint')
    if not osp.isfile(path):
        return 'none saved yet'
    with open(path) as f:
        return f.read().strip()
