"""The boundary-F1 surrogate.

Soft predicted boundaries ``e = OR(h3(p), h4(erode(p))) - AND(h1(p),
h2(erode(p)))`` with the relaxed ``AND(a, b) = ab`` and ``OR(a, b) = a + b -
ab``; for one-hot p this is ``p XOR erode(p)``, the inner class boundary.
Per class c, over the batch:

    precision = sum e_c * dil(y_edge_c) / sum e_c
    recall    = sum dil(e_c) * y_edge_c / sum y_edge_c
    F1 = 2 P R / (P + R)

averaged over the classes with ground-truth boundaries (``drop_bg``: not
class 0).

Which (image, class) planes are computed. F1_c depends on the planes of
class c only, and the loss on F1_c only for the classes in the mean; the
other planes get no gradient and are skipped (their F1 is returned as 0,
which is also what the formulas give for a class without GT boundaries:
dil(y_edge_c) = 0 and y_edge_c = 0, so both sums of matches, P, R and F1
are 0). Of the computed planes, those of an image without a GT boundary
of c only add ``sum e`` to the precision's denominator: their loss
gradient w.r.t. e is one constant per class. On the others it is
``g_sum + g_near * dil(y_edge)`` plus, for the recall, one term per GT
boundary pixel at the argmax of its dilation window. dil(e) is therefore
only read at GT boundary pixels: a dense row-window max, then the column
window gathered at those pixels (first maximum in raster order, as
``max_pool2d``), and dil(y_edge) is a boolean dilation.
"""
import torch

from .backend import chunk_elems_for, use_triton
from .boundary import (_min3, _min3_backward, dilate_mask, label_edges,
                       row_window_max)


def gt_boundary_points(target, c, drop_bg):
    """GT boundary pixels of the classes that enter the mean, grouped by
    (image, class) plane.

    Returns:
        tuple: ``n_gt`` [C] boundary pixels per class, ``keep`` [C] bool
        (the classes in the mean), then per point, sorted by plane
        ``n * C + c`` (stable, so (y, x) order within a plane): the plane
        id, y, x and class.
    """
    edge = label_edges(target)
    ni, yi, xi = edge.nonzero(as_tuple=True)  # in (n, y, x) order
    ci = target[ni, yi, xi]
    n_gt = torch.bincount(ci, minlength=c)
    keep = n_gt > 0
    if drop_bg:
        keep[0] = False
    sel = keep[ci]
    ni, yi, xi, ci = ni[sel], yi[sel], xi[sel], ci[sel]
    pid, order = torch.sort(ni * c + ci, stable=True)
    return n_gt, keep, pid, yi[order], xi[order], ci[order]


class _Plan:
    """Planes to compute, their blocks and the GT boundary pixels.

    Attributes:
        planes (list[int]): flat plane ids ``n * C + c``; first the planes
            with GT boundary pixels of their class (``num_edge``), then the
            other planes of the classes in the mean.
        blocks (list[tuple]): ``(start, stop, image, edge)`` ranges of
            positions in ``planes``, one image per block.
        pt_pos, pt_y, pt_x (Tensor): [K] the GT boundary pixels of those
            planes (``pos``: position of the plane in ``planes``), sorted
            by position, then in raster order; ``pt_col`` [K, 2 tol + 1]:
            flat indices ``(pos * H + y') * W + x`` of the window's rows,
            ``pt_dx`` [K, 2 tol + 1]: its column offsets (both clipped).
        pt_class (Tensor): [K] their class; ``pt_ptr``: CSR offsets per
            position (length ``num_edge + 1``).
        valid (Tensor): [N, 1, H, W] 0/1 float, or None without ignored
            pixels.
    """

    def __init__(self, target, c, tol, drop_bg, step, dtype):
        n, h, w = target.shape
        dev = target.device
        self.n_gt, keep, pid, yi, xi, self.pt_class = gt_boundary_points(
            target, c, drop_bg)
        edge_ids, counts = torch.unique_consecutive(pid, return_counts=True)
        self.num_edge = edge_ids.numel()
        self.pt_pos = torch.repeat_interleave(
            torch.arange(self.num_edge, device=dev), counts)
        self.pt_y, self.pt_x = yi, xi
        # dilation windows: flat indices of the centre column, offsets of
        # the columns (both clipped to the image)
        offs = torch.arange(-tol, tol + 1, device=dev)
        rows = (yi[:, None] + offs).clamp_(0, h - 1)
        self.pt_col = (rows + self.pt_pos[:, None] * h) * w + xi[:, None]
        self.pt_dx = (xi[:, None] + offs).clamp_(0, w - 1) - xi[:, None]
        self.pt_ptr = [0] + torch.cumsum(counts, 0).tolist()
        others = keep[None].expand(n, c).clone().reshape(-1)
        others[edge_ids] = False
        other_ids = others.nonzero().squeeze(1)
        self.planes = edge_ids.tolist() + other_ids.tolist()
        self.blocks = []
        for lo, hi, is_edge in ((0, self.num_edge, True),
                                (self.num_edge, len(self.planes), False)):
            s = lo
            while s < hi:
                img = self.planes[s] // c
                e = s + 1
                while e < min(hi, s + step) and self.planes[e] // c == img:
                    e += 1
                self.blocks.append((s, e, img, is_edge))
                s = e
        invalid = target < 0
        self.valid = (~invalid).to(dtype)[:, None] if bool(invalid.any()) \
            else None
        self.tol = tol

    def near(self, block, h, w):
        """dil(y_edge) of the planes of an edge block: [S, H, W] bool."""
        s, e = block[:2]
        lo, hi = self.pt_ptr[s], self.pt_ptr[e]
        gt = torch.zeros((e - s, h, w), dtype=torch.bool,
                         device=self.pt_y.device)
        gt[self.pt_pos[lo:hi] - s, self.pt_y[lo:hi], self.pt_x[lo:hi]] = True
        return dilate_mask(gt, self.tol)

    def view(self, planes, block):
        """The planes of a block as a view, or None if not consecutive."""
        s, e = block[:2]
        a, b = self.planes[s], self.planes[e - 1] + 1
        return planes[a:b] if b - a == e - s else None

    def take(self, planes, block):
        """The planes of a block: (view, True) if they are consecutive,
        else (copy, False)."""
        x = self.view(planes, block)
        if x is not None:
            return x, True
        idx = torch.tensor(self.planes[block[0]:block[1]],
                           device=planes.device)
        return planes.index_select(0, idx), False

    def put(self, planes, block, values):
        """Write the planes of a block."""
        s, e = block[:2]
        a, b = self.planes[s], self.planes[e - 1] + 1
        if b - a == e - s:
            planes[a:b] = values
        else:
            planes.index_copy_(0, torch.tensor(
                self.planes[s:e], device=planes.device), values)



def _window_argmax(e, rows_max, col_index, cols):
    """Max of ``e`` [S, H, W] over square windows and the flat index in e
    of its first maximum in raster order.

    Args:
        rows_max (Tensor): ``row_window_max(e, tol)`` (contiguous).
        col_index (Tensor): [K, 2 tol + 1] flat indices of each window's
            centre column, rows clipped to the image (non-decreasing).
        cols (Tensor): [K, 2 tol + 1] offsets ``x' - x`` of the window's
            columns, clipped to the image.
    """
    vals, arg = rows_max.reshape(-1)[col_index].max(1)
    flat = cols + col_index.gather(1, arg[:, None])
    arg = e.reshape(-1)[flat].argmax(1, keepdim=True)
    return vals, flat.gather(1, arg)[:, 0]


class _SoftEdgeSums(torch.autograd.Function):
    """Per plane of the plan: ``sum e`` and ``sum e * dil(y_edge)``, and
    dil(e) at each GT boundary pixel, from the logits: softmax, then
    masking, erosion, the four functions and the sums fused over blocks of
    planes. Saves p, the partial derivatives de/dp (laid out as p, so that
    the gradient overwrites it) and de/d erode(p), the dilated GT
    boundaries and the argmax of each dilation window; the erosion is
    recomputed for the gradient, and the softmax backward ``p * (g -
    sum_c p g)`` runs in place."""

    @staticmethod
    def forward(ctx, logits, plan, fns):
        n, c, h, w = logits.shape
        p = torch.softmax(logits, dim=1)
        if plan.valid is not None:
            # p = 0 at ignored pixels: e = 0 there, the erosion sees void,
            # and p * (g - sum_c p g), the softmax backward, is 0 there
            p.mul_(plan.valid)
        p_planes = p.view(n * c, h, w)
        num = len(plan.planes)
        h1, h2, h3, h4 = fns
        de_dp = torch.empty_like(p_planes)  # by plane id; becomes the grad
        de_dpe = p.new_empty((num, h, w))
        near = torch.empty((plan.num_edge, h, w), dtype=torch.uint8,
                           device=p.device)
        e_sum = p.new_empty(num)
        e_near = p.new_empty(plan.num_edge)
        at_gt = p.new_empty(len(plan.pt_pos))
        at_idx = torch.empty_like(plan.pt_pos)
        for block in plan.blocks:
            s, e, _, is_edge = block
            x = plan.take(p_planes, block)[0]
            pe = _min3(_min3(x, -1), -2)
            o1, d1 = h1.evaluate(x, True, clamp=False)
            o2, d2 = h2.evaluate(pe, True, clamp=False)
            o3, d3 = h3.evaluate(x, True, clamp=False)
            o4, d4 = h4.evaluate(pe, True, clamp=False)
            # de/dp = h3'(p) (1 - h4(pe)) - h1'(p) h2(pe); de/dpe likewise
            dst = plan.view(de_dp, block)
            dp = torch.addcmul(d3, d3, o4, value=-1.0, out=dst).addcmul_(
                d1, o2, value=-1.0)
            if dst is None:
                plan.put(de_dp, block, dp)
            torch.addcmul(d4, d4, o3, value=-1.0, out=de_dpe[s:e]).addcmul_(
                d2, o1, value=-1.0)
            soft = torch.add(o3, o4).addcmul_(o3, o4, value=-1.0).addcmul_(
                o1, o2, value=-1.0)
            e_sum[s:e] = soft.sum((1, 2))
            if not is_edge:
                continue
            near_b = near[s:e]
            near_b.copy_(plan.near(block, h, w))
            e_near[s:e] = torch.mul(soft, near_b).sum((1, 2))
            lo, hi = plan.pt_ptr[s], plan.pt_ptr[e]
            vals, arg = _window_argmax(
                soft, row_window_max(soft, plan.tol),
                plan.pt_col[lo:hi] - s * h * w, plan.pt_dx[lo:hi])
            at_gt[lo:hi] = vals
            at_idx[lo:hi] = arg
        ctx.plan = plan
        ctx.save_for_backward(p, de_dp, de_dpe, near, at_idx)
        return e_sum, e_near, at_gt

    @staticmethod
    def backward(ctx, g_sum, g_near, g_at):
        p, gp, de_dpe, near, at_idx = ctx.saved_tensors  # gp: de/dp
        plan = ctx.plan
        n, c, h, w = p.shape
        p_planes = p.view(n * c, h, w)
        num = len(plan.planes)
        if num < n * c:  # planes without gradient w.r.t. p
            skipped = torch.ones(n * c, dtype=torch.bool, device=p.device)
            skipped[plan.planes] = False
            gp.index_fill_(0, skipped.nonzero().squeeze(1), 0.0)
        dot = p.new_zeros((n, h, w))  # sum_c p_c * d loss / d p_c
        g_sum = g_sum if g_sum is not None else p.new_zeros(num)
        for block in plan.blocks:
            s, e, img, is_edge = block
            # d loss / d e: per plane, near GT boundaries, at window argmaxes
            if is_edge:
                if g_near is not None:
                    g = torch.mul(near[s:e], g_near[s:e, None, None])
                    g.add_(g_sum[s:e, None, None])
                else:
                    g = g_sum[s:e, None, None].expand(-1, h, w).clone()
                lo, hi = plan.pt_ptr[s], plan.pt_ptr[e]
                if g_at is not None and hi > lo:
                    g.view(-1).index_add_(0, at_idx[lo:hi], g_at[lo:hi])
            else:
                g = g_sum[s:e, None, None]
            x = plan.take(p_planes, block)[0]
            rows = _min3(x, -1)
            pe = _min3(rows, -2)
            g_x = _min3_backward(
                _min3_backward(de_dpe[s:e] * g, rows, pe, -2), x, rows, -1)
            dp, view = plan.take(gp, block)
            g_x = torch.addcmul(g_x, dp, g, out=dp if view else None)
            dot[img] += torch.mul(x, g_x).sum(0)
            if not view:
                plan.put(gp, block, g_x)
        # softmax backward, in place
        gp = gp.view(n, c, h, w)
        return gp.sub_(dot[:, None]).mul_(p), None, None


def bf1_surrogate(logits, target, fns, tol=5, eps=1e-8, drop_bg=False,
                  chunk_elems=None, backend='auto'):
    """Soft boundary F1 per class; returns (f1 [C], GT edge counts [C]).

    Only the classes with GT boundaries (without class 0 if ``drop_bg``)
    are computed; the others' F1 is returned as 0 (see the module doc).

    Args:
        logits (Tensor): [N, C, H, W] logits.
        target (Tensor): [N, H, W] labels, -1 = ignored (void: p = 0 there,
            and a class region next to it has a boundary there).
        fns: h1 (AND, p), h2 (AND, erode(p)), h3 (OR, p), h4 (OR,
            erode(p)).
        chunk_elems (int, optional): elements per block of planes of the
            PyTorch path (default: per device, see ``backend.py``).
        backend (str): ``'auto'`` (fused Triton kernels of
            ``bf1_triton.py`` for float32 CUDA logits), ``'torch'`` or
            ``'triton'``.
    """
    if use_triton(logits, backend):
        from .bf1_triton import bf1_surrogate_triton
        return bf1_surrogate_triton(logits, target, fns, tol, eps, drop_bg)
    n, c, h, w = logits.shape
    logits = logits.contiguous()
    chunk_elems = chunk_elems_for(logits, chunk_elems)
    with torch.no_grad():
        plan = _Plan(target, c, tol, drop_bg, max(1, chunk_elems // (h * w)),
                     logits.dtype)
    e_sum, e_near, at_gt = _SoftEdgeSums.apply(logits, plan, list(fns))
    cls = torch.tensor(plan.planes, dtype=torch.long, device=logits.device)
    cls = cls % c
    n_e = e_sum.new_zeros(c).index_add(0, cls, e_sum)
    match_fg = e_sum.new_zeros(c).index_add(0, cls[:plan.num_edge], e_near)
    match_gt = e_sum.new_zeros(c).index_add(0, plan.pt_class, at_gt)
    n_gt = plan.n_gt.to(e_sum.dtype)
    prec = match_fg / (n_e + eps)
    rec = match_gt / (n_gt + eps)
    return 2 * prec * rec / (prec + rec + eps), n_gt
