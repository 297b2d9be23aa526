"""Exact ranking sums ``N_i = sum_j H(x_ji) w_j`` without the [K, |P|] matrix.

``x_ji = clip((s_j - s_i) / 2 + 1/2, 0, 1)`` for rows j (top-K entries) and
columns i (positives). ``H`` is a piecewise polynomial of degree <= 2 in x, so
on each segment the sum over j is a polynomial in ``t_i = (1 - s_i) / 2`` whose
coefficients are range sums of ``w``, ``y w`` and ``y^2 w`` (``y_j = s_j / 2``)
over the rows in that segment's window. With the rows sorted once, every window
is two binary searches and every range sum a difference of prefix sums:
O((K + |P| S) log K) time and O(K + |P| S) memory instead of O(K |P|).

The backward pass spreads each (column, segment) coefficient over its row
window with difference arrays, so it has the same cost. Sums are done in
float64 to keep the prefix-sum differences exact to ~1e-12 relative.
"""
import torch


def _windows(ys, t, breaks):
    """Row index bounds ``[P, S + 1]``: window k is ``[idx[:, k], idx[:, k+1])``.

    Segment k holds the rows with ``b_k <= y_j + t_i < b_k+1``, the last one
    also ``x = 1`` (the clipped gap's subgradient convention of autograd's
    ``clamp``); rows from ``idx[:, S]`` on have ``x > 1`` (saturated, H(1)).
    """
    bounds = (breaks[None, :] - t[:, None]).contiguous()
    idx = torch.searchsorted(ys, bounds, side='left')
    idx[:, -1] = torch.searchsorted(ys, bounds[:, -1].contiguous(),
                                    side='right')
    return idx


def _prefix(values):
    return torch.cat([values.new_zeros(1), torch.cumsum(values, 0)])


def _spread(idx, per_segment, top, length):
    """Sum per-(column, segment) values over their row windows (+ saturated)."""
    diff = per_segment.new_zeros(length + 1)
    diff.index_add_(0, idx[:, :-1].reshape(-1), per_segment.reshape(-1))
    diff.index_add_(0, idx[:, 1:].reshape(-1), -per_segment.reshape(-1))
    diff.index_add_(0, idx[:, -1], top)
    return torch.cumsum(diff, 0)[:length]


class RankingSum(torch.autograd.Function):
    """Differentiable ``N_i = sum_j H(x_ji) w_j`` for a PiecewisePoly ``H``.

    Rows and columns are gathered from one logit tensor, so that an entry's
    row and column gradients (large, opposite terms) are added in float64 and
    cast once.
    """

    @staticmethod
    def forward(ctx, logits, w_rows, row_idx, col_idx, fn):
        values = logits.detach().double()
        ys, order = torch.sort(values[row_idx] / 2)
        ws = w_rows.detach().double()[order]
        t = (1 - values[col_idx]) / 2
        breaks = torch.tensor(fn.breaks, dtype=torch.float64,
                              device=ys.device)
        coeffs = torch.tensor(fn.coeffs, dtype=torch.float64, device=ys.device)
        idx = _windows(ys, t, breaks)
        sums = [_prefix(ws), _prefix(ws * ys), _prefix(ws * ys * ys)]
        win = [p[idx[:, 1:]] - p[idx[:, :-1]] for p in sums]  # 3 x [P, S]
        c0, c1, c2 = coeffs[:, 0], coeffs[:, 1], coeffs[:, 2]
        tt = t[:, None]
        a = c0 + c1 * tt + c2 * tt * tt  # [P, S]
        b = c1 + 2 * c2 * tt
        h_one = float(coeffs[-1].sum())  # H(1)
        top = sums[0][-1] - sums[0][idx[:, -1]]
        out = (a * win[0] + b * win[1] + c2 * win[2]).sum(1) + h_one * top
        ctx.save_for_backward(ys, ws, order, idx, a, b, c2, win[0], win[1],
                              row_idx, col_idx)
        ctx.h_one = h_one
        ctx.numel = logits.numel()
        return out.to(logits.dtype)

    @staticmethod
    def backward(ctx, grad_out):
        (ys, ws, order, idx, a, b, c2, win0, win1, row_idx,
         col_idx) = ctx.saved_tensors
        g = grad_out.double()[:, None]
        length = ys.numel()
        top = grad_out.double() * ctx.h_one
        zero = torch.zeros_like(top)
        d0 = _spread(idx, g * a, top, length)
        d1 = _spread(idx, g * b, zero, length)
        d2 = _spread(idx, (g * c2).expand_as(a), zero, length)
        grad_w = torch.empty_like(d0)
        grad_w[order] = d0 + d1 * ys + d2 * ys * ys
        grad_logits = ys.new_zeros(ctx.numel)
        # rows: dy/ds = 1/2; columns: dt/ds = -1/2
        grad_logits.index_add_(0, row_idx[order], ws * (d1 + 2 * d2 * ys) / 2)
        grad_logits.index_add_(0, col_idx,
                               -(g * (b * win0 + 2 * c2 * win1)).sum(1) / 2)
        dtype = grad_out.dtype
        return grad_logits.to(dtype), grad_w.to(dtype), None, None, None


def ranking_sum_indexed(logits, w_rows, row_idx, col_idx, fn):
    """:func:`ranking_sum` with rows ``logits[row_idx]`` and columns
    ``logits[col_idx]`` of one flat logit tensor."""
    return RankingSum.apply(logits, w_rows, row_idx, col_idx, fn)


def ranking_sum(s_rows, w_rows, s_cols, fn):
    """``sum_j H(clip((s_j - s_i)/2 + 1/2, 0, 1)) * w_j`` for every column i.

    Args:
        s_rows (Tensor): [K] row logits.
        w_rows (Tensor): [K] row weights.
        s_cols (Tensor): [P] column logits.
        fn (PiecewisePoly): H.

    Returns:
        Tensor: [P], differentiable in all three tensors.
    """
    k = s_rows.numel()
    idx = torch.arange(k + s_cols.numel(), device=s_rows.device)
    return RankingSum.apply(torch.cat([s_rows, s_cols]), w_rows, idx[:k],
                            idx[k:], fn)


@torch.no_grad()
def step_count(s_rows, s_cols):
    """``sum_j [s_j > s_i] + 1/2 [s_j == s_i]``: the exact-step H1 (no grad)."""
    ys, _ = torch.sort(s_rows.double())
    s = s_cols.double().contiguous()
    left = torch.searchsorted(ys, s, side='left')
    right = torch.searchsorted(ys, s, side='right')
    return (ys.numel() - right + 0.5 * (right - left)).to(s_rows.dtype)


class SigmoidSum(torch.autograd.Function):
    """``N_i = sum_j sigmoid(s_j - s_i) w_j``, chunked over columns.

    The hand-crafted ``sigmoid`` form has no piecewise-polynomial structure;
    chunking keeps memory at O(chunk K) in forward and backward.
    """

    @staticmethod
    def forward(ctx, s_rows, w_rows, s_cols, chunk):
        out = torch.empty_like(s_cols)
        for start in range(0, s_cols.numel(), chunk):
            d = s_rows[None, :] - s_cols[start:start + chunk, None]
            out[start:start + chunk] = torch.sigmoid(d) @ w_rows
        ctx.save_for_backward(s_rows, w_rows, s_cols)
        ctx.chunk = chunk
        return out

    @staticmethod
    def backward(ctx, grad_out):
        s_rows, w_rows, s_cols = ctx.saved_tensors
        grad_rows_s = torch.zeros_like(s_rows)
        grad_rows_w = torch.zeros_like(w_rows)
        grad_cols = torch.empty_like(s_cols)
        for start in range(0, s_cols.numel(), ctx.chunk):
            g = grad_out[start:start + ctx.chunk]
            sig = torch.sigmoid(s_rows[None, :] -
                                s_cols[start:start + ctx.chunk, None])
            dsig = sig * (1 - sig) * g[:, None]
            grad_rows_w += g @ sig
            grad_rows_s += dsig.sum(0) * w_rows
            grad_cols[start:start + ctx.chunk] = -(dsig @ w_rows)
        return grad_rows_s, grad_rows_w, grad_cols, None


def sigmoid_sum(s_rows, w_rows, s_cols, max_elements=1 << 22):
    """``sum_j sigmoid(s_j - s_i) w_j`` for every column i (differentiable)."""
    chunk = max(1, max_elements // max(1, s_rows.numel()))
    return SigmoidSum.apply(s_rows, w_rows, s_cols, chunk)
