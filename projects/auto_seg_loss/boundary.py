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


def _min3(x, dim):
    """Min over the 3-window along ``dim``; the border takes the min over
    its in-image neighbours (padding with +inf)."""
    n = x.shape[dim]
    if n == 1:
        return x.clone()
    pair = torch.minimum(x.narrow(dim, 0, n - 1), x.narrow(dim, 1, n - 1))
    out = torch.empty_like(x)
    out.narrow(dim, 0, 1).copy_(pair.narrow(dim, 0, 1))
    out.narrow(dim, n - 1, 1).copy_(pair.narrow(dim, n - 2, 1))
    if n > 2:
        torch.minimum(pair.narrow(dim, 0, n - 2), pair.narrow(dim, 1, n - 2),
                      out=out.narrow(dim, 1, n - 2))
    return out


def _min3_backward(grad, x, out, dim):
    """Route ``grad`` of ``out = _min3(x)`` to one argmin per output: the
    centre if it is a minimum, else the previous pixel, else the next.

    Arithmetic on 0/1 float masks only (``eq`` written into a float
    tensor): boolean ``where`` / ``masked_fill`` are an order of magnitude
    slower per element on CPU. Seven elementwise passes."""
    n = x.shape[dim]
    hit = torch.eq(x, out, out=torch.empty_like(grad))
    if n == 1:
        return hit.mul_(grad)
    rest = torch.addcmul(grad, hit, grad, value=-1.0)  # not routed yet
    gx = hit.mul_(grad)  # to the centre
    head, tail = (lambda t: t.narrow(dim, 0, n - 1)), \
        (lambda t: t.narrow(dim, 1, n - 1))
    prev = torch.eq(head(x), tail(out), out=torch.empty_like(tail(grad)))
    head(gx).addcmul_(prev, tail(rest))
    tail(rest).addcmul_(prev, tail(rest), value=-1.0)
    tail(gx).add_(head(rest))  # what is left goes to the next pixel
    return gx


class _Erode(torch.autograd.Function):
    """3x3 min-pool (border padded with +inf, i.e. 1 for x <= 1) by two
    separable passes of shifted minima over cache-sized blocks of planes;
    the gradient goes to one argmin (recomputed, nothing extra is saved)."""

    @staticmethod
    def forward(ctx, x, chunk_elems):
        h, w = x.shape[-2:]
        planes = x.reshape(-1, h, w)
        out = torch.empty_like(planes)
        step = max(1, chunk_elems // (h * w))
        for s in range(0, planes.shape[0], step):
            out[s:s + step] = _min3(_min3(planes[s:s + step], -1), -2)
        ctx.chunk_elems = chunk_elems
        ctx.save_for_backward(x)
        return out.reshape(x.shape)

    @staticmethod
    def backward(ctx, grad):
        (x, ) = ctx.saved_tensors
        h, w = x.shape[-2:]
        planes, g = x.reshape(-1, h, w), grad.reshape(-1, h, w)
        gx = torch.empty_like(planes)
        step = max(1, ctx.chunk_elems // (h * w))
        for s in range(0, planes.shape[0], step):
            xs = planes[s:s + step]
            rows = _min3(xs, -1)
            out = _min3(rows, -2)
            g_rows = _min3_backward(g[s:s + step], rows, out, -2)
            gx[s:s + step] = _min3_backward(g_rows, xs, rows, -1)
        return gx.reshape(x.shape), None


def erode(x, chunk_elems=1 << 18):
    """3x3 min-pool of [N, C, H, W] with the border padded as 1 (for x <= 1
    this is the min over in-image neighbours); differentiable."""
    return _Erode.apply(x, chunk_elems)


def _window_reduce(x, tol, dim, op, pad_value):
    """``op``-reduce over the window ``[i - tol, i + tol]`` along ``dim``
    (-1 or -2), clipped to the tensor: pad with ``pad_value``, then
    one-sided doubling (4 passes for tol = 5)."""
    length = 2 * tol + 1
    pad = (tol, tol) if dim == -1 else (0, 0, tol, tol)
    m = torch.nn.functional.pad(x, pad, value=pad_value)
    width = 1  # m[i] = reduce of the padded x[i .. i + width - 1]
    while width < length:
        step = min(width, length - width)
        n = m.shape[dim]
        m = op(m.narrow(dim, 0, n - step), m.narrow(dim, step, n - step))
        width += step
    return m


def dilate_mask(b, tol):
    """Square dilation (side ``2 tol + 1``) of a bool [..., H, W] mask."""
    if tol <= 0:
        return b.clone()
    return _window_reduce(_window_reduce(b, tol, -1, torch.logical_or,
                                         False), tol, -2, torch.logical_or,
                          False)


def row_window_max(x, tol):
    """max over the window ``[j - tol, j + tol]`` of the last dim, clipped
    to the tensor."""
    if tol <= 0:
        return x
    return _window_reduce(x, tol, -1, torch.maximum, float('-inf'))


def trimap(label, tol, drop_bg=False):
    """Pixels within ``tol`` (Chebyshev) of a class boundary: [N, H, W] bool.

    ``drop_bg`` leaves out the boundaries of class 0 (background)."""
    edge = label_edges(label)
    if drop_bg:
        edge &= label != 0
    return dilate_mask(edge, tol)
