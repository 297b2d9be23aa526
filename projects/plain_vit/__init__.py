"""Shared pieces of VisionPlug's plain-ViT backbones (Castling-ViT, Magneto):
arch-table look-up, ``out_indices`` normalisation and the patch-size check."""
from .plain_vit import PlainViTMixin

__all__ = ['PlainViTMixin']
