"""MaskDistill (Peng et al., "A Unified View of Masked Image Modeling", 2022)
as an mmpretrain self-supervised algorithm."""
from .head import MaskDistillHead, MaskedSmoothL1Loss, masked_smooth_l1
from .maskdistill import MaskDistill, layer_norm_target

__all__ = ['MaskDistill', 'MaskDistillHead', 'MaskedSmoothL1Loss',
           'masked_smooth_l1', 'layer_norm_target']
