"""Scheduled drop path of De-focus Mamba as an mmengine hook."""
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.registry import HOOKS

from .defocus_mamba import DefocusMamba


def scheduled_rate(step, total, min_rate, max_rate):
    """Official schedule ``min + step / (total - 1) * (max - min)``: min at
    the first epoch (or iteration), max at the last (min if total == 1)."""
    if total <= 1:
        return float(min_rate)
    return min_rate + step / (total - 1) * (max_rate - min_rate)


@HOOKS.register_module()
class DefocusDropPathHook(Hook):
    """Raise the drop-path rate of every :class:`DefocusMamba` in the model
    linearly during training (official: 0.1 -> 0.75 for Base on ImageNet-1k,
    0.1 -> 0.7 for Large 22k -> 1k).

    The rate is set before each epoch (``by_epoch=True``, official) or each
    iteration (``by_epoch=False``, for iteration-based loops) and logged as
    ``train/drop_path_rate``. Inside a backbone, block i of n uses
    ``rate * i / (n - 1)``.

    Args:
        min_rate (float): Rate at the first epoch / iteration.
        max_rate (float, optional): Rate at the last one; defaults to each
            backbone's configured ``drop_path_rate``.
        by_epoch (bool): Schedule per epoch or per iteration.
    """

    priority = 'NORMAL'

    def __init__(self, min_rate=0.1, max_rate=None, by_epoch=True):
        if max_rate is not None and max_rate < min_rate:
            raise ValueError(f'DefocusDropPathHook: max_rate {max_rate} < '
                             f'min_rate {min_rate}')
        self.min_rate = min_rate
        self.max_rate = max_rate
        self.by_epoch = by_epoch
        self._targets = []

    def before_train(self, runner):
        model = runner.model.module if is_model_wrapper(runner.model) \
            else runner.model
        self._targets = [
            (m, self.max_rate if self.max_rate is not None
             else m.drop_path_rate)
            for m in model.modules() if isinstance(m, DefocusMamba)]
        if not self._targets:
            raise RuntimeError('DefocusDropPathHook: the model has no '
                               'DefocusMamba backbone')

    def _apply(self, runner, step, total):
        rate = None
        for module, max_rate in self._targets:
            rate = scheduled_rate(step, total, self.min_rate, max_rate)
            module.drop_path_rate = rate
        runner.message_hub.update_scalar('train/drop_path_rate', rate)

    def before_train_epoch(self, runner):
        if self.by_epoch:
            self._apply(runner, runner.epoch, runner.max_epochs)

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        if not self.by_epoch:
            self._apply(runner, runner.iter, runner.max_iters)
