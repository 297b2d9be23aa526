"""Siamese Image Modeling (Tao et al., CVPR 2023) for mmpretrain."""
from .decoder import SIMHead, SIMProjector, TokenBatchNorm
from .geometry import (absolute_pos_embed, relative_grid,
                       relative_query_embed, sincos_1d, sincos_2d)
from .loss import SIMLoss, sim_loss, target_correlation, target_norm
from .sim import SIM, encode_tokens
from .transforms import SIMMaskGenerator, SIMTwoViews

__all__ = ['SIM', 'SIMHead', 'SIMLoss', 'SIMMaskGenerator', 'SIMProjector',
           'SIMTwoViews', 'TokenBatchNorm', 'absolute_pos_embed',
           'encode_tokens', 'relative_grid', 'relative_query_embed',
           'sim_loss', 'sincos_1d', 'sincos_2d', 'target_correlation',
           'target_norm']
