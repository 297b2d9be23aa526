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
function evaluated on all N*C*H*W probabilities. The work runs in chunks of
pixels so the Bezier temporaries stay small; the backward pass uses the
saved (masked) p and p * h_all'(p), and never builds a one-hot tensor.
"""
import torch


def _chunks(num_pixels, num_classes, chunk_elems):
    step = max(1, chunk_elems // max(num_classes, 1))
    return [(s, min(s + step, num_pixels)) for s in range(0, num_pixels, step)]


class _RegionSums(torch.autograd.Function):

    @staticmethod
    def forward(ctx, logits, target, gt_fns, all_fn, chunk_elems):
        n, c = logits.shape[:2]
        lg = logits.reshape(n, c, -1)
        tgt = target.reshape(n, -1)
        hw = lg.shape[2]
        f64 = dict(dtype=torch.float64, device=logits.device)
        probs = torch.empty_like(lg)
        pd = torch.empty_like(lg) if all_fn is not None else None
        dgt = lg.new_zeros((len(gt_fns), n, hw))
        gt_acc = torch.zeros((len(gt_fns), c), **f64)
        all_acc = torch.zeros(c, **f64)
        for i in range(n):
            for s, e in _chunks(hw, c, chunk_elems):
                g = tgt[i, s:e]
                valid = g >= 0
                gc = g.clamp(min=0)
                p = torch.softmax(lg[i, :, s:e], dim=0)
                if not bool(valid.all()):
                    p.mul_(valid)
                probs[i, :, s:e] = p
                pg = p.gather(0, gc[None])[0]
                for k, fn in enumerate(gt_fns):
                    y, d = fn.evaluate(pg, slope=True, clamp=False)
                    gt_acc[k].index_add_(0, gc, (y * valid).double())
                    dgt[k, i, s:e] = d * valid
                if all_fn is not None:
                    y, d = all_fn.evaluate(p, slope=True, clamp=False)
                    all_acc += y.sum(1, dtype=torch.float64)
                    pd[i, :, s:e] = d.mul_(p)
        ctx.save_for_backward(probs, pd, dgt, tgt)
        ctx.chunk_elems = chunk_elems
        ctx.logits_shape = logits.shape
        return gt_acc, all_acc

    @staticmethod
    def backward(ctx, grad_gt, grad_all):
        probs, pd, dgt, tgt = ctx.saved_tensors
        n, c, hw = probs.shape
        grad = torch.empty_like(probs)
        g_gt = grad_gt.to(probs.dtype)
        g_all = grad_all.to(probs.dtype)[:, None]
        for i in range(n):
            for s, e in _chunks(hw, c, ctx.chunk_elems):
                gc = tgt[i, s:e].clamp(min=0)
                p = probs[i, :, s:e]
                pg = p.gather(0, gc[None])[0]
                # d loss / d p_label * p_label, from the label-class sums
                eg = (g_gt[:, gc] * dgt[:, i, s:e]).sum(0).mul_(pg)
                if pd is not None:
                    out = pd[i, :, s:e] * g_all
                    total = out.sum(0).add_(eg)
                else:
                    out = torch.zeros_like(p)
                    total = eg
                out.addcmul_(p, total[None], value=-1.0)
                out.scatter_add_(0, gc[None], eg[None])
                grad[i, :, s:e] = out
        return grad.reshape(ctx.logits_shape), None, None, None, None


def region_sums(logits, target, gt_fns, all_fn=None, chunk_elems=1 << 17):
    """Batch sums of the label-class terms and of ``all_fn`` (see module doc).

    Args:
        logits (Tensor): [N, C, H, W] float32 (or float64) logits.
        target (Tensor): [N, H, W] long labels in [0, C), -1 for ignored.
        gt_fns (list[PiecewiseBezier]): functions summed at the label class.
        all_fn (PiecewiseBezier, optional): function summed over all classes.
        chunk_elems (int): elements (pixels x classes) per chunk.

    Returns:
        tuple: ``gt_sums`` [len(gt_fns), C] and ``all_sum`` [C] (float64,
        differentiable w.r.t. logits), ``counts`` [C] (float64).
    """
    gt_sums, all_sum = _RegionSums.apply(logits, target, list(gt_fns), all_fn,
                                         chunk_elems)
    valid = target[target >= 0]
    counts = torch.bincount(valid.reshape(-1), minlength=logits.shape[1])
    return gt_sums, all_sum, counts.double()
