"""Kill the training process at a chosen point, to check that it resumes.

Chaos testing for a real run: add
``custom_hooks=[dict(type='FaultInjectionHook', point='checkpoint', iter=4)]``
and the process dies by SIGKILL (no clean-up, as under an OOM killer or a
pre-empted node) at that point; ``tools/train.py CONFIG --resume`` must then
finish with the weights and metrics of an uninterrupted run.
"""
import os
import signal

from mmengine.dist import get_rank
from mmengine.hooks import Hook
from mmengine.registry import HOOKS

from . import atomic_files

POINTS = ('train', 'checkpoint', 'val')


def kill_now():
    os.kill(os.getpid(), signal.SIGKILL)


@HOOKS.register_module()
class FaultInjectionHook(Hook):
    """SIGKILL the process once, at iteration ``iter`` (1-based).

    Args:
        point (str): ``'train'``: after the update of that iteration, before
            its checkpoint is saved; ``'checkpoint'``: while its checkpoint is
            written (data on disk, not yet renamed into place); ``'val'``:
            in the middle of the validation run after that iteration.
        iter (int): the training iteration.
        rank (int | None): only this rank dies (all ranks when None).
    """

    priority = 'HIGHEST'

    def __init__(self, point, iter, rank=None):
        if point not in POINTS:
            raise ValueError(f'FaultInjectionHook point must be one of '
                             f'{POINTS}, got {point!r}')
        if int(iter) < 1:
            raise ValueError(f'FaultInjectionHook iter must be >= 1, got '
                             f'{iter!r}')
        self.point, self.iter, self.rank = point, int(iter), rank

    def _armed(self, point, done):
        """``done``: iterations completed (the loop counts the current one
        only after its ``after_train_iter`` hooks)."""
        return (self.point == point and done == self.iter
                and (self.rank is None or get_rank() == self.rank))

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        if self._armed('train', runner.iter + 1):
            kill_now()

    def before_save_checkpoint(self, runner, checkpoint):
        if self._armed('checkpoint', runner.iter + 1):
            atomic_files.before_replace = kill_now

    def after_val_iter(self, runner, batch_idx, data_batch=None,
                       outputs=None):
        if self._armed('val', runner.iter) and batch_idx == 0:
            kill_now()
