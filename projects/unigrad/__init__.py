"""UniGrad (Tao et al., CVPR 2022) for mmpretrain."""
from .unigrad import UniGrad
from .unigrad_loss import (batch_correlation, ema_correlation,
                           unigrad_gradient, unigrad_loss, unigrad_objective)

__all__ = ['UniGrad', 'batch_correlation', 'ema_correlation',
           'unigrad_gradient', 'unigrad_loss', 'unigrad_objective']
