"""RetinaNet and RPN heads trained with the PAP loss alone (no focal/CE or
L1 term): one loss over all levels and images of the batch."""
import torch
from mmdet.models.dense_heads import RetinaHead, RPNHead
from mmdet.models.utils import images_to_levels
from mmdet.registry import MODELS
from mmdet.structures.bbox import bbox_overlaps, cat_boxes, get_box_tensor

from .pap_loss import grad_scale

LOC_QUALITY = ('giou', 'iou')


def localization_quality(pred_boxes, target_boxes, mode='giou'):
    """Quality in [0, 1] of aligned boxes: ``(GIoU + 1) / 2`` or IoU."""
    if mode not in LOC_QUALITY:
        raise ValueError(f'reg_input must be one of {LOC_QUALITY}, got '
                         f'{mode!r}')
    overlap = bbox_overlaps(pred_boxes, target_boxes, mode=mode,
                            is_aligned=True)
    return (overlap + 1) / 2 if mode == 'giou' else overlap


def one_hot_targets(labels, label_weights, num_classes):
    """[M, C] targets in {-1, 0, 1} from mmdet's anchor labels/weights.

    Positive anchors (label < num_classes) get 1 at their class; anchors with
    zero label weight (the assigner's ignore band) get -1 everywhere.
    """
    targets = labels.new_zeros(labels.numel(), num_classes)
    pos = labels < num_classes
    targets[pos, labels[pos]] = 1
    targets[label_weights <= 0] = -1
    return targets


class PAPAnchorLoss:
    """Mixin replacing an anchor head's ``loss_by_feat`` by the PAP loss.

    Args (keyword-only, besides the head's own):
        loss_pap (dict): the loss, e.g. ``dict(type='PAPLoss', ...)``.
        reg_weight (float): gradient scale of the box branch (searched).
        reg_input (str): localisation quality of positives, ``'giou'``
            (``(GIoU + 1) / 2``, default) or ``'iou'``.
    """

    loss_key = 'loss_pap'

    def __init__(self, *args, loss_pap=dict(type='PAPLoss', form='linear'),
                 reg_weight=1.0, reg_input='giou', **kwargs):
        super().__init__(*args, **kwargs)
        if not self.use_sigmoid_cls:
            raise ValueError(f'{type(self).__name__} needs sigmoid '
                             'classification (loss_cls.use_sigmoid=True)')
        if reg_input not in LOC_QUALITY:
            raise ValueError(f'reg_input must be one of {LOC_QUALITY}, got '
                             f'{reg_input!r}')
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
        num_level_anchors = [a.size(0) for a in anchor_list[0]]
        level_anchors = images_to_levels(
            [cat_boxes(a) for a in anchor_list], num_level_anchors)

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
        anchors = torch.cat([get_box_tensor(a).reshape(-1, 4)
                             for a in level_anchors])

        targets = one_hot_targets(labels, label_weights, self.num_classes)
        quality = logits.new_zeros(labels.numel())
        pos = labels < self.num_classes
        if pos.any():
            pred = get_box_tensor(
                self.bbox_coder.decode(anchors[pos], deltas[pos]))
            gt = get_box_tensor(
                self.bbox_coder.decode(anchors[pos], target_deltas[pos]))
            quality = quality.index_put(
                (pos.nonzero().squeeze(1), ),
                localization_quality(pred, gt, self.reg_input))
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
