"""Castling-ViT (You et al., CVPR 2023): linear-angular attention trained
with an auxiliary masked softmax branch that is dropped at inference."""
from .attention import LinAngularAttention, softmax_attention
from .castling_vit import CastlingEncoderLayer, CastlingViT
from .hooks import CastlingMaskL1Hook

__all__ = ['LinAngularAttention', 'softmax_attention', 'CastlingEncoderLayer',
           'CastlingViT', 'CastlingMaskL1Hook']
