"""``CastlingMaskL1Hook``: adds the L1 mask term to the training losses."""
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.registry import HOOKS


@HOOKS.register_module()
class CastlingMaskL1Hook(Hook):
    """Add ``weight * sum |mask|`` of every Castling-ViT to the loss dict.

    Works with any mmengine model (mmpretrain ``ImageClassifier``, mmdet
    detectors, mmseg segmentors) without changing it or its checkpoint
    keys: a forward hook on the model appends ``loss_name`` to the dict
    returned by ``forward(..., mode='loss')``, so the term is summed into
    the total loss by ``parse_losses`` and logged like the others.

    Args:
        loss_weight (float): Weight of the L1 term. Defaults to 1e-3.
        ramp_iters (int): Ramp the weight linearly from
            ``loss_weight / ramp_iters`` to ``loss_weight`` over the first
            ``ramp_iters`` iterations (0: constant). Defaults to 0.
        loss_name (str): Key of the term in the loss dict; must contain
            ``'loss'`` to be optimised. Defaults to ``'loss_castling_mask'``.
    """

    priority = 'NORMAL'

    def __init__(self, loss_weight=1e-3, ramp_iters=0,
                 loss_name='loss_castling_mask'):
        if loss_weight < 0:
            raise ValueError('CastlingMaskL1Hook: loss_weight must be >= 0, '
                             f'got {loss_weight}')
        if 'loss' not in loss_name:
            raise ValueError('CastlingMaskL1Hook: loss_name must contain '
                             f'"loss" to be optimised, got {loss_name!r}')
        self.loss_weight = float(loss_weight)
        self.ramp_iters = int(ramp_iters)
        self.loss_name = loss_name
        self._iter = 0
        self._handle = None
        self._backbones = []

    def current_weight(self):
        """Weight of the L1 term at the current iteration."""
        if self.ramp_iters <= 0:
            return self.loss_weight
        return self.loss_weight * min(1.0, (self._iter + 1) / self.ramp_iters)

    def attach(self, model):
        """Register the forward hook on ``model`` (done in ``before_train``)."""
        from .castling_vit import CastlingViT
        if is_model_wrapper(model):
            model = model.module
        self._backbones = [m for m in model.modules()
                           if isinstance(m, CastlingViT)]
        if not self._backbones:
            raise RuntimeError('CastlingMaskL1Hook: the model contains no '
                               'CastlingViT backbone')
        self.detach()
        self._handle = model.register_forward_hook(self._add_loss,
                                                   with_kwargs=True)

    def detach(self):
        if self._handle is not None:
            self._handle.remove()
            self._handle = None

    def _add_loss(self, module, args, kwargs, output):
        if kwargs.get('mode') != 'loss' or not isinstance(output, dict):
            return None
        l1 = sum(b.mask_l1_loss() for b in self._backbones)
        output[self.loss_name] = self.current_weight() * l1
        return output

    def before_train(self, runner):
        self.attach(runner.model)

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        self._iter = runner.iter

    def after_train(self, runner):
        self.detach()
