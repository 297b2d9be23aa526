"""Fused Triton kernels of the boundary-F1 surrogate (see ``bf1.py``).

Same planes, sums and conventions as the PyTorch path. Per pixel the
softmax statistics (max, 1 / sum of exponentials; 0 at ignored pixels, so
p = 0 there) are computed once; every other kernel recomputes ``p =
exp(x - max) / sum`` of any pixel from the logits, so no N*C*H*W
probability tensor is stored. Kernels, over the computed planes and
flat pixel blocks:

* forward: the 3x3 erosion (min over the in-image neighbours), the four
  functions, ``e``, per-block partial sums of ``e`` and ``e * dil(y_edge)``,
  and ``e`` itself on the planes with GT boundaries; then dil(e) at each
  GT boundary pixel (max over its window, first maximum in raster order);
* backward: ``g_e = g_sum + g_near dil(y_edge) + (recall terms at the
  window maxima)``, ``de/dp g_e`` into the gradient and ``de/d erode(p)
  g_e`` with the erosion's argmin (coded 0..8); a second kernel adds the
  latter to the argmin pixels (each pixel gathers from its 9 neighbours,
  no atomics); the softmax backward runs in place over all classes.

The erosion gradient goes to one argmin chosen as in ``boundary.py``: the
row (centre, above, below) whose row-minimum is the minimum, then in that
row the column (centre, left, right).
"""
import torch
import triton
import triton.language as tl

from .bf1 import gt_boundary_points
from .boundary import dilate_mask
from .triton_bezier import ROW, bezier

_BLOCK = 1024
_WARPS = 4
_TILE = 4096
_POINTS = 32


@triton.jit
def _stats(logits, target, mx, sm, C, HW, BLOCK_C: tl.constexpr,
           BLOCK_P: tl.constexpr):
    n = tl.program_id(1)
    pix = tl.program_id(0) * BLOCK_P + tl.arange(0, BLOCK_P)
    cls = tl.arange(0, BLOCK_C)
    pmask = pix < HW
    off = n.to(tl.int64) * C * HW + cls[:, None].to(tl.int64) * HW + \
        pix[None, :]
    x = tl.load(logits + off, mask=(cls < C)[:, None] & pmask[None, :],
                other=float('-inf'))
    m = tl.max(x, 0)
    m = tl.where(pmask, m, 0.0)
    s = tl.sum(tl.exp(x - m[None, :]), 0)
    lab = tl.load(target + n.to(tl.int64) * HW + pix, mask=pmask, other=-1)
    s = tl.where(lab >= 0, 1.0 / tl.maximum(s, 1.0), 0.0)  # s >= 1
    tl.store(mx + n.to(tl.int64) * HW + pix, m, mask=pmask)
    tl.store(sm + n.to(tl.int64) * HW + pix, s, mask=pmask)


@triton.jit
def _p_at(lg, mx, sm, q, y, x, inb, H, W, DY: tl.constexpr,
          DX: tl.constexpr):
    """p at pixel (y + DY, x + DX); 2 (above any p) outside the image."""
    ok = inb & (y + DY >= 0) & (y + DY < H) & (x + DX >= 0) & (x + DX < W)
    nb = q + DY * W + DX
    v = tl.exp(tl.load(lg + nb, mask=ok, other=0.0) -
               tl.load(mx + nb, mask=ok, other=0.0)) * \
        tl.load(sm + nb, mask=ok, other=1.0)
    return tl.where(ok, v, 2.0)


@triton.jit
def _min3(a, b, c):
    return tl.minimum(tl.minimum(a, b), c)


@triton.jit
def _erode(lg, mx, sm, q, H, W, HW):
    """p (0 outside the block), its 3x3 erosion and the argmin code
    ``(dy + 1) * 3 + (dx + 1)``."""
    inb = q < HW
    y = q // W
    x = q % W
    a0 = _p_at(lg, mx, sm, q, y, x, inb, H, W, -1, -1)
    a1 = _p_at(lg, mx, sm, q, y, x, inb, H, W, -1, 0)
    a2 = _p_at(lg, mx, sm, q, y, x, inb, H, W, -1, 1)
    b0 = _p_at(lg, mx, sm, q, y, x, inb, H, W, 0, -1)
    b1 = _p_at(lg, mx, sm, q, y, x, inb, H, W, 0, 0)
    b2 = _p_at(lg, mx, sm, q, y, x, inb, H, W, 0, 1)
    c0 = _p_at(lg, mx, sm, q, y, x, inb, H, W, 1, -1)
    c1 = _p_at(lg, mx, sm, q, y, x, inb, H, W, 1, 0)
    c2 = _p_at(lg, mx, sm, q, y, x, inb, H, W, 1, 1)
    ra = _min3(a0, a1, a2)
    rb = _min3(b0, b1, b2)
    rc = _min3(c0, c1, c2)
    pe = _min3(ra, rb, rc)
    dy = tl.where(rb == pe, 0, tl.where(ra == pe, -1, 1))
    r0 = tl.where(dy == 0, b0, tl.where(dy < 0, a0, c0))
    r1 = tl.where(dy == 0, b1, tl.where(dy < 0, a1, c1))
    dx = tl.where(r1 == pe, 0, tl.where(r0 == pe, -1, 1))
    p = tl.where(inb, b1, 0.0)
    pe = tl.where(inb, pe, 0.0)
    return p, pe, (dy + 1) * 3 + (dx + 1)


@triton.jit
def _fns(p, pe, prm, SLOTS: tl.constexpr):
    """e and its partial derivatives de/dp, de/d erode(p)."""
    o1, d1 = bezier(p, prm, SLOTS)
    o2, d2 = bezier(pe, prm + 1 * SLOTS * ROW, SLOTS)
    o3, d3 = bezier(p, prm + 2 * SLOTS * ROW, SLOTS)
    o4, d4 = bezier(pe, prm + 3 * SLOTS * ROW, SLOTS)
    e = o3 + o4 - o3 * o4 - o1 * o2
    return e, d3 * (1.0 - o4) - d1 * o2, d4 * (1.0 - o3) - d2 * o1


@triton.jit
def _edges_fwd(logits, mx, sm, planes, prm, near, e_out, part, C, H, W,
               num_edge, SLOTS: tl.constexpr, BLOCK: tl.constexpr):
    pos = tl.program_id(0)
    blk = tl.program_id(1)
    plane = tl.load(planes + pos).to(tl.int64)
    HW = H * W
    n = plane // C
    q = blk * BLOCK + tl.arange(0, BLOCK)
    p, pe, _ = _erode(logits + plane * HW, mx + n * HW, sm + n * HW, q, H,
                      W, HW)
    e, _, _ = _fns(p, pe, prm, SLOTS)
    inb = q < HW
    e = tl.where(inb, e, 0.0)
    row = (pos.to(tl.int64) * tl.num_programs(1) + blk) * 2
    tl.store(part + row, tl.sum(e, 0))
    if pos < num_edge:
        at = pos.to(tl.int64) * HW + q
        nr = tl.load(near + at, mask=inb, other=0).to(tl.float32)
        tl.store(part + row + 1, tl.sum(e * nr, 0))
        tl.store(e_out + at, e, mask=inb)
    else:
        tl.store(part + row + 1, 0.0)


@triton.jit
def _window_max(e, pt_pos, pt_y, pt_x, vals, args, K, H, W,
                TOL: tl.constexpr, WIN: tl.constexpr,
                BLOCK_K: tl.constexpr):
    k = tl.program_id(0) * BLOCK_K + tl.arange(0, BLOCK_K)
    kmask = k < K
    pos = tl.load(pt_pos + k, mask=kmask, other=0).to(tl.int64)
    y = tl.load(pt_y + k, mask=kmask, other=0)
    x = tl.load(pt_x + k, mask=kmask, other=0)
    j = tl.arange(0, WIN)
    side = 2 * TOL + 1
    yy = y[:, None] + (j // side - TOL)[None, :]
    xx = x[:, None] + (j % side - TOL)[None, :]
    ok = kmask[:, None] & (j < side * side)[None, :] & (yy >= 0) & \
        (yy < H) & (xx >= 0) & (xx < W)
    flat = pos[:, None] * H * W + yy * W + xx
    v = tl.load(e + flat, mask=ok, other=float('-inf'))
    best = tl.max(v, 1)
    first = tl.min(tl.where(ok & (v == best[:, None]), j[None, :], WIN), 1)
    yy = y + first // side - TOL
    xx = x + first % side - TOL
    tl.store(vals + k, best, mask=kmask)
    tl.store(args + k, pos * H * W + yy * W + xx, mask=kmask)


@triton.jit
def _edges_bwd(logits, mx, sm, planes, prm, near, g_sum, g_near, acc, code,
               grad, C, H, W, num_edge, SLOTS: tl.constexpr,
               BLOCK: tl.constexpr):
    """acc holds the recall terms on entry, de/d erode(p) * g_e on exit;
    the gradient planes get de/dp * g_e."""
    pos = tl.program_id(0)
    blk = tl.program_id(1)
    plane = tl.load(planes + pos).to(tl.int64)
    HW = H * W
    n = plane // C
    q = blk * BLOCK + tl.arange(0, BLOCK)
    inb = q < HW
    p, pe, cd = _erode(logits + plane * HW, mx + n * HW, sm + n * HW, q, H,
                       W, HW)
    _, dp, dpe = _fns(p, pe, prm, SLOTS)
    at = pos.to(tl.int64) * HW + q
    g = tl.load(g_sum + pos) + tl.load(acc + at, mask=inb, other=0.0)
    if pos < num_edge:
        nr = tl.load(near + at, mask=inb, other=0).to(tl.float32)
        g += tl.load(g_near + pos) * nr
    tl.store(acc + at, dpe * g, mask=inb)
    tl.store(code + at, cd.to(tl.int8), mask=inb)
    tl.store(grad + plane * HW + q, dp * g, mask=inb)


@triton.jit
def _routed(acc, code, q, y, x, inb, H, W, DY: tl.constexpr,
            DX: tl.constexpr):
    """What the eroded pixel (y - DY, x - DX) routes to (y, x)."""
    ok = inb & (y - DY >= 0) & (y - DY < H) & (x - DX >= 0) & (x - DX < W)
    o = q - DY * W - DX
    cd = tl.load(code + o, mask=ok, other=-1)
    v = tl.load(acc + o, mask=ok, other=0.0)
    return tl.where(cd == (DY + 1) * 3 + (DX + 1), v, 0.0)


@triton.jit
def _route_bwd(planes, acc, code, grad, H, W, BLOCK: tl.constexpr):
    pos = tl.program_id(0)
    plane = tl.load(planes + pos).to(tl.int64)
    HW = H * W
    q = tl.program_id(1) * BLOCK + tl.arange(0, BLOCK)
    inb = q < HW
    y = q // W
    x = q % W
    a = acc + pos.to(tl.int64) * HW
    cd = code + pos.to(tl.int64) * HW
    g = tl.load(grad + plane * HW + q, mask=inb, other=0.0)
    g += _routed(a, cd, q, y, x, inb, H, W, -1, -1)
    g += _routed(a, cd, q, y, x, inb, H, W, -1, 0)
    g += _routed(a, cd, q, y, x, inb, H, W, -1, 1)
    g += _routed(a, cd, q, y, x, inb, H, W, 0, -1)
    g += _routed(a, cd, q, y, x, inb, H, W, 0, 0)
    g += _routed(a, cd, q, y, x, inb, H, W, 0, 1)
    g += _routed(a, cd, q, y, x, inb, H, W, 1, -1)
    g += _routed(a, cd, q, y, x, inb, H, W, 1, 0)
    g += _routed(a, cd, q, y, x, inb, H, W, 1, 1)
    tl.store(grad + plane * HW + q, g, mask=inb)


@triton.jit
def _softmax_bwd(logits, mx, sm, pos_of, grad, C, HW, BLOCK_C: tl.constexpr,
                 BLOCK_P: tl.constexpr):
    """grad = p * (g - sum_c p_c g_c), g = 0 on the planes not computed."""
    n = tl.program_id(1)
    pix = tl.program_id(0) * BLOCK_P + tl.arange(0, BLOCK_P)
    cls = tl.arange(0, BLOCK_C)
    cmask = cls < C
    pmask = pix < HW
    computed = tl.load(pos_of + n * C + cls, mask=cmask, other=-1) >= 0
    off = n.to(tl.int64) * C * HW + cls[:, None].to(tl.int64) * HW + \
        pix[None, :]
    mask = cmask[:, None] & pmask[None, :]
    x = tl.load(logits + off, mask=mask, other=float('-inf'))
    m = tl.load(mx + n.to(tl.int64) * HW + pix, mask=pmask, other=0.0)
    s = tl.load(sm + n.to(tl.int64) * HW + pix, mask=pmask, other=1.0)
    p = tl.exp(x - m[None, :]) * s[None, :]
    g = tl.load(grad + off, mask=mask & computed[:, None], other=0.0)
    out = p * (g - tl.sum(p * g, 0)[None, :])
    tl.store(grad + off, out, mask=mask)


class _BF1Plan:
    """Planes to compute (those of the classes in the mean; first the ones
    with GT boundary pixels of their class) and those pixels, as device
    tensors (see ``bf1._Plan``)."""

    def __init__(self, target, c, tol, drop_bg):
        n, h, w = target.shape
        dev = target.device
        (self.n_gt, keep, pid, self.pt_y, self.pt_x,
         self.pt_class) = gt_boundary_points(target, c, drop_bg)
        edge_ids, self.pt_pos = torch.unique_consecutive(
            pid, return_inverse=True)
        self.num_edge = edge_ids.numel()
        others = keep[None].expand(n, c).clone().reshape(-1)
        others[edge_ids] = False
        self.planes = torch.cat([edge_ids, others.nonzero()[:, 0]])
        self.pos_of = torch.full((n * c, ), -1, dtype=torch.int32,
                                 device=dev)
        self.pos_of[self.planes] = torch.arange(
            self.planes.numel(), dtype=torch.int32, device=dev)
        near = torch.zeros((max(self.num_edge, 1), h, w), dtype=torch.bool,
                           device=dev)
        near[self.pt_pos, self.pt_y, self.pt_x] = True
        self.near = dilate_mask(near, tol).to(torch.uint8)
        self.tol = tol
        # (empty buffers get one row: kernels take no null pointers)


def _fn_table(fns, device):
    slots = max(len(f.pieces) for f in fns)
    return torch.tensor([f.piece_table(slots) for f in fns],
                        dtype=torch.float32, device=device), slots


class _SoftEdgeSumsTriton(torch.autograd.Function):
    """``sum e`` per computed plane, ``sum e * dil(y_edge)`` per plane with
    GT boundaries and dil(e) at each GT boundary pixel, as in
    ``bf1._SoftEdgeSums``."""

    @staticmethod
    def forward(ctx, logits, target, plan, prm, slots):
        n, c, h, w = logits.shape
        hw = h * w
        block_c = triton.next_power_of_2(c)
        block_p = max(1, min(triton.next_power_of_2(hw), _TILE // block_c))
        mx = logits.new_empty((n, hw))
        sm = logits.new_empty((n, hw))
        _stats[(triton.cdiv(hw, block_p), n)](
            logits, target, mx, sm, c, hw, BLOCK_C=block_c, BLOCK_P=block_p,
            num_warps=8)
        num = plan.planes.numel()
        nblk = triton.cdiv(hw, _BLOCK)
        part = logits.new_empty((num, nblk, 2))
        e_edge = logits.new_empty((max(plan.num_edge, 1), hw))
        k = plan.pt_pos.numel()
        at_gt = logits.new_empty(k)
        at_idx = torch.empty(k, dtype=torch.int64, device=logits.device)
        if num:
            _edges_fwd[(num, nblk)](
                logits, mx, sm, plan.planes, prm, plan.near, e_edge, part, c,
                h, w, plan.num_edge, SLOTS=slots, BLOCK=_BLOCK,
                num_warps=_WARPS)
        if k:
            win = triton.next_power_of_2((2 * plan.tol + 1)**2)
            _window_max[(triton.cdiv(k, _POINTS), )](
                e_edge, plan.pt_pos, plan.pt_y, plan.pt_x, at_gt, at_idx, k,
                h, w, TOL=plan.tol, WIN=win, BLOCK_K=_POINTS, num_warps=4)
        sums = part.sum(1, dtype=torch.float64).to(logits.dtype)
        ctx.save_for_backward(logits, mx, sm, prm, at_idx)
        ctx.plan, ctx.slots = plan, slots
        return sums[:, 0], sums[:plan.num_edge, 1], at_gt

    @staticmethod
    def backward(ctx, g_sum, g_near, g_at):
        logits, mx, sm, prm, at_idx = ctx.saved_tensors
        plan = ctx.plan
        n, c, h, w = logits.shape
        hw = h * w
        num = plan.planes.numel()
        g_sum = logits.new_zeros(num) if g_sum is None else g_sum.float()
        g_near = logits.new_zeros(max(plan.num_edge, 1)) if g_near is None \
            or not plan.num_edge else g_near.float()
        acc = logits.new_zeros(num * hw)
        if g_at is not None and at_idx.numel():
            acc.index_add_(0, at_idx, g_at.float())
        code = torch.empty(num * hw, dtype=torch.int8, device=logits.device)
        grad = torch.empty_like(logits)
        nblk = triton.cdiv(hw, _BLOCK)
        if num:
            _edges_bwd[(num, nblk)](
                logits, mx, sm, plan.planes, prm, plan.near,
                g_sum.contiguous(), g_near.contiguous(), acc, code, grad, c,
                h, w, plan.num_edge, SLOTS=ctx.slots, BLOCK=_BLOCK,
                num_warps=_WARPS)
            _route_bwd[(num, nblk)](plan.planes, acc, code, grad, h, w,
                                    BLOCK=_BLOCK, num_warps=_WARPS)
        del acc, code
        block_c = triton.next_power_of_2(c)
        block_p = max(1, min(triton.next_power_of_2(hw), _TILE // block_c))
        _softmax_bwd[(triton.cdiv(hw, block_p), n)](
            logits, mx, sm, plan.pos_of, grad, c, hw, BLOCK_C=block_c,
            BLOCK_P=block_p, num_warps=8)
        return grad, None, None, None, None


def bf1_surrogate_triton(logits, target, fns, tol=5, eps=1e-8,
                         drop_bg=False):
    """:func:`bf1.bf1_surrogate` with the fused kernels (float32 logits on
    a CUDA device, or CPU tensors under ``TRITON_INTERPRET=1``)."""
    n, c, h, w = logits.shape
    logits = logits.contiguous()
    target = target.contiguous()
    with torch.no_grad():
        plan = _BF1Plan(target, c, tol, drop_bg)
    prm, slots = _fn_table(list(fns), logits.device)
    e_sum, e_near, at_gt = _SoftEdgeSumsTriton.apply(logits, target, plan,
                                                     prm, slots)
    cls = plan.planes % c
    n_e = e_sum.new_zeros(c).index_add(0, cls, e_sum)
    match_fg = e_sum.new_zeros(c).index_add(0, cls[:plan.num_edge], e_near)
    match_gt = e_sum.new_zeros(c).index_add(0, plan.pt_class, at_gt)
    n_gt = plan.n_gt.to(e_sum.dtype)
    prec = match_fg / (n_e + eps)
    rec = match_gt / (n_gt + eps)
    return 2 * prec * rec / (prec + rec + eps), n_gt
