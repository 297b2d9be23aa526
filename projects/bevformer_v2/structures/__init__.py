"""BEVFormer v2 structures: 3D boxes in the lidar frame and the box code."""
from .boxes import (CORNER_SIGNS, LiDARBoxes3D, denormalize_bbox,
                    limit_period, normalize_bbox, rotation_z)

__all__ = ['LiDARBoxes3D', 'normalize_bbox', 'denormalize_bbox',
           'limit_period', 'rotation_z', 'CORNER_SIGNS']
