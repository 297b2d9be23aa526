"""Auto Seg-Loss (Li et al., ICLR 2021) as an mmseg decode-head loss.

Metric surrogates: the exact metrics written with logical AND/OR on one-hot
maps, with the predicted one-hot replaced by h(softmax(logits)) for searched
piecewise Bezier functions h (h(0) = 0, h(1) = 1, monotone), so that each
surrogate equals its metric on one-hot predictions. All sums run over the
valid pixels of the whole batch (a batch-level surrogate, as in the paper);
``loss = loss_weight * (1 - surrogate)``.
"""
import torch
from mmseg.registry import MODELS
from torch import nn

from .backend import check_backend
from .bezier import PiecewiseBezier
from .bf1 import bf1_surrogate
from .boundary import trimap
from .params import (FUNCTIONS, check_target_metric, load_params,
                     split_flat)
from .region import region_sums

_LOW_PRECISION = (torch.float16, torch.bfloat16)


def _mean(values, keep):
    """Mean of ``values[keep]``; 0 (with a zero gradient) when empty."""
    if bool(keep.any()):
        return values[keep].mean()
    return values.sum() * 0.0


def iou_surrogate(logits, target, h_and, h_or, eps=1e-8, chunk_elems=None,
                  backend='auto'):
    """Per-class soft IoU ``sum h_and(p) y / sum (h_or(p) + y - h_or(p) y)``
    over the valid pixels of the batch; returns (iou [C], counts [C])."""
    (g_and, g_or), s_or, n = region_sums(logits, target, [h_and, h_or],
                                         h_or, chunk_elems, backend)
    return g_and / (s_or - g_or + n + eps), n


def acc_surrogate(logits, target, h, chunk_elems=None, backend='auto'):
    """Per-class soft hits ``sum h(p_c) y_c`` and counts ``sum y_c``."""
    (hits, ), _, n = region_sums(logits, target, [h], None, chunk_elems,
                                 backend)
    return hits, n


def surrogate_metric(logits, target, target_metric, fns, tol=5,
                     drop_bg=False, eps=1e-8, class_mean='all',
                     chunk_elems=None, backend='auto'):
    """The differentiable surrogate of ``target_metric`` in [0, 1].

    Args:
        logits (Tensor): [N, C, H, W] float32/float64 logits at label size.
        target (Tensor): [N, H, W] long labels, -1 (any negative) ignored.
        fns (list[PiecewiseBezier]): functions in :data:`FUNCTIONS` order.
        class_mean (str): ``'all'`` averages per-class values over all C
            classes (official: absent classes count 0); ``'present'`` over
            the classes present in the labels of the batch.
        chunk_elems (int, optional): block size of the PyTorch paths
            (default: per device, see ``backend.py``).
        backend (str): ``'auto'`` (fused Triton kernels for float32 CUDA
            logits when triton is installed, else PyTorch), ``'torch'`` or
            ``'triton'``.
    """
    c = logits.shape[1]
    if target_metric == 'BIoU':
        target = torch.where(trimap(target, tol, drop_bg), target, -1)
    if target_metric in ('mIoU', 'FWIoU', 'BIoU'):
        values, n = iou_surrogate(logits, target, fns[0], fns[1], eps,
                                  chunk_elems, backend)
        if target_metric == 'FWIoU':
            total = n.sum()
            return (values * n).sum() / total if total > 0 else \
                values.sum() * 0.0
    elif target_metric == 'mAcc':
        hits, n = acc_surrogate(logits, target, fns[0], chunk_elems, backend)
        values = hits / (n + eps)
    elif target_metric == 'gAcc':
        hits, n = acc_surrogate(logits, target, fns[0], chunk_elems, backend)
        return hits.sum() / (n.sum() + eps)
    elif target_metric == 'BF1':
        values, n = bf1_surrogate(logits, target, fns, tol, eps, drop_bg,
                                  chunk_elems, backend)
        keep = n > 0
        if drop_bg:
            keep[0] = False
        return _mean(values, keep)
    else:
        check_target_metric(target_metric)
    if class_mean == 'all':
        return values.sum() / c
    return _mean(values, n > 0)


@MODELS.register_module()
class AutoSegLoss(nn.Module):
    """Searched metric-surrogate loss ``loss_weight * (1 - surrogate)``.

    Give the functions as exactly one of ``params_file``, ``ctrl_points`` or
    ``theta`` (flat official layout or one row per function; see
    :data:`FUNCTIONS` for the order and :func:`theta_to_control_points`).

    Args:
        target_metric (str): one of mIoU, FWIoU, mAcc, gAcc, BIoU, BF1.
        params_file (str, optional): JSON parameter file (path, path from the
            repository root, or a file name in ``projects/auto_seg_loss/
            params``).
        ctrl_points (list, optional): inner control points.
        theta (list, optional): search parameters in [0, 1].
        tol (int): boundary tolerance (BIoU trimap, BF1 dilation).
        drop_bg (bool): leave out class 0's boundaries (BIoU trimap, BF1
            mean), as the official VOC evaluation does.
        class_mean (str): ``'all'`` (official) or ``'present'``.
        eps (float): guard of the ratios.
        loss_weight (float): weight; the loss lies in [0, loss_weight].
        ignore_index (int): label ignored besides those outside [0, C).
        loss_name (str): key in the loss dict (mmseg adds the ``loss_``
            entries up).
        chunk_elems (int, optional): elements per block of the PyTorch
            paths; default: per device (cache-sized on CPU, one block
            elsewhere).
        backend (str): ``'auto'`` (fused Triton kernels for float32 CUDA
            logits when triton is installed, else PyTorch), ``'torch'`` or
            ``'triton'``.
    """

    def __init__(self, target_metric='mIoU', params_file=None,
                 ctrl_points=None, theta=None, tol=5, drop_bg=False,
                 class_mean='all', eps=1e-8, loss_weight=1.0,
                 ignore_index=255, loss_name='loss_autoseg',
                 chunk_elems=None, backend='auto'):
        super().__init__()
        check_target_metric(target_metric)
        check_backend(backend)
        given = [k for k, v in (('params_file', params_file),
                                ('ctrl_points', ctrl_points),
                                ('theta', theta)) if v is not None]
        if len(given) != 1:
            raise ValueError(
                f'AutoSegLoss({target_metric}): give exactly one of '
                f'params_file, ctrl_points or theta, got {given or "none"}')
        if class_mean not in ('all', 'present'):
            raise ValueError(f"class_mean must be 'all' or 'present', got "
                             f'{class_mean!r}')
        self.params_doc = None
        if params_file is not None:
            rows, _, self.params_doc = load_params(params_file, target_metric)
        elif ctrl_points is not None:
            rows = split_flat(ctrl_points, target_metric,
                              f'AutoSegLoss({target_metric}) ctrl_points')
        else:
            rows = split_flat(theta, target_metric,
                              f'AutoSegLoss({target_metric}) theta', 'theta')
        self.target_metric = target_metric
        self.function_names = FUNCTIONS[target_metric][0]
        self.functions = [PiecewiseBezier(r) for r in rows]
        self.tol = int(tol)
        self.drop_bg = drop_bg
        self.class_mean = class_mean
        self.eps = eps
        self.loss_weight = loss_weight
        self.ignore_index = ignore_index
        self.chunk_elems = None if chunk_elems is None else int(chunk_elems)
        self.backend = backend
        self._loss_name = loss_name

    @property
    def ctrl_points(self):
        """Control points of the functions, one row per function."""
        return [list(f.points) for f in self.functions]

    def forward(self, cls_score, label, weight=None, ignore_index=None,
                **kwargs):
        """Args:
            cls_score (Tensor): [N, C, H, W] logits (at the label size).
            label (Tensor): [N, H, W] labels; values outside [0, C),
                ``self.ignore_index`` and ``ignore_index`` are ignored.
            weight: per-pixel weights are not supported (must be None).
        """
        if weight is not None:
            raise ValueError('AutoSegLoss is a batch-level metric surrogate '
                             'and takes no per-pixel weight (remove the '
                             'pixel sampler)')
        if cls_score.dim() != 4 or label.shape != (cls_score.shape[:1] +
                                                    cls_score.shape[2:]):
            raise ValueError(f'expected logits [N, C, H, W] and labels '
                             f'[N, H, W], got {tuple(cls_score.shape)} and '
                             f'{tuple(label.shape)}')
        c = cls_score.shape[1]
        label = label.long()
        invalid = (label < 0) | (label >= c)
        for idx in {self.ignore_index, ignore_index} - {None}:
            invalid |= label == idx
        target = torch.where(invalid, -1, label)
        with torch.autocast(device_type=cls_score.device.type, enabled=False):
            logits = cls_score.float() if cls_score.dtype in _LOW_PRECISION \
                or cls_score.dtype == torch.float32 else cls_score
            metric = surrogate_metric(
                logits, target, self.target_metric, self.functions, self.tol,
                self.drop_bg, self.eps, self.class_mean, self.chunk_elems,
                self.backend)
            loss = self.loss_weight * (1.0 - metric)
        return loss.to(torch.float64 if cls_score.dtype == torch.float64
                       else torch.float32)

    @property
    def loss_name(self):
        return self._loss_name

    def extra_repr(self):
        return (f'target_metric={self.target_metric}, functions='
                f'{dict(zip(self.function_names, self.ctrl_points))}, '
                f'tol={self.tol}, drop_bg={self.drop_bg}, '
                f'loss_weight={self.loss_weight}')
