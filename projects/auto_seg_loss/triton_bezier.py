"""Piecewise quadratic Bezier functions inside Triton kernels.

A function is given by :meth:`PiecewiseBezier.piece_table` rows ``[x0,
1 / w, a, y0, dy1, b, xr, sr, kr]`` (``b = dy2 - 2 dy1``), read from a
float32 tensor, :data:`ROW` numbers a row (function k starts at
``prm + k * SLOTS * ROW``). With ``u = (x - x0) / w`` a
piece is the stable inversion of ``bezier.py``: ``t = u / (a + r)``,
``r = sqrt(max(s, 1e-12))`` with the radicand ``s = a^2 + (1 - 2a) u =
sr + kr (x - xr)`` written without cancellation; value ``y0 + t (2 dy1 +
b t)`` and slope ``(dy1 + b t) / (w r)``.
"""
import triton
import triton.language as tl

ROW = tl.constexpr(9)


@triton.jit
def _piece(x, prm):
    x0 = tl.load(prm)
    inv_w = tl.load(prm + 1)
    a = tl.load(prm + 2)
    y0 = tl.load(prm + 3)
    dy1 = tl.load(prm + 4)
    b = tl.load(prm + 5)
    s = tl.load(prm + 7) + tl.load(prm + 8) * (x - tl.load(prm + 6))
    r = tl.sqrt(tl.maximum(s, 1e-12))
    u = tl.minimum(tl.maximum((x - x0) * inv_w, 0.0), 1.0)
    t = u / (a + r)
    y = y0 + t * (2.0 * dy1 + b * t)
    d = (dy1 + b * t) * inv_w / r
    return y, d


@triton.jit
def bezier(x, prm, SLOTS: tl.constexpr):
    """h(x) and h'(x) of the function whose table starts at ``prm``."""
    y, d = _piece(x, prm)
    if SLOTS == 2:
        y2, d2 = _piece(x, prm + ROW)
        take = x > tl.load(prm + ROW)
        y = tl.where(take, y2, y)
        d = tl.where(take, d2, d)
    return y, d
