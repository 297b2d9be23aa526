"""Plain float64 reference of the Auto Seg-Loss surrogates (for tests and
the benchmark): dense one-hot tensors, the official root form of the Bezier
inversion, full (non-separable) pooling windows, plain autograd.
"""
import torch
import torch.nn.functional as F


def bezier_reference(x, points):
    """h(x) with the official root form ``(a - sqrt(a^2 + (1 - 2a) u)) /
    (2a - 1)`` in the dtype of x (use float64; the official code takes t = u
    only when a == 1/2 exactly, here also within 1e-12 of it, where the root
    form is 0/0 in any precision)."""
    pts = [float(v) for v in points]
    xy = [(0.0, 0.0)] + list(zip(pts[0::2], pts[1::2])) + [(1.0, 1.0)]
    x = x.clamp(0, 1)
    y = torch.zeros_like(x)
    for k in range((len(xy) - 1) // 2):
        (x0, y0), (x1, y1), (x2, y2) = xy[2 * k:2 * k + 3]
        if x2 <= x0:
            continue
        a = (x1 - x0) / (x2 - x0)
        u = ((x - x0) / (x2 - x0)).clamp(0, 1)
        if abs(2 * a - 1) < 1e-12:
            t = u
        else:
            t = (a - torch.sqrt(a * a + (1 - 2 * a) * u)) / (2 * a - 1)
        yk = (1 - t) ** 2 * y0 + 2 * t * (1 - t) * y1 + t ** 2 * y2
        y = torch.where(x > x0, yk, y) if k else yk
    return y


def _edges_onehot(y):
    """y XOR erode(y) for one-hot [N, C, H, W] (border padded with 1)."""
    eroded = -F.max_pool2d(-F.pad(y, (1, 1, 1, 1), value=1.0), 3, stride=1)
    return y - eroded


def _dilate(x, tol):
    if tol <= 0:
        return x
    return F.max_pool2d(x, 2 * tol + 1, stride=1, padding=tol)


def surrogate_reference(logits, label, target_metric, rows, tol=5,
                        drop_bg=False, eps=1e-8, class_mean='all'):
    """The surrogate metric of ``target_metric`` written densely.

    Args:
        logits (Tensor): [N, C, H, W] logits (use float64).
        label (Tensor): [N, H, W] labels; outside [0, C) ignored.
        rows (list): control points of the functions (FUNCTIONS order).
    """
    n, c, h, w = logits.shape
    valid = (label >= 0) & (label < c)
    y = F.one_hot(torch.where(valid, label, c).long(), c + 1)[..., :c]
    y = y.permute(0, 3, 1, 2).to(logits.dtype)
    p = torch.softmax(logits, 1) * valid[:, None]
    m = valid[:, None].to(logits.dtype)
    fns = [lambda x, r=r: bezier_reference(x, r) for r in rows]
    if target_metric == 'BIoU':
        edge = _edges_onehot(y)
        if drop_bg:
            edge = edge[:, 1:]
        m = m * (_dilate(edge, tol).amax(1, keepdim=True) > 0.5)
    if target_metric in ('mIoU', 'FWIoU', 'BIoU'):
        inter = (fns[0](p) * y * m).sum((0, 2, 3))
        ho = fns[1](p)
        union = ((ho + y - ho * y) * m).sum((0, 2, 3))
        values = inter / (union + eps)
        freq = (y * m).sum((0, 2, 3))
        if target_metric == 'FWIoU':
            keep = freq > 0
            return (values * freq)[keep].sum() / freq[keep].sum()
    elif target_metric in ('mAcc', 'gAcc'):
        hits = (fns[0](p) * y).sum((0, 2, 3))
        freq = y.sum((0, 2, 3))
        if target_metric == 'gAcc':
            return hits.sum() / (freq.sum() + eps)
        values = hits / (freq + eps)
    elif target_metric == 'BF1':
        pe = -F.max_pool2d(-F.pad(p, (1, 1, 1, 1), value=1.0), 3, stride=1)
        h1, h2, h3, h4 = fns
        e = h3(p) + h4(pe) - h3(p) * h4(pe) - h1(p) * h2(pe)
        y_edge = _edges_onehot(y)
        freq = y_edge.sum((0, 2, 3))
        prec = (e * _dilate(y_edge, tol)).sum((0, 2, 3)) / (
            e.sum((0, 2, 3)) + eps)
        rec = (_dilate(e, tol) * y_edge).sum((0, 2, 3)) / (freq + eps)
        f1 = 2 * prec * rec / (prec + rec + eps)
        keep = freq > 0
        if drop_bg:
            keep[0] = False
        return f1[keep].mean() if keep.any() else f1.sum() * 0
    else:
        raise ValueError(target_metric)
    if class_mean == 'all':
        return values.mean()
    keep = freq > 0
    return values[keep].mean() if keep.any() else values.sum() * 0
