"""Channel-first LayerNorm for [N, C, H, W] maps (``LN2d``)."""
import torch.nn as nn
import torch.nn.functional as F
from mmengine.registry import MODELS


class LayerNorm2d(nn.LayerNorm):
    """LayerNorm over the channel dimension of an [N, C, H, W] tensor.

    Equivalent to permuting to channels-last, applying ``nn.LayerNorm(C)``
    and permuting back (ViTDet's ``LayerNorm``).

    Args:
        num_channels (int): C.
        eps (float): Added to the variance. Defaults to 1e-6 (ViTDet).
        elementwise_affine (bool): Learnable weight and bias.
    """

    _abbr_ = 'ln'

    def __init__(self, num_channels, eps=1e-6, elementwise_affine=True):
        super().__init__(num_channels, eps=eps,
                         elementwise_affine=elementwise_affine)
        self.num_channels = num_channels

    def forward(self, x):
        if x.dim() != 4:
            raise ValueError(f'LayerNorm2d expects [N, C, H, W], got shape '
                             f'{tuple(x.shape)}')
        x = x.permute(0, 2, 3, 1)
        x = F.layer_norm(x, self.normalized_shape, self.weight, self.bias,
                         self.eps)
        return x.permute(0, 3, 1, 2)


# The root registry has no LN2d (mmpretrain registers one only in its own
# scope, mmdet and mmseg none), so register ours there for every scope.
if 'LN2d' not in MODELS.module_dict:
    MODELS.register_module('LN2d', module=LayerNorm2d)
