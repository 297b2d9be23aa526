"""Magneto (Wang et al., "Foundation Transformers", ICML 2023): a ViT with
Sub-LayerNorm and the DeepNet-derived initialisation."""
from .magneto_vit import MagnetoViT
from .sub_ln import (GAMMA_SCALED, MagnetoEncoderLayer, SubLNAttention,
                     SubLNFFN, magneto_gamma)

__all__ = ['MagnetoViT', 'MagnetoEncoderLayer', 'SubLNAttention', 'SubLNFFN',
           'magneto_gamma', 'GAMMA_SCALED']
