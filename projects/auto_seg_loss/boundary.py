"""Class boundaries, erosion and dilation with pooling ops (vectorised).

Conventions (those of the official evaluator and loss):

* a pixel of class c is a boundary pixel of c when some 3x3 neighbour
  inside the image is not of class c (the inner boundary; outside the image
  counts as the same class, i.e. erosion pads with 1);
* ignored pixels belong to no class: they are never boundary pixels, and a
  class region next to them has a boundary there;
* the boundary tolerance is a square (Chebyshev) dilation of side
  ``2 * tol + 1``.
"""
import torch
import torch.nn.functional as F

_SHIFTS = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)
           if (dy, dx) != (0, 0)]


def label_edges(label):
    """Boundary pixels of a label map.

    Args:
        label (Tensor): [N, H, W] integer labels, negative = ignored.

    Returns:
        Tensor: [N, H, W] bool, True at valid pixels with a 3x3 neighbour
        (inside the image) of another label or ignored.
    """
    n, h, w = label.shape
    outside = torch.iinfo(torch.int64).min
    lp = F.pad(label.long()[:, None], (1, 1, 1, 1), value=outside)[:, 0]
    edge = torch.zeros_like(label, dtype=torch.bool)
    for dy, dx in _SHIFTS:
        nb = lp[:, 1 + dy:1 + dy + h, 1 + dx:1 + dx + w]
        edge |= (nb != label) & (nb != outside)
    return edge & (label >= 0)


def erode(x):
    """3x3 min-pool of [N, C, H, W] with the border padded as 1 (for x <= 1
    this is the min over in-image neighbours)."""
    return -F.max_pool2d(-x, 3, stride=1, padding=1)


def dilate(x, tol):
    """Square max-pool of side ``2 * tol + 1`` (separable: rows, columns)."""
    if tol <= 0:
        return x
    k = 2 * int(tol) + 1
    x = F.max_pool2d(x, (1, k), stride=1, padding=(0, tol))
    return F.max_pool2d(x, (k, 1), stride=1, padding=(tol, 0))


def one_hot(label, num_classes, dtype=torch.float32):
    """[N, H, W] labels (negative = none) to [N, C, H, W]; zeros where
    ignored."""
    n, h, w = label.shape
    out = torch.zeros((n, num_classes, h, w), dtype=dtype,
                      device=label.device)
    valid = label >= 0
    out.scatter_(1, label.clamp(min=0)[:, None].long(),
                 valid[:, None].to(dtype))
    return out


def trimap(label, tol, drop_bg=False):
    """Pixels within ``tol`` (Chebyshev) of a class boundary: [N, H, W] bool.

    ``drop_bg`` leaves out the boundaries of class 0 (background)."""
    edge = label_edges(label)
    if drop_bg:
        edge &= label != 0
    return dilate(edge[:, None].float(), tol)[:, 0] > 0.5
