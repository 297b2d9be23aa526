"""Boundary IoU (BIoU) and boundary F1 (BF1) as mmseg metrics.

Both accumulate over the whole evaluation set, as the official Auto
Seg-Loss evaluator does, and follow the boundary conventions of
:mod:`.boundary` (inner 3x3 class boundaries, square tolerance). Pixels
whose label is ignored count as no class in the prediction too.

* BIoU: IoU per class on the trimap, the valid pixels within ``tol`` of a
  ground-truth class boundary (``drop_bg``: not counting class 0's
  boundaries); mean over classes with a non-empty union.
* BF1: per class, precision = predicted boundary pixels within ``tol`` of a
  GT boundary of the class / predicted boundary pixels, recall = GT
  boundary pixels within ``tol`` of a predicted one / GT boundary pixels,
  F1 = 2PR / (P + R); mean over classes with GT boundaries (``drop_bg``:
  without class 0).
"""
from collections import OrderedDict

import numpy as np
import torch
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger, print_log
from mmseg.registry import METRICS

from .boundary import dilate_mask, label_edges, trimap


def _valid_labels(label, num_classes, ignore_index):
    label = label.long()
    invalid = (label < 0) | (label >= num_classes) | (label == ignore_index)
    return torch.where(invalid, -1, label)


def boundary_iou_counts(pred, label, num_classes, tol=5, drop_bg=False):
    """Intersection and union per class on the trimap of ``label``.

    Args:
        pred, label (Tensor): [H, W] (or [N, H, W]) labels; negative =
            ignored.
    """
    if label.dim() == 2:
        pred, label = pred[None], label[None]
    mask = trimap(label, tol, drop_bg) & (label >= 0)
    p, g = pred[mask].long(), label[mask].long()
    inter = torch.bincount(g[p == g], minlength=num_classes)
    area_p = torch.bincount(p, minlength=num_classes)[:num_classes]
    area_g = torch.bincount(g, minlength=num_classes)
    return inter.double(), (area_p + area_g - inter).double()


def boundary_f1_counts(pred, label, num_classes, tol=5):
    """Predicted/GT boundary pixel counts and their matches per class.

    Returns:
        tuple: ``n_pred, n_gt, match_pred, match_gt`` ([C] float64 each).
    """
    if label.dim() == 2:
        pred, label = pred[None], label[None]
    pred = torch.where(label >= 0, pred.long(), -1)
    e_pred, e_gt = label_edges(pred), label_edges(label)
    counts = [torch.zeros(num_classes, dtype=torch.float64)
              for _ in range(4)]
    classes = torch.unique(torch.cat([pred[e_pred], label[e_gt]]))
    for start in range(0, len(classes), 16):  # bounded memory
        cls = classes[start:start + 16].to(label.device)
        ep = (pred[:, None] == cls[:, None, None]) & e_pred[:, None]
        eg = (label[:, None] == cls[:, None, None]) & e_gt[:, None]
        dp, dg = dilate_mask(ep, tol), dilate_mask(eg, tol)
        for acc, val in zip(counts, (ep, eg, ep & dg, eg & dp)):
            acc[cls.cpu()] += val.sum((0, 2, 3)).double().cpu()
    return tuple(counts)


def bf1_from_counts(n_pred, n_gt, match_pred, match_gt, drop_bg=False):
    """Per-class F1 (NaN for classes without GT boundaries)."""
    n_pred, n_gt = np.asarray(n_pred, float), np.asarray(n_gt, float)
    with np.errstate(divide='ignore', invalid='ignore'):
        prec = np.where(n_pred > 0, np.asarray(match_pred) /
                        np.maximum(n_pred, 1), 0.0)
        rec = np.where(n_gt > 0, np.asarray(match_gt) /
                       np.maximum(n_gt, 1), np.nan)
        f1 = np.where(prec + rec > 0, 2 * prec * rec / (prec + rec), 0.0)
    f1 = np.where(n_gt > 0, f1, np.nan)
    if drop_bg:
        f1[0] = np.nan
    return f1


class _BoundaryMetric(BaseMetric):
    default_prefix = None

    def __init__(self, tol=5, drop_bg=False, ignore_index=255,
                 collect_device='cpu', prefix=None, **kwargs):
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.tol = int(tol)
        self.drop_bg = drop_bg
        self.ignore_index = ignore_index

    def _pairs(self, data_samples):
        num_classes = len(self.dataset_meta['classes'])
        for ds in data_samples:
            pred = ds['pred_sem_seg']['data'].squeeze().cpu()
            label = ds['gt_sem_seg']['data'].squeeze().cpu()
            yield pred.long(), _valid_labels(label, num_classes,
                                             self.ignore_index), num_classes

    def _log_table(self, name, per_class):
        classes = self.dataset_meta['classes']
        rows = '\n'.join(f'{c:<20} {v * 100:8.2f}'
                         for c, v in zip(classes, per_class))
        print_log(f'per class {name}:\n{rows}',
                  logger=MMLogger.get_current_instance())


@METRICS.register_module()
class BIoUMetric(_BoundaryMetric):
    """Boundary IoU over the dataset (see module doc). Key: ``BIoU``."""

    def process(self, data_batch, data_samples):
        for pred, label, c in self._pairs(data_samples):
            self.results.append(boundary_iou_counts(pred, label, c, self.tol,
                                                    self.drop_bg))

    def compute_metrics(self, results):
        inter = sum(r[0] for r in results).numpy()
        union = sum(r[1] for r in results).numpy()
        with np.errstate(divide='ignore', invalid='ignore'):
            per_class = np.where(union > 0, inter / union, np.nan)
        self._log_table('BIoU', per_class)
        return OrderedDict(BIoU=float(np.round(np.nanmean(per_class) * 100,
                                               2)))


@METRICS.register_module()
class BF1Metric(_BoundaryMetric):
    """Boundary F1 over the dataset (see module doc). Key: ``BF1``."""

    def process(self, data_batch, data_samples):
        for pred, label, c in self._pairs(data_samples):
            self.results.append(boundary_f1_counts(pred, label, c, self.tol))

    def compute_metrics(self, results):
        sums = [sum(r[k] for r in results).numpy() for k in range(4)]
        per_class = bf1_from_counts(*sums, drop_bg=self.drop_bg)
        self._log_table('BF1', per_class)
        return OrderedDict(BF1=float(np.round(np.nanmean(per_class) * 100,
                                              2)))
