"""Box code, NMS-free coder, 3D Hungarian assigner and the SmoothL1 match cost.

Box tensor and box code (``normalize_bbox`` / ``denormalize_bbox``) are the
project's, from :mod:`projects.bevformer_v2.structures`.
"""
from typing import Optional, Sequence

import torch
from mmengine.structures import InstanceData
from scipy.optimize import linear_sum_assignment
from torch import Tensor

from mmdet.models.task_modules.assigners import AssignResult, BaseAssigner
from mmdet.registry import TASK_UTILS
from ..structures import denormalize_bbox, normalize_bbox

__all__ = ['normalize_bbox', 'denormalize_bbox', 'NMSFreeCoder', 'SmoothL1Cost',
           'HungarianAssigner3D']


@TASK_UTILS.register_module()
class NMSFreeCoder:
    """Top-k over (query, class) scores, no NMS (BEVFormer's ``NMSFreeCoder``).

    Args:
        pc_range (list[float]): BEV range, kept for config compatibility.
        post_center_range (list[float], optional): boxes whose centre lies
            outside ``[x0, y0, z0, x1, y1, z1]`` are dropped.
        max_num (int): number of boxes kept before the range filter.
        score_threshold (float, optional): minimum score.
        num_classes (int): number of classes.
    """

    def __init__(self, pc_range: Sequence[float],
                 post_center_range: Optional[Sequence[float]] = None,
                 max_num: int = 300, score_threshold: Optional[float] = None,
                 num_classes: int = 10, voxel_size=None):
        self.pc_range = list(pc_range)
        self.post_center_range = (None if post_center_range is None
                                  else list(post_center_range))
        self.max_num = max_num
        self.score_threshold = score_threshold
        self.num_classes = num_classes

    def decode_single(self, cls_scores: Tensor, bbox_preds: Tensor) -> InstanceData:
        """cls_scores (Q, C) logits, bbox_preds (Q, 10) box codes (metres)."""
        num = min(self.max_num, cls_scores.numel())
        scores, index = cls_scores.sigmoid().flatten().topk(num)
        labels = index % self.num_classes
        query = torch.div(index, self.num_classes, rounding_mode='floor')
        boxes = denormalize_bbox(bbox_preds[query])
        keep = torch.ones_like(scores, dtype=torch.bool)
        if self.score_threshold is not None:
            keep &= scores > self.score_threshold
        if self.post_center_range is not None:
            r = boxes.new_tensor(self.post_center_range)
            centre = boxes[:, :3].clone()
            centre[:, 2] = boxes[:, 2] + boxes[:, 5] / 2
            keep &= ((centre >= r[:3]) & (centre <= r[3:])).all(1)
        res = InstanceData()
        res.bboxes_3d = boxes[keep]
        res.scores_3d = scores[keep]
        res.labels_3d = labels[keep]
        res.query_index = query[keep]
        return res


@TASK_UTILS.register_module()
class SmoothL1Cost:
    """Pairwise smooth-L1 (beta 1) cost between box codes, times ``weight``."""

    def __init__(self, weight: float = 1.0, beta: float = 1.0):
        self.weight = weight
        self.beta = beta

    def __call__(self, pred: Tensor, target: Tensor) -> Tensor:
        diff = (pred[:, None, :] - target[None, :, :]).abs()
        loss = torch.where(diff < self.beta, 0.5 * diff**2 / self.beta,
                           diff - 0.5 * self.beta)
        return loss.sum(-1) * self.weight


@TASK_UTILS.register_module()
class HungarianAssigner3D(BaseAssigner):
    """One-to-one matching of queries to 3D GT boxes (scipy Hungarian).

    cost = cls_cost (mmdet ``FocalLossCost``) + reg_cost on the first
    ``num_reg_dims`` box-code dims (no velocity), as in BEVFormer.
    """

    def __init__(self, cls_cost=dict(type='FocalLossCost', weight=2.0),
                 reg_cost=dict(type='SmoothL1Cost', weight=0.75),
                 iou_cost=None, num_reg_dims: int = 8, pc_range=None):
        self.cls_cost = TASK_UTILS.build(cls_cost)
        self.reg_cost = TASK_UTILS.build(reg_cost)
        self.num_reg_dims = num_reg_dims

    def assign(self, bbox_pred: Tensor, cls_pred: Tensor, gt_bboxes: Tensor,
               gt_labels: Tensor) -> AssignResult:
        """bbox_pred (Q, 10) codes, cls_pred (Q, C) logits, gt_bboxes (n, 9)."""
        num_gts, num_q = gt_bboxes.size(0), bbox_pred.size(0)
        gt_inds = bbox_pred.new_full((num_q, ), -1, dtype=torch.long)
        labels = bbox_pred.new_full((num_q, ), -1, dtype=torch.long)
        if num_gts == 0 or num_q == 0:
            gt_inds[:] = 0
            return AssignResult(num_gts, gt_inds, None, labels=labels)
        cls_cost = self.cls_cost(InstanceData(scores=cls_pred),
                                 InstanceData(labels=gt_labels))
        d = self.num_reg_dims
        reg_cost = self.reg_cost(bbox_pred[:, :d], normalize_bbox(gt_bboxes)[:, :d])
        cost = torch.nan_to_num(cls_cost + reg_cost, nan=1e8, posinf=1e8,
                                neginf=-1e8).detach().cpu()
        rows, cols = linear_sum_assignment(cost.numpy())
        rows = torch.as_tensor(rows, device=bbox_pred.device, dtype=torch.long)
        cols = torch.as_tensor(cols, device=bbox_pred.device, dtype=torch.long)
        gt_inds[:] = 0
        gt_inds[rows] = cols + 1
        labels[rows] = gt_labels[cols]
        return AssignResult(num_gts, gt_inds, None, labels=labels)
