"""Faster R-CNN's Shared2FC box head trained with the PAP loss: sigmoid
classification (one logit per class, no background logit) and
class-specific box regression, as in the official PAP head."""
import torch
from mmdet.models.roi_heads.bbox_heads import Shared2FCBBoxHead
from mmdet.registry import MODELS
from torch import nn

from .pap_loss import grad_scale
from .quality import (check_quality_mode, localization_quality,
                      one_hot_targets, prior_frame_boxes, scatter_quality)


@MODELS.register_module()
class PAPSigmoidScores(nn.Module):
    """The classification spec of PAP box heads, given as their ``loss_cls``.

    mmdet's box heads ask ``loss_cls`` for the number of class logits and
    for the score activation (the Seesaw/focal "custom" protocol). This
    module answers: ``num_classes`` logits and sigmoid scores, with a zero
    background column appended for mmdet's NMS. It computes no loss (the
    PAP loss of the head replaces it) and raises if called as one.
    """

    custom_cls_channels = True
    custom_activation = True

    def get_cls_channels(self, num_classes):
        return num_classes

    def get_activation(self, cls_score):
        scores = cls_score.sigmoid()
        return torch.cat([scores, scores.new_zeros(len(scores), 1)], dim=1)

    def forward(self, *args, **kwargs):
        raise RuntimeError('PAPSigmoidScores is not a loss: it only defines '
                           'the sigmoid scores of a PAP box head')


@MODELS.register_module()
class PAPShared2FCBBoxHead(Shared2FCBBoxHead):
    """Shared2FCBBoxHead trained by the PAP loss (``loss_pap``).

    Args (besides Shared2FCBBoxHead's):
        loss_pap (dict): the loss, e.g. ``dict(type='PAPLoss', ...)``.
        reg_weight (float): gradient scale of the box branch (searched).
        reg_input (str): ``'giou'`` (default), ``'iou'`` or ``'l1'``, on the
            predicted box of the GT class decoded in the RoI's frame.

    ``loss_cls`` is replaced by :class:`PAPSigmoidScores` and ``loss_bbox``
    is unused. Regression is class-specific by default, as in the paper;
    boxes are regressed as deltas (``reg_decoded_bbox=False``): IoU/GIoU are
    frame-invariant, so this equals the official decoded-box quality.
    """

    def __init__(self, *args, loss_pap=dict(type='PAPLoss', form='linear'),
                 reg_weight=1.0, reg_input='giou', reg_class_agnostic=False,
                 reg_decoded_bbox=False, **kwargs):
        if reg_decoded_bbox:
            raise ValueError('PAPShared2FCBBoxHead regresses deltas and '
                             'decodes them itself: set reg_decoded_bbox=False')
        check_quality_mode(reg_input)
        kwargs['loss_cls'] = dict(type='PAPSigmoidScores')
        super().__init__(*args, reg_class_agnostic=reg_class_agnostic,
                         **kwargs)
        self.loss_pap = MODELS.build(loss_pap)
        self.reg_weight = float(reg_weight)
        self.reg_input = reg_input

    def loss(self, cls_score, bbox_pred, rois, labels, label_weights,
             bbox_targets, bbox_weights, reduction_override=None):
        """``{'loss_pap': loss}`` over all RoIs and classes of the batch."""
        size = self.bbox_coder.encode_size
        deltas = grad_scale(bbox_pred, self.reg_weight)
        pos = labels < self.num_classes
        if self.reg_class_agnostic:
            pos_deltas = deltas.view(-1, size)[pos]
        else:
            pos_deltas = deltas.view(len(deltas), -1, size)[pos, labels[pos]]
        quality = scatter_quality(labels.numel(), pos, localization_quality(
            prior_frame_boxes(self.bbox_coder, pos_deltas),
            prior_frame_boxes(self.bbox_coder, bbox_targets[pos]),
            self.reg_input))
        targets = one_hot_targets(labels, label_weights, self.num_classes)
        return dict(loss_pap=self.loss_pap(cls_score, targets, quality))
