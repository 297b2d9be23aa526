"""Frequency-weighted IoU, the reward of the Auto Seg-Loss FWIoU search
(mmseg's IoUMetric reports mIoU, mAcc and aAcc = gAcc, but not FWIoU)."""
from collections import OrderedDict

import numpy as np
from mmseg.evaluation.metrics import IoUMetric
from mmseg.registry import METRICS


@METRICS.register_module()
class FWIoUMetric(IoUMetric):
    """``FWIoU = sum_c f_c IoU_c / sum_c f_c`` with ``f_c`` the GT pixel
    count of class c (classes without GT pixels have weight 0), in percent,
    from the same per-class areas as :class:`mmseg.IoUMetric`."""

    def __init__(self, **kwargs):
        kwargs.setdefault('iou_metrics', ['mIoU'])
        super().__init__(**kwargs)

    def compute_metrics(self, results):
        inter, union, _, label = (sum(r) for r in zip(*results))
        inter, union, label = (np.asarray(x, dtype=np.float64)
                               for x in (inter, union, label))
        iou = np.divide(inter, union, out=np.zeros_like(inter),
                        where=union > 0)
        fwiou = float((label * iou).sum() / max(label.sum(), 1.0))
        return OrderedDict(FWIoU=round(fwiou * 100, 2))
