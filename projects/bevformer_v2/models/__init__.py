"""BEVFormer v2 models: detector, perspective head, BEV head and transformer,
coder/assigner, data preprocessor."""
from .attention import (CustomMSDeformableAttention, GroupMultiheadAttention,
                        MSDeformableAttention3D, SpatialCrossAttention,
                        TemporalSelfAttention, ms_deform_attn)
from .bbox import (HungarianAssigner3D, NMSFreeCoder, SmoothL1Cost, denormalize_bbox,
                   normalize_bbox)
from .bev_head import BEVFormerHead
from .data_preprocessor import BEVDataPreprocessor, GridMask
from .detector import BEVFormerV2
from .perspective_head import NuscenesDD3D
from .proposals import encode_proposals
from .transformer import PerceptionTransformerV2, ResNetFusion

__all__ = [
    'BEVFormerV2', 'BEVFormerHead', 'NuscenesDD3D', 'PerceptionTransformerV2',
    'ResNetFusion', 'TemporalSelfAttention', 'SpatialCrossAttention',
    'MSDeformableAttention3D', 'CustomMSDeformableAttention', 'GroupMultiheadAttention',
    'ms_deform_attn', 'NMSFreeCoder', 'HungarianAssigner3D', 'SmoothL1Cost',
    'normalize_bbox', 'denormalize_bbox', 'BEVDataPreprocessor', 'GridMask',
    'encode_proposals'
]
