"""Auto Seg-Loss (Li et al., ICLR 2021): searched metric surrogates for
semantic segmentation, as an mmseg loss, with BIoU / BF1 metrics."""
from .bezier import (PiecewiseBezier, check_control_points,
                     control_points_to_theta, theta_to_control_points)
from .params import FUNCTIONS, TARGET_METRICS, load_params
from .auto_seg_loss import AutoSegLoss, surrogate_metric
from .metrics import BF1Metric, BIoUMetric

__all__ = ['PiecewiseBezier', 'theta_to_control_points',
           'control_points_to_theta', 'check_control_points', 'FUNCTIONS',
           'TARGET_METRICS', 'load_params', 'AutoSegLoss', 'surrogate_metric',
           'BIoUMetric', 'BF1Metric']
