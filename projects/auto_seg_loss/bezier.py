"""Piecewise quadratic Bezier functions h: [0, 1] -> [0, 1] of Auto Seg-Loss.

A function with P pieces runs through (0, 0), ``2P - 1`` inner points and
(1, 1): for two pieces ``c1, j, c2`` (control, junction, control), i.e. the
pieces (0, 0)-c1-j and j-c2-(1, 1); for one piece a single control point.
The official flat layout of one function is ``[c1x, c1y, jx, jy, c2x, c2y]``
(or ``[cx, cy]``); a loss concatenates its functions.

Evaluation inverts x(t) of the piece containing x. With the piece's box
normalised to ``u = (x - x0) / (x2 - x0)`` and control ratio
``a = (x1 - x0) / (x2 - x0)``, x(t) = u solves ``(1 - 2a) t^2 + 2a t = u``.
The official root ``(a - sqrt(a^2 + (1 - 2a) u)) / (2a - 1)`` cancels
catastrophically as a -> 0.5 in float32; the algebraically equal

    t = u / (a + sqrt(a^2 + (1 - 2a) u))

has no cancellation (a + sqrt(.) >= a >= 0, and sqrt(.) >= 1 - a when
a > 1/2). Its slope is ``dt/du = 1 / (2 sqrt(a^2 + (1 - 2a) u))``.
"""
import torch

# floor of a^2 + (1 - 2a) u: only reached for a < 1e-6 at u = 0 (or a > 1 -
# 1e-6 at u = 1), i.e. vertical tangents, where it keeps the slope finite.
_S_MIN = 1e-12


def theta_to_control_points(theta, num_functions=None, num_pieces=None):
    """Map search parameters theta in [0, 1] to monotone control points.

    Layout (the official search's): theta is the concatenation of
    ``num_functions`` blocks of ``2 * (2 * num_pieces - 1)`` numbers, one
    block per function in the order of :data:`FUNCTIONS` of the target
    metric; a block is ``(x, y)`` pairs of its inner points. Within a block
    ``point_0 = theta_0`` and ``point_k = theta_k * (1 - point_{k-1}) +
    point_{k-1}`` (x and y separately), so every point lies in the box
    between its predecessor and (1, 1): x and y never decrease and every
    quadratic piece is monotone. The search's initial mean ``(0.25, 0.25,
    1/3, 1/3, 0.5, 0.5)`` gives (0.25, 0.25), (0.5, 0.5), (0.75, 0.75),
    i.e. h(x) = x; for one piece ``(0.5, 0.5)`` is the identity.

    Args:
        theta (Sequence[float] | Tensor): flat theta, values in [0, 1].
        num_functions (int, optional): number of functions; if given with
            ``num_pieces`` the length is checked.
        num_pieces (int, optional): pieces per function (2 for the region
            metrics and BIoU, 1 for BF1). Default: inferred as 2 when the
            length is a multiple of 6, else 1.

    Returns:
        torch.Tensor: float64 control points of the same flat layout.
    """
    theta = torch.as_tensor(theta, dtype=torch.float64).reshape(-1)
    if ((theta < 0) | (theta > 1)).any() or not torch.isfinite(theta).all():
        raise ValueError(f'theta must lie in [0, 1], got {theta.tolist()}')
    if num_pieces is None:
        num_pieces = 2 if theta.numel() % 6 == 0 else 1
    block = 2 * (2 * num_pieces - 1)
    if theta.numel() % block or (num_functions is not None and
                                 theta.numel() != num_functions * block):
        raise ValueError(
            f'theta has {theta.numel()} numbers; {num_functions or "k"} '
            f'function(s) of {num_pieces} piece(s) need blocks of {block}')
    points = theta.clone().reshape(-1, 2 * num_pieces - 1, 2)
    for k in range(1, points.shape[1]):
        points[:, k] = points[:, k] * (1 - points[:, k - 1]) + \
            points[:, k - 1]
    return points.reshape(-1)


def control_points_to_theta(points, num_pieces=None):
    """Inverse of :func:`theta_to_control_points` (where it is defined;
    a coordinate of 1 makes the following ones free, given theta 0)."""
    points = torch.as_tensor(points, dtype=torch.float64).reshape(-1)
    if num_pieces is None:
        num_pieces = 2 if points.numel() % 6 == 0 else 1
    pts = points.reshape(-1, 2 * num_pieces - 1, 2)
    theta = pts.clone()
    prev = pts[:, :-1]
    room = 1 - prev
    theta[:, 1:] = torch.where(room > 0, (pts[:, 1:] - prev) /
                               room.clamp_min(1e-300), torch.zeros_like(room))
    return theta.reshape(-1)


def check_control_points(points, num_pieces, where='control points'):
    """Raise ValueError unless ``points`` (one function, flat) is a valid
    monotone curve: ``2 * (2P - 1)`` finite numbers in [0, 1] whose x and y
    never decrease from (0, 0) to (1, 1)."""
    n = 2 * (2 * num_pieces - 1)
    try:
        vals = [float(v) for v in points]
    except (TypeError, ValueError):
        raise ValueError(f'{where}: expected {n} numbers, got {points!r}'
                         ) from None
    if len(vals) != n:
        raise ValueError(f'{where}: expected {n} numbers ({num_pieces} '
                         f'piece(s): {(n // 2)} inner points), got '
                         f'{len(vals)}: {vals}')
    if any(not (0.0 <= v <= 1.0) for v in vals):
        raise ValueError(f'{where}: values must lie in [0, 1], got {vals}')
    xs = [0.0] + vals[0::2] + [1.0]
    ys = [0.0] + vals[1::2] + [1.0]
    for name, seq in (('x', xs), ('y', ys)):
        if any(a > b for a, b in zip(seq, seq[1:])):
            raise ValueError(
                f'{where}: {name} coordinates must be non-decreasing from 0 '
                f'to 1 (monotone function), got {vals}')
    return vals


class PiecewiseBezier:
    """One monotone piecewise quadratic Bezier function with h(0) = 0 and
    h(1) = 1 (the truth-table constraint is built in).

    Args:
        points (Sequence[float]): inner points, flat ``[x, y, ...]``;
            ``2 * (2P - 1)`` numbers for P pieces.
    """

    def __init__(self, points):
        vals = [float(v) for v in torch.as_tensor(
            points, dtype=torch.float64).reshape(-1).tolist()]
        if len(vals) % 4 != 2:
            raise ValueError(f'a function needs 2 * (2P - 1) numbers, got '
                             f'{len(vals)}')
        self.num_pieces = (len(vals) + 2) // 4
        check_control_points(vals, self.num_pieces)
        self.points = vals
        xy = [(0.0, 0.0)] + list(zip(vals[0::2], vals[1::2])) + [(1.0, 1.0)]
        # pieces with zero width are vertical jumps: skipped (the value at a
        # jump's x is the left piece's, as for x in (x0, x2] below)
        self.pieces = []
        for k in range(self.num_pieces):
            (x0, y0), (x1, y1), (x2, y2) = xy[2 * k:2 * k + 3]
            if x2 > x0:
                self.pieces.append(dict(
                    x0=x0, x2=x2, inv_w=1.0 / (x2 - x0),
                    a=(x1 - x0) / (x2 - x0), y0=y0, dy1=y1 - y0,
                    dy2=y2 - y0))

    @classmethod
    def identity(cls, num_pieces=2):
        n = 2 * num_pieces - 1
        return cls([v for k in range(n) for v in ((k + 1) / (n + 1),) * 2])

    @classmethod
    def from_theta(cls, theta, num_pieces=None):
        return cls(theta_to_control_points(theta, 1, num_pieces))

    def __repr__(self):
        return f'PiecewiseBezier({[round(v, 6) for v in self.points]})'

    @staticmethod
    def _piece(x, pc, slope, bounded=False):
        """Value (and slope) of one piece, for x inside its box.

        With ``v = x - x0``, ``k = (1 - 2a) / w`` and ``r = sqrt(a^2 / |k|
        + sign(k) v)``, the root is ``sqrt(|k|) r`` and the stable
        ``t = q s`` with ``q = v / (r + a / sqrt|k|)``, ``s = 1 / (w
        sqrt|k|)``. With ``m = dy1 s + b s^2 q`` (``b = dy2 - 2 dy1``) the
        value is ``y0 + q (m + dy1 s)`` and the slope ``m / r``: every scale
        is folded into scalars, eight elementwise passes for both.
        ``bounded``: x is known to lie in [0, x2], so the radicand stays
        positive unless the tangent at an end is (nearly) vertical.
        """
        a, w = pc['a'], 1.0 / pc['inv_w']
        v = x - pc['x0'] if pc['x0'] != 0.0 else x
        k = (1.0 - 2.0 * a) / w
        b = pc['dy2'] - 2.0 * pc['dy1']
        if abs(k) < 1e-20:  # a = 1/2: t = v / w
            c1 = 2.0 * pc['dy1'] / w
            m = torch.add(x.new_tensor(c1), v, alpha=b / (w * w))
            y = m * v  # y - y0 = v (c1 + b v / w^2)
            d = torch.add(x.new_tensor(c1), v, alpha=2.0 * b / (w * w)) \
                if slope else None
        else:
            sk = abs(k) ** 0.5
            shift = a * a / abs(k)
            r = torch.add(v, shift) if k > 0 else torch.rsub(v, shift)
            # r >= 0 on the box but reaches 0 at a vertical tangent: a ~ 0
            # at u = 0, a ~ 1 at u = 1 (or past x2 when not bounded)
            if a * a < 1e-6 or (k < 0 and (
                    not bounded or (1.0 - a) ** 2 < 1e-4 * a * a)):
                r.clamp_min_(_S_MIN / abs(k))
            r.sqrt_()
            q = torch.add(r, a / sk)
            torch.div(v, q, out=q)
            scale = 1.0 / (w * sk)
            m = torch.add(x.new_tensor(pc['dy1'] * scale), q,
                          alpha=b * scale * scale)
            y = torch.add(m, pc['dy1'] * scale).mul_(q)
            d = torch.div(m, r, out=r) if slope else None
        if pc['y0'] != 0.0:
            y.add_(pc['y0'])
        return y, d

    def evaluate(self, x, slope=False, clamp=True):
        """h(x) (and dh/dx) without autograd.

        The first piece is evaluated on every element, later pieces only on
        the elements past their start (at most ``1 / x0`` per softmax
        vector), which keeps the work close to one piece.

        Args:
            x (Tensor): inputs; float32 (or float64) math.
            slope (bool): also return dh/dx.
            clamp (bool): clamp x to [0, 1] first (skip when x is known to
                lie there, e.g. softmax outputs).
        """
        if x.dtype not in (torch.float32, torch.float64):
            x = x.float()
        if clamp:
            x = x.clamp(0.0, 1.0)
        first, *rest = self.pieces
        # x lies in [0, 1] and the last piece ends at x = 1
        y, d = self._piece(x, first, slope, bounded=not rest)
        for i, pc in enumerate(rest):
            flat = x.reshape(-1)
            idx = (flat > pc['x0']).nonzero().squeeze(1)
            if idx.numel() == 0:
                continue
            yk, dk = self._piece(flat.index_select(0, idx), pc, slope,
                                 bounded=i == len(rest) - 1)
            y.view(-1).index_copy_(0, idx, yk)
            if slope:
                d.view(-1).index_copy_(0, idx, dk)
        return (y, d) if slope else y

    def piece_table(self, slots=2):
        """The pieces as ``slots`` rows ``[x0, 1 / w, a, y0, dy1, dy2 -
        2 dy1, xr, sr, (1 - 2a) / w]`` for the fused kernels: the first row
        applies to every x, a later one where x > its x0 (unused rows start
        past 1). The radicand is ``sr + (1 - 2a) (x - xr) / w``, a sum of
        non-negative terms: ``xr = x0, sr = a^2`` for a <= 1/2, else
        ``xr = x2, sr = (1 - a)^2`` (no cancellation near a vertical
        tangent at x2)."""
        rows = []
        for pc in self.pieces:
            a, w = pc['a'], 1.0 / pc['inv_w']
            xr, sr = (pc['x0'], a * a) if a <= 0.5 else \
                (pc['x0'] + w, (1.0 - a)**2)
            rows.append([pc['x0'], pc['inv_w'], a, pc['y0'], pc['dy1'],
                         pc['dy2'] - 2.0 * pc['dy1'], xr, sr,
                         (1.0 - 2.0 * a) * pc['inv_w']])
        if len(rows) > slots:
            raise ValueError(f'{self} has {len(rows)} pieces, more than '
                             f'{slots}')
        unused = [3.0, 1.0, 0.5, 0.0, 0.0, 0.0, 3.0, 0.25, 0.0]
        return rows + [unused] * (slots - len(rows))

    def __call__(self, x):
        """Differentiable h(x) (saves only x for the backward pass)."""
        return _BezierFunction.apply(x, self)


class _BezierFunction(torch.autograd.Function):

    @staticmethod
    def forward(ctx, x, fn):
        ctx.fn = fn
        ctx.save_for_backward(x)
        return fn.evaluate(x).to(x.dtype)

    @staticmethod
    def backward(ctx, grad):
        (x, ) = ctx.saved_tensors
        _, d = ctx.fn.evaluate(x, slope=True)
        inside = (x >= 0) & (x <= 1)  # clamp's subgradient
        return (grad * d * inside).to(x.dtype), None
