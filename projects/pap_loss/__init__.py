"""Parameterized AP Loss (Tao et al., NeurIPS 2021) for mmdet."""
from .functions import (PiecewisePoly, grad_scale_from_theta,
                        theta_to_points)
from .pap_loss import PAPFunctions, PAPLoss, grad_scale, pap_loss
from .ranking import ranking_sum, step_count
from .quality import (localization_quality, one_hot_targets,
                      prior_frame_boxes)
from .anchor_heads import PAPAnchorLoss, PAPRetinaHead, PAPRPNHead
from .bbox_heads import PAPShared2FCBBoxHead, PAPSigmoidScores
from .detr_heads import PAPDeformableDETRHead

__all__ = ['PiecewisePoly', 'theta_to_points', 'grad_scale_from_theta',
           'PAPFunctions', 'PAPLoss', 'pap_loss', 'grad_scale',
           'ranking_sum', 'step_count', 'localization_quality',
           'one_hot_targets', 'prior_frame_boxes', 'PAPAnchorLoss',
           'PAPRetinaHead', 'PAPRPNHead', 'PAPShared2FCBBoxHead',
           'PAPSigmoidScores', 'PAPDeformableDETRHead']
