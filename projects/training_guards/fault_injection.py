"""Kill the training process at a chosen point, to check that it resumes.

Chaos testing for a real run: add
``custom_hooks=[dict(type='FaultInjectionHook', point='checkpoint', iter=4)]``
and the process dies by SIGKILL (no clean-up, as under an OOM killer or a
pre-empted node) at that point; ``tools/train.py CONFIG --resume`` must then
finish with the weights and metrics of an uninterrupted run.

Runs launched by another tool (``tools/benchmark_transfer.py``,
``tools/search_loss.py``) take the hook through their configs:
``scope='group'`` kills the launching tool as well, ``work_dir`` picks one
of its runs and ``marker`` makes the fault happen once, so that the resumed
tool goes on.
"""
import fnmatch
import os
import os.path as osp
import signal

from mmengine.dist import get_rank
from mmengine.hooks import Hook
from mmengine.registry import HOOKS

from . import atomic_files

POINTS = ('train', 'checkpoint', 'val')
SCOPES = ('process', 'group')


def kill_now():
    os.kill(os.getpid(), signal.SIGKILL)


def kill_group():
    os.killpg(os.getpgrp(), signal.SIGKILL)


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
        scope (str): ``'process'`` kills this process; ``'group'`` its whole
            process group: the tool that launched it, that tool's other
            children and the dataloader workers (a machine that dies).
        work_dir (str | None): an ``fnmatch`` pattern; only a run whose work
            dir matches it dies (e.g. ``'*/round_001/sample_001'``).
        marker (str | None): a file written just before the kill; while it
            exists the hook does nothing, so the fault happens once across
            runs and resumes.
    """

    priority = 'HIGHEST'

    def __init__(self, point, iter, rank=None, scope='process', work_dir=None,
                 marker=None):
        if point not in POINTS:
            raise ValueError(f'FaultInjectionHook point must be one of '
                             f'{POINTS}, got {point!r}')
        if int(iter) < 1:
            raise ValueError(f'FaultInjectionHook iter must be >= 1, got '
                             f'{iter!r}')
        if scope not in SCOPES:
            raise ValueError(f'FaultInjectionHook scope must be one of '
                             f'{SCOPES}, got {scope!r}')
        self.point, self.iter, self.rank = point, int(iter), rank
        self.scope, self.work_dir, self.marker = scope, work_dir, marker

    def _armed(self, runner, point, done):
        """``done``: iterations completed (the loop counts the current one
        only after its ``after_train_iter`` hooks)."""
        return (self.point == point and done == self.iter
                and (self.rank is None or get_rank() == self.rank)
                and (self.work_dir is None or fnmatch.fnmatch(
                    osp.abspath(runner.work_dir), self.work_dir))
                and (self.marker is None or not osp.exists(self.marker)))

    def _kill(self):
        if self.marker is not None:
            with open(self.marker, 'w') as f:
                f.write(f'{self.point} {self.iter}\n')
        (kill_group if self.scope == 'group' else kill_now)()

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        if self._armed(runner, 'train', runner.iter + 1):
            self._kill()

    def before_save_checkpoint(self, runner, checkpoint):
        if self._armed(runner, 'checkpoint', runner.iter + 1):
            atomic_files.before_replace = self._kill

    def after_val_iter(self, runner, batch_idx, data_batch=None,
                       outputs=None):
        if self._armed(runner, 'val', runner.iter) and batch_idx == 0:
            self._kill()
