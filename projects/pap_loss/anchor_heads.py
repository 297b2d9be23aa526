"""RetinaNet and RPN heads trained with the PAP loss alone (no focal/CE or
L1 term): one loss over all levels and images of the batch."""
import torch
from mmdet.models.dense_heads import RetinaHead, RPNHead
from mmdet.registry import MODELS

from .pap_loss import grad_scale
from .quality import (check_quality_mode, localization_quality,
                      one_hot_targets, prior_frame_boxes, scatter_quality)


class PAPAnchorLoss:
    """Mixin replacing an anchor head's ``loss_by_feat`` by the PAP loss.

    Args (keyword-only, besides the head's own):
        loss_pap (dict): the loss, e.g. ``dict(type='PAPLoss', ...)``.
        reg_weight (float): gradient scale of the box branch (searched).
        reg_input (str): localisation quality of positives, ``'giou'``
            (``(GIoU + 1) / 2``, default), ``'iou'`` or ``'l1'``, computed on
            boxes decoded in the anchor's frame (see :mod:`.quality`).
    """

    loss_key = 'loss_pap'

    def __init__(self, *args, loss_pap=dict(type='PAPLoss', form='linear'),
                 reg_weight=1.0, reg_input='giou', **kwargs):
        super().__init__(*args, **kwargs)
        if not self.use_sigmoid_cls:
            raise ValueError(f'{type(self).__name__} needs sigmoid '
                             'classification (loss_cls.use_sigmoid=True)')
        check_quality_mode(reg_input)
        self.loss_pap = MODELS.build(loss_pap)
        self.reg_weight = float(reg_weight)
        self.reg_input = reg_input

    def loss_by_feat(self, cls_scores, bbox_preds, batch_gt_instances,
                     batch_img_metas, batch_gt_instances_ignore=None):
        """One PAP loss over all levels and images: ``{loss_key: loss}``."""
        device = cls_scores[0].device
        featmap_sizes = [f.size()[-2:] for f in cls_scores]
        anchor_list, valid_flag_list = self.get_anchors(
            featmap_sizes, batch_img_metas, device=device)
        (labels_list, label_weights_list, bbox_targets_list, _,
         _) = self.get_targets(
             anchor_list, valid_flag_list, batch_gt_instances,
             batch_img_metas,
             batch_gt_instances_ignore=batch_gt_instances_ignore)

        def flat(tensors, width):
            return torch.cat([t.permute(0, 2, 3, 1).reshape(-1, width)
                              for t in tensors])

        logits = flat(cls_scores, self.cls_out_channels)
        deltas = flat([grad_scale(b, self.reg_weight) for b in bbox_preds],
                      self.bbox_coder.encode_size)
        labels = torch.cat([x.reshape(-1) for x in labels_list])
        label_weights = torch.cat([x.reshape(-1) for x in label_weights_list])
        target_deltas = torch.cat(
            [x.reshape(-1, x.size(-1)) for x in bbox_targets_list])

        targets = one_hot_targets(labels, label_weights, self.num_classes)
        pos = labels < self.num_classes
        quality = scatter_quality(labels.numel(), pos, localization_quality(
            prior_frame_boxes(self.bbox_coder, deltas[pos]),
            prior_frame_boxes(self.bbox_coder, target_deltas[pos]),
            self.reg_input))
        return {self.loss_key: self.loss_pap(logits, targets, quality)}


@MODELS.register_module()
class PAPRetinaHead(PAPAnchorLoss, RetinaHead):
    """RetinaHead trained by the PAP loss (``loss_pap``); see
    :class:`PAPAnchorLoss` for the extra arguments. ``loss_cls``/``loss_bbox``
    are built by the parent but unused (only ``use_sigmoid`` is read)."""


@MODELS.register_module()
class PAPRPNHead(PAPAnchorLoss, RPNHead):
    """RPNHead trained by the PAP loss (``loss_rpn_pap``, one class); see
    :class:`PAPAnchorLoss` for the extra arguments."""

    loss_key = 'loss_rpn_pap'
