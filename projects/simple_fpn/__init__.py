"""SimpleFPN (ViTDet neck) and the channel-first LayerNorm ``LN2d``."""
from .layer_norm import LayerNorm2d
from .simple_fpn import SimpleFPN

__all__ = ['LayerNorm2d', 'SimpleFPN']
