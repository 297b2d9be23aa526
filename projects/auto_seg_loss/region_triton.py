"""Fused Triton kernels of the region sums (mIoU, FWIoU, BIoU, mAcc, gAcc).

Same contract as :func:`region.region_sums`. The forward kernel reads a
tile of logits ``[classes, pixels]`` of one image once, takes the softmax
over the classes, masks ignored pixels (p = 0), evaluates ``h_all`` on the
tile and the label-class functions on ``p_label``, and accumulates
per-class partial sums in registers over the tiles of its pixel range; one
row of partial sums per program is added up in float64 afterwards
(deterministic, no atomics). The backward kernel recomputes the softmax
and applies the chain rule through the functions and the softmax,

    d loss / d x_c = p_c (G_c - sum_j p_j G_j),
    G_c = g_all[c] h_all'(p_c) + [c = label] sum_k g_k[label] h_k'(p_label),

so no N*C*H*W temporary is stored between the passes: the logits are
read twice and the gradient written once.
"""
import torch
import triton
import triton.language as tl

from .triton_bezier import ROW, bezier

# elements of one [classes, pixels] tile, and warps per program
_TILE = 4096
_WARPS = 8
# programs of the forward pass (each loops over its share of the tiles)
_PROGRAMS = 2048


@triton.jit
def _softmax_tile(logits, target, n, pix, C, HW, BLOCK_C: tl.constexpr):
    """p [BLOCK_C, BLOCK_P] (0 at ignored or padded pixels), labels,
    valid mask, class index column and class mask."""
    cls = tl.arange(0, BLOCK_C)
    cmask = cls < C
    pmask = pix < HW
    off = n.to(tl.int64) * C * HW + cls[:, None].to(tl.int64) * HW + \
        pix[None, :]
    x = tl.load(logits + off, mask=cmask[:, None] & pmask[None, :],
                other=0.0)
    x = tl.where(cmask[:, None], x, float('-inf'))
    e = tl.exp(x - tl.max(x, 0)[None, :])
    p = e / tl.sum(e, 0)[None, :]
    lab = tl.load(target + n.to(tl.int64) * HW + pix, mask=pmask, other=-1)
    valid = (lab >= 0) & pmask
    p = tl.where(valid[None, :], p, 0.0)
    return p, lab, valid, cls, cmask, off


@triton.jit
def _region_fwd(logits, target, prm, gt_part, all_part, C, HW, tiles,
                NUM_GT: tl.constexpr, HAS_ALL: tl.constexpr,
                SLOTS: tl.constexpr, BLOCK_C: tl.constexpr,
                BLOCK_P: tl.constexpr):
    n = tl.program_id(0)
    prog = tl.program_id(1)
    row = n * tl.num_programs(1) + prog
    acc_all = tl.zeros((BLOCK_C, ), tl.float32)
    acc_g0 = tl.zeros((BLOCK_C, ), tl.float32)
    acc_g1 = tl.zeros((BLOCK_C, ), tl.float32)
    for i in range(tiles):
        pix = (prog * tiles + i) * BLOCK_P + tl.arange(0, BLOCK_P)
        p, lab, valid, cls, cmask, off = _softmax_tile(
            logits, target, n, pix, C, HW, BLOCK_C)
        hit = cls[:, None] == lab[None, :]
        p_lab = tl.sum(tl.where(hit, p, 0.0), 0)
        if HAS_ALL:
            y, _ = bezier(p, prm + NUM_GT * SLOTS * ROW, SLOTS)
            y = tl.where(valid[None, :] & cmask[:, None], y, 0.0)
            acc_all += tl.sum(y, 1)
        y0, _ = bezier(p_lab, prm, SLOTS)
        acc_g0 += tl.sum(tl.where(hit, y0[None, :], 0.0), 1)
        if NUM_GT == 2:
            y1, _ = bezier(p_lab, prm + 1 * SLOTS * ROW, SLOTS)
            acc_g1 += tl.sum(tl.where(hit, y1[None, :], 0.0), 1)
    cls = tl.arange(0, BLOCK_C)
    cmask = cls < C
    base = row.to(tl.int64) * NUM_GT * C
    tl.store(gt_part + base + cls, acc_g0, mask=cmask)
    if NUM_GT == 2:
        tl.store(gt_part + base + C + cls, acc_g1, mask=cmask)
    if HAS_ALL:
        tl.store(all_part + row.to(tl.int64) * C + cls, acc_all, mask=cmask)


@triton.jit
def _region_bwd(logits, target, prm, g_gt, g_all, grad, C, HW,
                NUM_GT: tl.constexpr, HAS_ALL: tl.constexpr,
                SLOTS: tl.constexpr, BLOCK_C: tl.constexpr,
                BLOCK_P: tl.constexpr):
    n = tl.program_id(1)
    pix = tl.program_id(0) * BLOCK_P + tl.arange(0, BLOCK_P)
    p, lab, valid, cls, cmask, off = _softmax_tile(
        logits, target, n, pix, C, HW, BLOCK_C)
    hit = cls[:, None] == lab[None, :]
    p_lab = tl.sum(tl.where(hit, p, 0.0), 0)
    lab_c = tl.where(valid, lab, 0)
    _, d0 = bezier(p_lab, prm, SLOTS)
    e_lab = tl.load(g_gt + lab_c) * d0
    if NUM_GT == 2:
        _, d1 = bezier(p_lab, prm + 1 * SLOTS * ROW, SLOTS)
        e_lab += tl.load(g_gt + C + lab_c) * d1
    g = tl.where(hit, e_lab[None, :], 0.0)
    if HAS_ALL:
        _, d = bezier(p, prm + NUM_GT * SLOTS * ROW, SLOTS)
        g += tl.load(g_all + cls, mask=cmask, other=0.0)[:, None] * d
    out = p * (g - tl.sum(p * g, 0)[None, :])
    tl.store(grad + off, out, mask=cmask[:, None] & (pix < HW)[None, :])


def _launch_shape(c, hw):
    block_c = triton.next_power_of_2(c)
    block_p = max(1, min(triton.next_power_of_2(hw), _TILE // block_c))
    return block_c, block_p


class _RegionSumsTriton(torch.autograd.Function):

    @staticmethod
    def forward(ctx, logits, target, prm, num_gt, has_all, slots):
        n, c = logits.shape[:2]
        hw = logits[0, 0].numel()
        logits = logits.contiguous()
        target = target.reshape(n, hw).contiguous()
        block_c, block_p = _launch_shape(c, hw)
        num_tiles = triton.cdiv(hw, block_p)
        programs = max(1, min(num_tiles, _PROGRAMS // n))
        tiles = triton.cdiv(num_tiles, programs)
        programs = triton.cdiv(num_tiles, tiles)
        gt_part = logits.new_empty((n * programs, num_gt, c))
        all_part = logits.new_empty((n * programs, c) if has_all else (1, c))
        _region_fwd[(n, programs)](
            logits, target, prm, gt_part, all_part, c, hw, tiles,
            NUM_GT=num_gt, HAS_ALL=has_all, SLOTS=slots, BLOCK_C=block_c,
            BLOCK_P=block_p, num_warps=_WARPS)
        gt_sums = gt_part.sum(0, dtype=torch.float64)
        all_sum = all_part.sum(0, dtype=torch.float64) if has_all else \
            logits.new_zeros(c, dtype=torch.float64)
        ctx.save_for_backward(logits, target, prm)
        ctx.config = (num_gt, has_all, slots)
        return gt_sums, all_sum

    @staticmethod
    def backward(ctx, grad_gt, grad_all):
        logits, target, prm = ctx.saved_tensors
        num_gt, has_all, slots = ctx.config
        n, c = logits.shape[:2]
        hw = target.shape[1]
        g_gt = (grad_gt if grad_gt is not None else
                logits.new_zeros((num_gt, c))).float().contiguous()
        g_all = (grad_all if grad_all is not None else
                 logits.new_zeros(c)).float().contiguous()
        grad = torch.empty_like(logits)
        block_c, block_p = _launch_shape(c, hw)
        _region_bwd[(triton.cdiv(hw, block_p), n)](
            logits, target, prm, g_gt, g_all, grad, c, hw, NUM_GT=num_gt,
            HAS_ALL=has_all and grad_all is not None, SLOTS=slots,
            BLOCK_C=block_c, BLOCK_P=block_p, num_warps=_WARPS)
        return grad, None, None, None, None, None


def region_sums_triton(logits, target, gt_fns, all_fn=None):
    """:func:`region.region_sums` with the fused kernels (float32 logits on
    a CUDA device, or CPU tensors under ``TRITON_INTERPRET=1``)."""
    fns = list(gt_fns) + ([all_fn] if all_fn is not None else [])
    if not 1 <= len(gt_fns) <= 2:
        raise ValueError(f'1 or 2 label-class functions, got {len(gt_fns)}')
    slots = max(len(f.pieces) for f in fns)
    prm = torch.tensor([f.piece_table(slots) for f in fns],
                       dtype=torch.float32, device=logits.device)
    gt_sums, all_sum = _RegionSumsTriton.apply(
        logits, target, prm, len(gt_fns), all_fn is not None, slots)
    valid = target[target >= 0]
    counts = torch.bincount(valid.reshape(-1), minlength=logits.shape[1])
    return gt_sums, all_sum, counts.double()
