"""The boundary-F1 surrogate.

Soft predicted boundaries ``e = OR(h3(p), h4(erode(p))) - AND(h1(p),
h2(erode(p)))`` with the relaxed ``AND(a, b) = ab`` and ``OR(a, b) = a + b -
ab``; for one-hot p this is ``p XOR erode(p)``, the inner class boundary.
Per class c, over the batch:

    precision = sum e_c * dil(y_edge_c) / sum e_c
    recall    = sum dil(e_c) * y_edge_c / sum y_edge_c
    F1 = 2 P R / (P + R)

averaged over the classes with ground-truth boundaries. dil(e_c) is only
needed at ground-truth boundary pixels of class c, where it is read as the
max over each pixel's window; dil(y_edge) is a boolean dilation.
"""
import torch

from .boundary import (_min3, _min3_backward, dilate_mask, label_edges,
                       window_max_at)


def _edge_values(fns, a, b, slope):
    """The four functions on p (a) and erode(p) (b)."""
    h1, h2, h3, h4 = fns
    return (h1.evaluate(a, slope, clamp=False),
            h2.evaluate(b, slope, clamp=False),
            h3.evaluate(a, slope, clamp=False),
            h4.evaluate(b, slope, clamp=False))


class _SoftEdgeMap(torch.autograd.Function):
    """Soft edges ``e`` of p: masking of ignored pixels, 3x3 erosion and the
    four functions fused over cache-sized blocks of [H, W] planes. Saves p
    (the softmax output, kept by autograd anyway) and the two partial
    derivatives de/dp, de/d erode(p); the erosion's argmin routing is
    recomputed for the gradient."""

    @staticmethod
    def _block(p, invalid, c, rows):
        x = p[rows]
        img = torch.arange(rows.start, rows.stop, device=p.device) // c
        inv = invalid[img]
        if bool(inv.any()):
            x = x.masked_fill(inv, 0.0)
        else:
            inv = None
        eroded_w = _min3(x, -1)
        return x, inv, eroded_w, _min3(eroded_w, -2)

    @staticmethod
    def forward(ctx, p, invalid, near, fns, chunk_elems):
        n, c, h, w = p.shape
        planes = p.reshape(n * c, h, w)
        near = near.reshape(n * c, h, w)
        e = torch.empty_like(planes)
        e_sum = planes.new_empty(n * c)
        e_near = planes.new_empty(n * c)
        de_dp, de_dpe = torch.empty_like(planes), torch.empty_like(planes)
        step = max(1, chunk_elems // (h * w))
        for r in range(0, n * c, step):
            rows = slice(r, min(r + step, n * c))
            x, _, _, pe = _SoftEdgeMap._block(planes, invalid, c, rows)
            (o1, d1), (o2, d2), (o3, d3), (o4, d4) = _edge_values(
                fns, x, pe, True)
            out = torch.add(o3, o4, out=e[rows])
            out.addcmul_(o3, o4, value=-1.0).addcmul_(o1, o2, value=-1.0)
            e_sum[rows] = out.sum((1, 2))
            e_near[rows] = out.masked_fill(near[rows].logical_not(),
                                           0.0).sum((1, 2))
            # de/dp = h3'(p) (1 - o4) - h1'(p) o2; de/dpe likewise
            torch.mul(d3, o4.neg_().add_(1.0), out=de_dp[rows]).addcmul_(
                d1, o2, value=-1.0)
            torch.mul(d4, o3.neg_().add_(1.0), out=de_dpe[rows]).addcmul_(
                d2, o1, value=-1.0)
        ctx.step, ctx.shape = step, p.shape
        ctx.save_for_backward(p, invalid, near, de_dp, de_dpe)
        return e.reshape(p.shape), e_sum.reshape(n, c), e_near.reshape(n, c)

    @staticmethod
    def backward(ctx, grad, grad_sum, grad_near):
        p, invalid, near, de_dp, de_dpe = ctx.saved_tensors
        n, c, h, w = ctx.shape
        planes = p.reshape(n * c, h, w)
        g_all = grad.reshape(n * c, h, w) if grad is not None else None
        g_sum = grad_sum.reshape(-1, 1, 1)
        g_near = grad_near.reshape(-1, 1, 1)
        gp = torch.empty_like(planes)
        for r in range(0, n * c, ctx.step):
            rows = slice(r, min(r + ctx.step, n * c))
            x, inv, ew, pe = _SoftEdgeMap._block(planes, invalid, c, rows)
            # d loss / d e: the map itself, its plane sums, the sums near GT
            g = torch.where(near[rows], g_near[rows], 0.0).add_(g_sum[rows])
            if g_all is not None:
                g.add_(g_all[rows])
            g_pe = de_dpe[rows] * g
            g_x = _min3_backward(_min3_backward(g_pe, ew, pe, -2), x, ew, -1)
            g_x.addcmul_(de_dp[rows], g)
            if inv is not None:
                g_x.masked_fill_(inv, 0.0)
            gp[rows] = g_x
        return gp.reshape(ctx.shape), None, None, None, None


def bf1_surrogate(logits, target, fns, tol=5, eps=1e-8, chunk_elems=1 << 18):
    """Soft boundary F1 per class; returns (f1 [C], GT edge counts [C]).

    Args:
        logits (Tensor): [N, C, H, W] logits.
        target (Tensor): [N, H, W] labels, -1 = ignored (void: p = 0 there,
            and a class region next to it has a boundary there).
        fns: h1 (AND, p), h2 (AND, erode(p)), h3 (OR, p), h4 (OR,
            erode(p)).
    """
    n, c, h, w = logits.shape
    invalid = target < 0
    p = torch.softmax(logits, dim=1)
    with torch.no_grad():
        edge = label_edges(target)
        ni, yi, xi = edge.nonzero(as_tuple=True)
        ci = target[ni, yi, xi]
        gt_edge = torch.zeros((n, c, h, w), dtype=torch.bool,
                              device=target.device)
        gt_edge[ni, ci, yi, xi] = True
        gt_near = dilate_mask(gt_edge, tol)
        del gt_edge
        n_gt = torch.bincount(ci, minlength=c).to(p.dtype)
    # e, and its per-(image, class) sums overall and near GT boundaries
    e, e_sum, e_near = _SoftEdgeMap.apply(p, invalid, gt_near, list(fns),
                                          chunk_elems)
    n_e = e_sum.sum(0)
    match_fg = e_near.sum(0)
    at_gt = window_max_at(e, ni, ci, yi, xi, tol)
    match_gt = e.new_zeros(c).index_add(0, ci, at_gt)
    prec = match_fg / (n_e + eps)
    rec = match_gt / (n_gt + eps)
    return 2 * prec * rec / (prec + rec + eps), n_gt
