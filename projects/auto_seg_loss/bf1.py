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

from .boundary import dilate_mask, erode, label_edges, window_max_at


class _SoftEdges(torch.autograd.Function):
    """``e`` from p and erode(p), elementwise in cache-sized blocks; saves
    only its inputs and recomputes the four functions for the gradient."""

    @staticmethod
    def forward(ctx, p, pe, fns, chunk_elems):
        h1, h2, h3, h4 = fns
        e = torch.empty_like(p)
        for a, b, out in zip(p.reshape(-1).split(chunk_elems),
                             pe.reshape(-1).split(chunk_elems),
                             e.view(-1).split(chunk_elems)):
            o3, o4 = h3.evaluate(a, clamp=False), h4.evaluate(b, clamp=False)
            o1, o2 = h1.evaluate(a, clamp=False), h2.evaluate(b, clamp=False)
            torch.add(o3, o4, out=out)
            out.addcmul_(o3, o4, value=-1.0).addcmul_(o1, o2, value=-1.0)
        ctx.fns, ctx.chunk_elems = fns, chunk_elems
        ctx.save_for_backward(p, pe)
        return e

    @staticmethod
    def backward(ctx, grad):
        p, pe = ctx.saved_tensors
        h1, h2, h3, h4 = ctx.fns
        gp, gpe = torch.empty_like(p), torch.empty_like(pe)
        ch = ctx.chunk_elems
        for a, b, g, oa, ob in zip(
                p.reshape(-1).split(ch), pe.reshape(-1).split(ch),
                grad.reshape(-1).split(ch), gp.view(-1).split(ch),
                gpe.view(-1).split(ch)):
            o1, d1 = h1.evaluate(a, slope=True, clamp=False)
            o2, d2 = h2.evaluate(b, slope=True, clamp=False)
            o3, d3 = h3.evaluate(a, slope=True, clamp=False)
            o4, d4 = h4.evaluate(b, slope=True, clamp=False)
            # de/dp = h3'(p) (1 - o4) - h1'(p) o2, de/dpe likewise
            torch.mul(d3, o4.neg().add_(1.0), out=oa)
            oa.addcmul_(d1, o2, value=-1.0).mul_(g)
            torch.mul(d4, o3.neg_().add_(1.0), out=ob)
            ob.addcmul_(d2, o1, value=-1.0).mul_(g)
        return gp, gpe, None, None


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
    p = torch.softmax(logits, dim=1).masked_fill(invalid[:, None], 0.0)
    e = _SoftEdges.apply(p, erode(p), list(fns), chunk_elems)
    with torch.no_grad():
        edge = label_edges(target)
        ni, yi, xi = edge.nonzero(as_tuple=True)
        ci = target[ni, yi, xi]
        gt_edge = torch.zeros((n, c, h, w), dtype=torch.bool,
                              device=target.device)
        gt_edge[ni, ci, yi, xi] = True
        gt_dil = dilate_mask(gt_edge, tol)
        del gt_edge
        n_gt = torch.bincount(ci, minlength=c).to(e.dtype)
    n_e = e.sum((0, 2, 3))
    match_fg = (e * gt_dil).sum((0, 2, 3))
    at_gt = window_max_at(e, ni, ci, yi, xi, tol)
    match_gt = e.new_zeros(c).index_add(0, ci, at_gt)
    prec = match_fg / (n_e + eps)
    rec = match_gt / (n_gt + eps)
    return 2 * prec * rec / (prec + rec + eps), n_gt
