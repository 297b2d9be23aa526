"""Deformable DETR head trained with the PAP loss.

The paper reports PAP on Deformable DETR but the official code does not
release it. Here the positives are defined by the head's Hungarian matching:
each matched query contributes one positive entry (its GT class) with the
localisation quality of its box; every other (query, class) entry is a
negative. As in mmdet's DETR losses, every decoder layer (and the encoder
proposals of the two-stage variant, class-agnostic) gets its own loss, each
with its own matching.
"""
import copy

import torch
from mmdet.models.dense_heads import DeformableDETRHead
from mmdet.registry import MODELS
from mmdet.structures.bbox import bbox_cxcywh_to_xyxy

from .pap_loss import grad_scale
from .quality import (check_quality_mode, localization_quality,
                      one_hot_targets, scatter_quality)


@MODELS.register_module()
class PAPDeformableDETRHead(DeformableDETRHead):
    """DeformableDETRHead whose focal/L1/GIoU losses are replaced by PAP.

    Args (besides DeformableDETRHead's):
        loss_pap (dict): the loss, e.g. ``dict(type='PAPLoss', ...)``.
        reg_weight (float): gradient scale of the box branch.
        reg_input (str): ``'giou'`` (default), ``'iou'`` or ``'l1'``, on
            boxes normalised by the image size (DETR's own frame).

    ``loss_cls`` must be sigmoid (it also sets the matching cost's
    convention); ``loss_bbox``/``loss_iou`` are built but unused. The loss
    keys are ``loss_pap``, ``d{i}.loss_pap`` and ``enc_loss_pap``.
    """

    def __init__(self, *args, loss_pap=dict(type='PAPLoss', form='linear'),
                 reg_weight=1.0, reg_input='giou', **kwargs):
        super().__init__(*args, **kwargs)
        if not self.loss_cls.use_sigmoid:
            raise ValueError('PAPDeformableDETRHead needs sigmoid '
                             'classification (loss_cls.use_sigmoid=True)')
        check_quality_mode(reg_input)
        self.loss_pap = MODELS.build(loss_pap)
        self.reg_weight = float(reg_weight)
        self.reg_input = reg_input

    def loss_by_feat_single(self, cls_scores, bbox_preds, batch_gt_instances,
                            batch_img_metas):
        """The PAP loss of one decoder layer's [B, Q, C] scores and boxes."""
        (labels, label_weights, bbox_targets, _, _, _) = self.get_targets(
            list(cls_scores), list(bbox_preds), batch_gt_instances,
            batch_img_metas)
        labels = torch.cat(labels)
        label_weights = torch.cat(label_weights)
        bbox_targets = torch.cat(bbox_targets)
        boxes = grad_scale(bbox_preds, self.reg_weight).reshape(-1, 4)
        pos = labels < self.num_classes
        quality = scatter_quality(labels.numel(), pos, localization_quality(
            bbox_cxcywh_to_xyxy(boxes[pos]),
            bbox_cxcywh_to_xyxy(bbox_targets[pos]), self.reg_input))
        targets = one_hot_targets(labels, label_weights, self.num_classes)
        return self.loss_pap(cls_scores.reshape(-1, self.cls_out_channels),
                             targets, quality)

    def loss_by_feat(self, all_layers_cls_scores, all_layers_bbox_preds,
                     enc_cls_scores, enc_bbox_preds, batch_gt_instances,
                     batch_img_metas, batch_gt_instances_ignore=None):
        if batch_gt_instances_ignore is not None:
            raise ValueError('PAPDeformableDETRHead does not support ignored '
                             'boxes (batch_gt_instances_ignore)')
        losses = [
            self.loss_by_feat_single(cls, box, batch_gt_instances,
                                     batch_img_metas)
            for cls, box in zip(all_layers_cls_scores, all_layers_bbox_preds)
        ]
        loss_dict = dict(loss_pap=losses[-1])
        loss_dict.update(
            {f'd{i}.loss_pap': loss for i, loss in enumerate(losses[:-1])})
        if enc_cls_scores is not None:
            agnostic = copy.deepcopy(batch_gt_instances)
            for gt in agnostic:
                gt.labels = torch.zeros_like(gt.labels)
            loss_dict['enc_loss_pap'] = self.loss_by_feat_single(
                enc_cls_scores, enc_bbox_preds, agnostic, batch_img_metas)
        return loss_dict
