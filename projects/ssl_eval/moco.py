"""MoCo v2 whose key encoder follows the cosine momentum schedule."""
from mmpretrain.models import CosineEMA, MoCo
from mmpretrain.registry import MODELS
from torch import nn


@MODELS.register_module()
class MoCoCosineEMA(MoCo):
    """mmpretrain's :class:`MoCo` (queue, InfoNCE) with the key encoder
    updated by :class:`CosineEMA` instead of a constant momentum: in
    mmengine's convention ``m_k = momentum * (cos(pi k / K) + 1) / 2``, i.e.
    tau = 1 - m goes from ``1 - momentum`` to 1 over the ``K = max_iters``
    training iterations, as BYOL's target (the schedule of the fair
    benchmark, Huang et al. ECCV 2022). Arguments and checkpoint keys
    (``encoder_k.*``) are MoCo's.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        momentum = self.encoder_k.momentum
        self.encoder_k = CosineEMA(nn.Sequential(self.backbone, self.neck),
                                   momentum=momentum)
