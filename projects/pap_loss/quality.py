"""PAP targets: one-hot entry targets and the localisation quality of
positives, shared by the anchor, RoI and DETR heads."""
from mmdet.structures.bbox import bbox_overlaps, get_box_tensor

LOC_QUALITY = ('giou', 'iou', 'l1')


def check_quality_mode(mode):
    if mode not in LOC_QUALITY:
        raise ValueError(f'reg_input must be one of {LOC_QUALITY}, got '
                         f'{mode!r}')


def localization_quality(pred_boxes, target_boxes, mode='giou'):
    """Quality in [0, 1] of aligned xyxy boxes given in a normalised frame.

    ``'giou'``: ``(GIoU + 1) / 2``; ``'iou'``: IoU; ``'l1'``:
    ``clamp(1 - |pred - target|_1, 0, 1)``. IoU and GIoU do not depend on the
    frame (any per-axis scale and shift); the L1 form does, so callers pass
    boxes relative to their prior (:func:`prior_frame_boxes`) or to the image
    (DETR), as the official code does for anchors.
    """
    check_quality_mode(mode)
    if mode == 'l1':
        dist = (pred_boxes - target_boxes).abs().sum(-1)
        return (1 - dist).clamp(0, 1)
    overlap = bbox_overlaps(pred_boxes, target_boxes, mode=mode,
                            is_aligned=True)
    return (overlap + 1) / 2 if mode == 'giou' else overlap


def prior_frame_boxes(bbox_coder, deltas):
    """Decode ``deltas`` [M, 4] against a unit prior centred at the origin.

    This is the official PAP frame: boxes measured in units of their anchor
    or RoI, so the L1 quality does not depend on object size.
    """
    unit = deltas.new_tensor([-0.5, -0.5, 0.5, 0.5]).expand(len(deltas), 4)
    return get_box_tensor(bbox_coder.decode(unit, deltas))


def one_hot_targets(labels, label_weights, num_classes):
    """[M, C] targets in {-1, 0, 1} from mmdet's labels/label weights.

    Positive entries (label < num_classes) get 1 at their class; entries with
    zero label weight (the assigner's ignore band) get -1 everywhere.
    """
    targets = labels.new_zeros(labels.numel(), num_classes)
    pos = labels < num_classes
    targets[pos, labels[pos]] = 1
    targets[label_weights <= 0] = -1
    return targets


def scatter_quality(num, pos, values):
    """A length-``num`` vector that is ``values`` at mask ``pos``, 0 else."""
    quality = values.new_zeros(num)
    return quality.index_put((pos.nonzero().squeeze(1), ), values)


__all__ = ['LOC_QUALITY', 'check_quality_mode', 'localization_quality',
           'prior_frame_boxes', 'one_hot_targets', 'scatter_quality']
