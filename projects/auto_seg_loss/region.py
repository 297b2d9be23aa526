"""Per-class batch sums of the region surrogates, fused and chunked.

For softmax probabilities p [N, C, H, W], labels g (-1 = ignored) and
Bezier functions, :func:`region_sums` returns, summed over the valid pixels
of the whole batch,

* ``gt_sums[k, c] = sum_{g = c} h_k(p_c)``   (the intersection terms: y is
  one-hot, so h(p) * y only lives at each pixel's label),
* ``all_sum[c] = sum_valid h_all(p_c)``        (the h_OR part of the union),
* ``counts[c] = #{g = c}``.

IoU, accuracy and their weighted means are then small [C] computations.
Only the label-class terms are gathered (O(NHW)); ``h_all`` is the one
function evaluated on all N*C*H*W probabilities, in cache-sized blocks so
its temporaries stay small (on CPU; one block on other devices, and the
fused kernels of ``region_triton.py`` on CUDA). The backward pass uses the saved (masked) p and
p * h_all'(p) and never builds a one-hot tensor.
"""
import torch

from .backend import chunk_elems_for, use_triton


def _blocks(n, c, hw, chunk_elems):
    """(image, pixel slice) blocks of about ``chunk_elems`` elements."""
    step = max(1, chunk_elems // max(c, 1))
    return [(i, slice(s, min(s + step, hw))) for i in range(n)
            for s in range(0, hw, step)]


class _RegionSums(torch.autograd.Function):

    @staticmethod
    def forward(ctx, logits, target, gt_fns, all_fn, chunk_elems):
        n, c = logits.shape[:2]
        lg = logits.reshape(n, c, -1)
        tgt = target.reshape(n, -1)
        invalid = tgt < 0
        gc = tgt.clamp(min=0)
        pg = lg.new_empty(tgt.shape)
        all_acc = torch.zeros(c, dtype=torch.float64, device=lg.device)
        saved = []  # per block: masked p [C, L], p * h_all'(p) [C, L]
        for i, cols in _blocks(n, c, lg.shape[2], chunk_elems):
            p = torch.softmax(lg[i, :, cols], dim=0)
            inv = invalid[i, cols]
            if bool(inv.any()):
                p.masked_fill_(inv, 0.0)
            pg[i, cols] = p.gather(0, gc[i, cols][None])[0]
            pd = None
            if all_fn is not None:
                y, d = all_fn.evaluate(p, slope=True, clamp=False)
                all_acc += y.sum(1).double()
                pd = d.mul_(p)
            saved.append((p, pd))
        # label-class terms: O(N H W); ignored pixels have p = 0, h(0) = 0
        gt_acc, dgt = [], []
        for fn in gt_fns:
            y, d = fn.evaluate(pg, slope=True, clamp=False)
            gt_acc.append(torch.bincount(gc.reshape(-1), y.reshape(-1).double(),
                                         minlength=c))
            dgt.append(d.masked_fill_(invalid, 0.0))
        gt_acc = torch.stack(gt_acc) if gt_acc else lg.new_zeros(
            (0, c), dtype=torch.float64)
        ctx.saved = saved
        ctx.save_for_backward(gc, pg, *dgt)
        ctx.logits_shape = logits.shape
        ctx.chunk_elems = chunk_elems
        return gt_acc, all_acc

    @staticmethod
    def backward(ctx, grad_gt, grad_all):
        gc, pg, *dgt = ctx.saved_tensors
        n, c = ctx.logits_shape[:2]
        # eg = p_label * d loss / d p_label from the label-class sums
        eg = torch.zeros_like(pg)
        for k, d in enumerate(dgt):
            eg.addcmul_(grad_gt[k].to(pg.dtype)[gc], d)
        eg.mul_(pg)
        # softmax backward: grad_c = g_c pd_c + [c = label] eg - p_c total
        grad = pg.new_empty((n, c, pg.shape[1]))
        g_all = grad_all.to(pg.dtype)
        for (i, cols), (p, pd) in zip(
                _blocks(n, c, pg.shape[1], ctx.chunk_elems), ctx.saved):
            e = eg[i, cols]
            if pd is not None:
                out = pd * g_all[:, None]
                total = torch.mv(pd.t(), g_all).add_(e)
            else:
                out = torch.zeros_like(p)
                total = e
            out.addcmul_(p, total[None], value=-1.0)
            out.scatter_add_(0, gc[i, cols][None], e[None])
            grad[i, :, cols] = out
        ctx.saved = None
        return grad.reshape(ctx.logits_shape), None, None, None, None


def region_sums(logits, target, gt_fns, all_fn=None, chunk_elems=None,
                backend='auto'):
    """Batch sums of the label-class terms and of ``all_fn`` (see module doc).

    Args:
        logits (Tensor): [N, C, H, W] float32 (or float64) logits.
        target (Tensor): [N, H, W] long labels in [0, C), -1 for ignored.
        gt_fns (list[PiecewiseBezier]): functions summed at the label class.
        all_fn (PiecewiseBezier, optional): function summed over all classes.
        chunk_elems (int, optional): elements (pixels x classes) per chunk
            of the PyTorch path; default: per device (``backend.py``).
        backend (str): ``'auto'`` (fused Triton kernels for float32 CUDA
            tensors, see ``region_triton.py``), ``'torch'`` or ``'triton'``.

    Returns:
        tuple: ``gt_sums`` [len(gt_fns), C] and ``all_sum`` [C] (float64,
        differentiable w.r.t. logits), ``counts`` [C] (float64).
    """
    if use_triton(logits, backend):
        from .region_triton import region_sums_triton
        return region_sums_triton(logits, target, gt_fns, all_fn)
    gt_sums, all_sum = _RegionSums.apply(
        logits, target, list(gt_fns), all_fn,
        chunk_elems_for(logits, chunk_elems))
    valid = target[target >= 0]
    counts = torch.bincount(valid.reshape(-1), minlength=logits.shape[1])
    return gt_sums, all_sum, counts.double()
