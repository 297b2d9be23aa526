"""Selective scan and causal depthwise conv1d in pure PyTorch (CPU and GPU).

The scan solves the diagonal linear recurrence of Mamba::

    h_t = exp(delta_t * A) * h_{t-1} + delta_t * B_t * u_t,   y_t = <C_t, h_t>

without a Python loop over tokens. :func:`linear_scan` splits the sequence
into chunks of ``T`` tokens; inside a chunk the log-decays are summed
(``S_t = cumsum(log a)``) and the state is ``exp(S_t) * cumsum(exp(-S_s) b_s)``,
all chunks at once; the states entering the chunks obey the same recurrence
over the (few) chunk ends, which is solved by the same function (one
recursion level per factor ``T`` of the length). If a chunk's log-decays span
more than the dtype can hold in ``exp`` safely, the chunk is halved, down to
one token (then the factors are exactly 1), so large decays never overflow.

:class:`SelectiveScanFn` saves only its inputs and recomputes the states in
backward, where the adjoint is the reverse recurrence
``G_t = dL/dh_t + a_{t+1} G_{t+1}`` solved by the same scan; so training
memory stays O(inputs), as with the CUDA kernel.

With ``impl='auto'`` mamba_ssm's CUDA kernel (``selective_scan_fn``) and the
``causal_conv1d`` kernel are used when they are importable and the tensors
are on a GPU.
"""
import math

import torch
import torch.nn.functional as F

# Largest |log-decay| span inside one chunk, per compute dtype: exp(+-span)
# times the inputs must stay far from overflow (fp32 max ~ e^88).
_SPAN = {torch.float32: 60.0, torch.float64: 500.0}
_KERNELS = {}


def _import_kernel(name):
    """mamba_ssm / causal_conv1d CUDA kernels, or None (cached)."""
    if name not in _KERNELS:
        try:
            if name == 'selective_scan':
                from mamba_ssm.ops.selective_scan_interface import \
                    selective_scan_fn as fn
            else:
                from causal_conv1d import causal_conv1d_fn as fn
        except Exception:  # ImportError, or a CUDA extension load error
            fn = None
        _KERNELS[name] = fn
    return _KERNELS[name]


def mamba_ssm_available():
    """Whether mamba_ssm's CUDA selective scan can be imported."""
    return _import_kernel('selective_scan') is not None


def _chunking(length, chunk_size, span_of):
    """Largest chunk length <= chunk_size (>= 2) whose span fits."""
    size = max(min(int(chunk_size), length), 2)
    while True:
        num = math.ceil(length / size)
        if size == 2 or span_of(size, num) <= 0:
            return size, num
        size = max(size // 2, 2)


def _chunks(x, size, num):
    """[..., L] -> [..., num, size], zero-padding the tail."""
    pad = num * size - x.shape[-1]
    return (F.pad(x, (0, pad)) if pad else x).unflatten(-1, (num, size))


def linear_scan(log_a, b, chunk_size=16):
    """Solve ``h_t = exp(log_a_t) * h_{t-1} + b_t`` (``h_{-1} = 0``).

    Works along the last dimension of same-shaped tensors; no autograd
    (use :class:`SelectiveScanFn` for gradients). Cost: a few elementwise
    passes and cumulative sums over the whole tensor plus a recursion on
    ``L / chunk_size`` chunk ends.

    Args:
        log_a (Tensor): Log-decays [..., L].
        b (Tensor): Inputs [..., L].
        chunk_size (int): Tokens per chunk (halved where the decays inside a
            chunk span more than the dtype's safe exp range).

    Returns:
        Tensor: States h [..., L].
    """
    length = b.shape[-1]
    if length <= 1:
        return b.clone()
    span = _SPAN.get(b.dtype, _SPAN[torch.float32])
    lo, hi = torch.aminmax(log_a)
    if float(hi) > span / 2:
        raise ValueError(
            f'linear_scan: a log-decay of {float(hi):.3g} (growth by more '
            f'than e^{span / 2:g} per step) overflows {b.dtype}')
    if float(lo) < -span / 2:
        # A decay below e^(-span/2) per step (2e-9 in float32, 3e-109 in
        # float64) is below the working precision: clamping it keeps every
        # two-token chunk within the safe span, so the recursion ends.
        log_a = log_a.clamp(min=-span / 2)

    def span_of(size, num):
        la = _chunks(log_a, size, num)
        cum = la.cumsum(-1) - la[..., :1]
        return float(cum.abs().amax()) - span

    size, num = _chunking(length, chunk_size, span_of)
    la = _chunks(log_a, size, num)
    # S[..., c, t] = sum of the chunk's log-decays 1..t (S[..., 0] = 0)
    decay = la.cumsum(-1)
    decay -= la[..., :1]
    decay.exp_()
    h = _chunks(b, size, num) / decay
    h.cumsum_(-1)
    h *= decay
    if num > 1:
        total = (decay[..., -1].log() + la[..., 0])
        ends = linear_scan(total, h[..., -1].contiguous(), chunk_size)
        entering = F.pad(ends[..., :-1], (1, 0)) * la[..., 0].exp()
        h.addcmul_(decay, entering[..., None])
    return h.flatten(-2)[..., :length]


def scan_states(dt, A, drive, chunk_size=16):
    """States of ``h_t = exp(dt_t * A) * h_{t-1} + drive_t`` [b, E, N, L].

    The log-decays factor as ``A[e, n] * dt[b, e, t]``, so their cumulative
    sums come from the small ``cumsum(dt)``; only the exponentials and the
    input cumulative sum touch [b, E, N, L] tensors. Falls back to
    :func:`linear_scan` for growing (``dt * A > 0``) or tiny (below the
    working precision) decays.

    Args:
        dt (Tensor): Step sizes [b, E, L].
        A (Tensor): [E, N].
        drive (Tensor): Inputs [b, E, N, L]; overwritten.
        chunk_size (int): Tokens per chunk.
    """
    length = dt.shape[-1]
    span = _SPAN.get(drive.dtype, _SPAN[torch.float32])
    a_max = (-A).amax(1)                                   # [E]
    if length <= 1 or float(dt.amin()) < 0 or float(A.amax()) > 0 or \
            float((dt.amax((0, 2)) * a_max).amax()) > span / 2:
        return linear_scan(dt[:, :, None, :] * A[None, :, :, None], drive,
                           chunk_size)

    def span_of(size, num):
        cdt = _chunks(dt, size, num)
        width = cdt.sum(-1) - cdt[..., 0]                  # [b, E, num]
        return float((width * a_max[None, :, None]).amax()) - span

    size, num = _chunking(length, chunk_size, span_of)
    cdt = _chunks(dt, size, num)                           # [b, E, c, T]
    cum = cdt.cumsum(-1)
    cum -= cdt[..., :1]
    decay = A[None, :, :, None, None] * cum[:, :, None]    # [b, E, N, c, T]
    decay.exp_()
    h = _chunks(drive, size, num)
    h /= decay
    h.cumsum_(-1)
    h *= decay
    if num > 1:
        # the chunk ends obey the same recurrence, with the chunks' summed
        # step sizes: one recursion level per factor chunk_size of L
        ends = scan_states(cum[..., -1] + cdt[..., 0], A,
                           h[..., -1].contiguous(), chunk_size)
        entering = F.pad(ends[..., :-1], (1, 0))
        entering *= torch.exp(A[None, :, :, None] * cdt[:, :, None, :, 0])
        h.addcmul_(decay, entering[..., None])
    return h.flatten(-2)[..., :length]


def _plan(dt, A, chunk_size):
    """Chunk length :func:`scan_states` will use, or None (general path)."""
    length = dt.shape[-1]
    if length <= 1 or float(dt.amin()) < 0 or float(A.amax()) > 0:
        return None
    span = _SPAN.get(dt.dtype, _SPAN[torch.float32])
    a_max = (-A).amax(1)
    if float((dt.amax((0, 2)) * a_max).amax()) > span / 2:
        return None

    def span_of(size, num):
        cdt = _chunks(dt, size, num)
        width = cdt.sum(-1) - cdt[..., 0]
        return float((width * a_max[None, :, None]).amax()) - span

    return _chunking(length, chunk_size, span_of)[0]


def _pad_to(size, *tensors):
    """Zero-pad [..., L] tensors to a multiple of ``size`` (None: as is).

    Zero step sizes and inputs leave the state unchanged, so the padded
    tail only repeats the last state and is sliced off afterwards.
    """
    length = tensors[0].shape[-1]
    pad = (-length) % size if size else 0
    return [t if t is None or not pad else F.pad(t, (0, pad))
            for t in tensors]


def _step_sizes(delta, delta_bias, delta_softplus):
    if delta_bias is not None:
        delta = delta + delta_bias[None, :, None]
    return F.softplus(delta) if delta_softplus else delta


class SelectiveScanFn(torch.autograd.Function):
    """Chunked parallel selective scan with an analytic backward.

    Inputs as :func:`selective_scan` (``D``, ``z``, ``delta_bias`` may be
    None). Computes in ``promote(dtype, float32)``; returns ``(out,
    last_state)``.
    """

    @staticmethod
    def forward(ctx, u, delta, A, B, C, D, z, delta_bias, delta_softplus,
                chunk_size):
        dtype_in = u.dtype
        work = torch.promote_types(u.dtype, torch.float32)
        args = [None if t is None else t.to(work)
                for t in (u, delta, A, B, C, D, z, delta_bias)]
        u_, delta_, A_, B_, C_, D_, z_, bias_ = args
        dt = _step_sizes(delta_, bias_, delta_softplus)
        length = u_.shape[-1]
        size = _plan(dt, A_, chunk_size)
        dt_p, u_p, B_p, C_p = _pad_to(size, dt, u_, B_, C_)
        drive = (dt_p * u_p)[:, :, None, :] * B_p[:, None, :, :]
        h = scan_states(dt_p, A_, drive, size or chunk_size)
        del drive
        last = h[..., -1].clone()
        h *= C_p[:, None, :, :]
        out = h.sum(2)[..., :length]
        del h
        if D_ is not None:
            out += u_ * D_[None, :, None]
        if z_ is not None:
            out *= F.silu(z_)
        ctx.save_for_backward(u, delta, A, B, C, D, z, delta_bias)
        ctx.delta_softplus = delta_softplus
        ctx.chunk_size = chunk_size
        ctx.work = work
        return out.to(dtype_in), last

    @staticmethod
    def backward(ctx, grad_out, grad_last):
        saved = ctx.saved_tensors
        work = ctx.work
        u, delta, A, B, C, D, z, bias = [
            None if t is None else t.to(work) for t in saved]
        dt = _step_sizes(delta, bias, ctx.delta_softplus)
        length = u.shape[-1]
        size = _plan(dt, A, ctx.chunk_size)
        chunk = size or ctx.chunk_size
        g = grad_out.to(work)
        grad_z = grad_D = None
        dt_p, u_p, B_p, C_p = _pad_to(size, dt, u, B, C)
        drive = (dt_p * u_p)[:, :, None, :] * B_p[:, None, :, :]
        h = scan_states(dt_p, A, drive.clone(), chunk)
        if z is not None:
            pre = (h * C_p[:, None]).sum(2)[..., :length]
            if D is not None:
                pre += u * D[None, :, None]
            sig = torch.sigmoid(z)
            grad_z = g * pre * sig * (1 + z * (1 - sig))
            g = g * z * sig
            del pre
        grad_u = torch.zeros_like(u)
        if D is not None:
            grad_D = (g * u).sum((0, 2))
            grad_u += g * D[None, :, None]
        (g_p,) = _pad_to(size, g)
        grad_C = (h * g_p[:, :, None]).sum(1)[..., :length]
        # adjoint states: G_t = dL/dh_t + exp(dt_{t+1} A) G_{t+1}, i.e. the
        # same scan on the reversed sequence with the step sizes shifted
        grad_h = g_p[:, :, None, :] * C_p[:, None, :, :]
        if grad_last is not None:
            grad_h[..., -1] += grad_last.to(work)
        rev_dt = F.pad(dt_p.flip(-1)[..., :-1], (1, 0))
        adj = scan_states(rev_dt, A, grad_h.flip(-1), chunk).flip(-1)
        del grad_h
        h -= drive          # exp(dt_t A) * h_{t-1}
        del drive
        h *= adj            # dL/d(log-decay)
        adj_b = (adj * B_p[:, None]).sum(2)[..., :length]
        grad_u += dt * adj_b
        grad_B = (adj * (dt_p * u_p)[:, :, None]).sum(1)[..., :length]
        del adj
        grad_dt = (h * A[None, :, :, None]).sum(2)[..., :length] + u * adj_b
        grad_A = (h * dt_p[:, :, None]).sum((0, 3))
        del h
        if ctx.delta_softplus:
            pre_dt = delta if bias is None else delta + bias[None, :, None]
            grad_dt = grad_dt * torch.sigmoid(pre_dt)
        grad_bias = None if bias is None else grad_dt.sum((0, 2))
        grads = (grad_u, grad_dt, grad_A, grad_B, grad_C, grad_D, grad_z,
                 grad_bias)
        return tuple(None if gr is None else gr.to(t.dtype)
                     for gr, t in zip(grads, saved)) + (None, None)


def selective_scan(u, delta, A, B, C, D=None, z=None, delta_bias=None,
                   delta_softplus=False, return_last_state=False,
                   impl='auto', chunk_size=16):
    """Mamba's selective scan (same arguments as ``selective_scan_fn``).

    Args:
        u (Tensor): Inputs [batch, E, L].
        delta (Tensor): Step sizes [batch, E, L].
        A (Tensor): Diagonal state matrix per channel [E, N] (negative).
        B (Tensor): Input matrix [batch, N, L].
        C (Tensor): Output matrix [batch, N, L].
        D (Tensor, optional): Skip [E].
        z (Tensor, optional): Gate [batch, E, L] (output times ``silu(z)``).
        delta_bias (Tensor, optional): Added to ``delta`` [E].
        delta_softplus (bool): Softplus on ``delta`` after the bias.
        return_last_state (bool): Also return the final state [batch, E, N].
        impl (str): ``'auto'`` (mamba_ssm's CUDA kernel for CUDA tensors when
            importable, else ``'parallel'``), ``'parallel'`` (this module),
            ``'sequential'`` (the naive loop of
            :func:`~projects.defocus.reference.selective_scan_ref`) or
            ``'cuda'`` (mamba_ssm, required).
        chunk_size (int): Chunk length of the parallel scan.

    Returns:
        Tensor | tuple[Tensor, Tensor]: Output [batch, E, L] (and last state).
    """
    if impl not in ('auto', 'parallel', 'sequential', 'cuda'):
        raise ValueError(f"selective_scan: impl must be 'auto', 'parallel', "
                         f"'sequential' or 'cuda', got {impl!r}")
    if u.dim() != 3 or B.dim() != 3 or C.dim() != 3 or A.dim() != 2:
        raise ValueError(
            'selective_scan expects u, delta [batch, E, L], A [E, N] and '
            f'input-dependent B, C [batch, N, L]; got u {tuple(u.shape)}, '
            f'A {tuple(A.shape)}, B {tuple(B.shape)}, C {tuple(C.shape)}')
    kernel = _import_kernel('selective_scan') if u.is_cuda else None
    if impl == 'cuda' and kernel is None:
        raise RuntimeError("selective_scan(impl='cuda') needs mamba_ssm and "
                           'CUDA tensors')
    if impl in ('auto', 'cuda') and kernel is not None:
        return kernel(u, delta, A, B, C, D, z, delta_bias,
                      delta_softplus=delta_softplus,
                      return_last_state=return_last_state)
    if impl == 'sequential':
        from .reference import selective_scan_ref
        return selective_scan_ref(u, delta, A, B, C, D, z, delta_bias,
                                  delta_softplus, return_last_state)
    out, last = SelectiveScanFn.apply(u, delta, A, B, C, D, z, delta_bias,
                                      bool(delta_softplus), int(chunk_size))
    return (out, last) if return_last_state else out


def causal_conv1d(x, weight, bias=None, activation=None, impl='auto'):
    """Causal depthwise conv1d: output t sees inputs t-K+1..t only.

    Args:
        x (Tensor): [batch, E, L].
        weight (Tensor): [E, K] or ``nn.Conv1d``'s [E, 1, K].
        bias (Tensor, optional): [E].
        activation (str, optional): None or ``'silu'``.
        impl (str): ``'auto'`` (the causal_conv1d CUDA kernel for CUDA
            tensors when importable) or ``'torch'``.

    Returns:
        Tensor: [batch, E, L].
    """
    if activation not in (None, 'silu', 'swish'):
        raise ValueError(f"causal_conv1d: activation must be None or 'silu', "
                         f'got {activation!r}')
    weight = weight.reshape(weight.shape[0], weight.shape[-1])
    kernel = _import_kernel('causal_conv1d') if x.is_cuda else None
    if impl == 'auto' and kernel is not None:
        return kernel(x, weight, bias, activation=activation)
    width = weight.shape[-1]
    out = F.conv1d(F.pad(x, (width - 1, 0)), weight[:, None, :], bias,
                   groups=x.shape[1])
    return F.silu(out) if activation is not None else out
