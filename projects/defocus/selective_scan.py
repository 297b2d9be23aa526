"""Selective scan and causal depthwise conv1d in pure PyTorch (CPU and GPU).

The scan solves the diagonal linear recurrence of Mamba::

    h_t = exp(delta_t * A) * h_{t-1} + delta_t * B_t * u_t,   y_t = <C_t, h_t>

with a loop over chunks of ``T`` tokens, never over tokens. Inside a chunk
the log-decays are summed (``S_t = A * cumsum(delta)``, chunk-local, from the
small [b, E, L] step sizes) and the states are::

    h_t = exp(S_t) * (H + sum_{s<=t} exp(-S_s) * delta_s * B_s * u_s)

where H is the state entering the chunk. The sum over ``s`` is one matrix
product with a triangular [T, T + 1] matrix and ``y_t = C_t . h_t`` one
batched vector-matrix product, so the full [b, E, N, L] state is never
stored: one [T, b, N, E] chunk block is live at a time, sized to stay in the
CPU cache (on a GPU: a larger block, bounded in memory; see
:func:`default_chunk`). ``T`` is halved where a chunk's decays span more
than the dtype's safe ``exp`` range; single-step decays below the working
precision are clamped, so nothing overflows.

:class:`SelectiveScanFn` saves its inputs and the chunk-entering states only;
its hand-written backward recomputes each chunk's states from its entering
state and solves the adjoint recurrence ``G_t = C_t g_t + a_{t+1} G_{t+1}``
over the chunks in reverse with the same chunk-local form, so training
memory is O(inputs + L / T states), as with the CUDA kernel.

:func:`linear_scan` solves the general scalar-decay recurrence without a
Python loop (recursion over chunk ends).

With ``impl='auto'`` and tensors on a GPU, mamba_ssm's CUDA kernel
(``selective_scan_fn``) is used when it is importable, else the Triton
kernels of :mod:`.selective_scan_triton` when Triton is, else this module;
likewise the ``causal_conv1d`` kernel for the conv.
"""
import math
import os

import torch
import torch.nn.functional as F

# Largest |log-decay| span inside one chunk, per compute dtype: exp(+-span)
# times the inputs must stay far from overflow (fp32 max ~ e^88).
_SPAN = {torch.float32: 60.0, torch.float64: 500.0}
# chunk_size=None: the largest power-of-two chunk (<= _MAX_CHUNK) whose
# [T, b, N, E] block has at most this many elements. On a CPU 2^18 (1 MiB in
# float32), so the few live blocks stay in a core's L2 / nearby L3 cache; on
# a GPU 2^24 (64 MiB), so each of the ~10 kernels per chunk has enough work
# and only ~L / T chunk steps are launched, at a bounded memory cost (a CPU
# budget there gave T = 1 at b = 32, E = 1536: one step per token).
_BLOCK_ELEMENTS = {'cpu': 1 << 18, 'gpu': 1 << 24}
_MAX_CHUNK = 32
_KERNELS = {}


def _import_kernel(name):
    """mamba_ssm / causal_conv1d CUDA kernels, or None (cached)."""
    if name not in _KERNELS:
        try:
            if name == 'selective_scan':
                from mamba_ssm.ops.selective_scan_interface import \
                    selective_scan_fn as fn
            elif name == 'triton':
                from .selective_scan_triton import \
                    triton_selective_scan as fn
            else:
                from causal_conv1d import causal_conv1d_fn as fn
        except ImportError:
            fn = None
        except Exception:  # a CUDA extension that fails to load
            if name == 'triton':  # our module: a real error, not a fallback
                raise
            fn = None
        _KERNELS[name] = fn
    return _KERNELS[name]


def mamba_ssm_available():
    """Whether mamba_ssm's CUDA selective scan can be imported."""
    return _import_kernel('selective_scan') is not None


def triton_available():
    """Whether Triton (and so the Triton selective scan) can be imported."""
    return _import_kernel('triton') is not None


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


def default_chunk(cells, device_type='cpu'):
    """Default chunk length of the parallel scan for ``cells`` = b * E * N.

    The largest power of two (<= 32) whose [T, b, N, E] block has at most
    2^18 elements on a CPU (1 MiB in float32: cache-sized) or 2^24 on any
    other device (64 MiB: few, large kernels at a bounded memory cost).
    """
    budget = _BLOCK_ELEMENTS['cpu' if device_type == 'cpu' else 'gpu']
    size = 1 << max(budget // max(cells, 1), 1).bit_length() - 1
    return min(size, _MAX_CHUNK)


def plan_chunks(dt, A, chunk_size=None):
    """Chunk length and log-decay clamp for step sizes ``dt`` and ``A``.

    Args:
        dt (Tensor): Step sizes [b, E, L].
        A (Tensor): [E, N].
        chunk_size (int, optional): Requested chunk length; None picks
            :func:`default_chunk` for the shape and ``dt``'s device.

    Returns:
        tuple[int, float | None]: The chunk length, halved until every
        chunk's log-decays span at most the dtype's safe range (e^60 in
        float32, e^500 in float64), and the lower clamp of the single-step
        log-decays (None when no decay is below e^(-span / 2)).
    """
    batch, width, length = dt.shape
    span = _SPAN.get(dt.dtype, _SPAN[torch.float32])
    if chunk_size is None:
        size = default_chunk(batch * width * A.shape[1], dt.device.type)
    else:
        size = int(chunk_size)
        if size < 1:
            raise ValueError(f'selective_scan: chunk_size must be a positive '
                             f'int or None, got {chunk_size!r}')
    size = min(size, max(length, 1))
    if length == 0:
        return size, None
    lo = dt * A.amin(1)[None, :, None]
    hi = dt * A.amax(1)[None, :, None]
    if float(torch.maximum(lo, hi).amax()) > span / 2:
        raise ValueError(
            f'selective_scan: a log-decay delta * A above {span / 2:g} (growth '
            f'by more than e^{span / 2:g} per step) overflows {dt.dtype}')
    # |log-decay| per step and channel, decays below e^(-span / 2) clamped:
    # they are below the working precision (2e-9 in float32)
    rate = torch.maximum(lo.abs(), hi.abs())
    clamp = None
    if float(rate.amax()) > span / 2:
        clamp = -span / 2
        rate = rate.clamp(max=span / 2)
    while size > 1:
        num = math.ceil(length / size)
        if float(_chunks(rate, size, num).sum(-1).amax()) <= span:
            break
        size //= 2
    return size, clamp


def _chunk_decays(out, scratch, cum_dt, dt, A_t, clamp, tri):
    """exp(chunk-local cumulative log-decays) -> out [T, b, N, E]."""
    if clamp is None:
        torch.mul(cum_dt[:, :, None, :], A_t, out=out)
    else:  # clamp each step's log-decay, then sum them (a triangular mm)
        torch.mul(dt[:, :, None, :], A_t, out=scratch)
        scratch.clamp_(min=clamp)
        torch.mm(tri, scratch.flatten(1), out=out.flatten(1))
    return out.exp_()


def _chunk_tools(dt, size):
    """Chunk count, triangular matrices and chunk-local cumsum of dt."""
    num = dt.shape[0] // size
    ones = torch.ones(size, size, dtype=dt.dtype, device=dt.device)
    cum_dt = dt.view(num, size, *dt.shape[1:]).cumsum(1)
    return num, ones.tril(), cum_dt


def scan_chunks(dt, x, A_t, B, C, size, clamp=None):
    """Forward of the chunked scan in token-major layout.

    Args:
        dt (Tensor): Step sizes [L, b, E] (L a multiple of ``size``).
        x (Tensor): ``dt * u`` [L, b, E].
        A_t (Tensor): A transposed, [N, E].
        B, C (Tensor): [L, b, N].
        size (int): Chunk length T.
        clamp (float, optional): Lower clamp of single-step log-decays.

    Returns:
        tuple[Tensor, Tensor, Tensor]: y [L, b, E], the states entering
        each chunk [L / T, b, N, E] and the last state [b, N, E].
    """
    length, batch, width = dt.shape
    state = A_t.shape[0]
    num, tri, cum_dt = _chunk_tools(dt, size)
    # [1 | tril]: row t sums the entering state (row 0 of `acc`) and the
    # scaled inputs of tokens 0..t
    tri_in = torch.cat([tri.new_ones(size, 1), tri], 1)
    y = dt.new_empty(length, batch, width)
    starts = dt.new_empty(num, batch, state, width)
    acc = dt.new_zeros(size + 1, batch, state, width)
    dec = dt.new_empty(size, batch, state, width)
    h = torch.empty_like(dec)
    for c in range(num):
        sl = slice(c * size, (c + 1) * size)
        starts[c] = acc[0]
        _chunk_decays(dec, h, cum_dt[c], dt[sl], A_t, clamp, tri)
        inputs = acc[1:]
        torch.mul(x[sl, :, None, :], B[sl, :, :, None], out=inputs)
        inputs.div_(dec)
        torch.mm(tri_in, acc.flatten(1), out=h.flatten(1))
        h.mul_(dec)
        torch.bmm(C[sl].reshape(-1, 1, state), h.view(-1, state, width),
                  out=y[sl].view(-1, 1, width))
        acc[0] = h[-1]
    return y, starts, acc[0].clone()


def scan_chunks_backward(dt, x, A_t, B, C, size, clamp, starts, grad_y,
                         grad_last=None):
    """Backward of :func:`scan_chunks` (same layout), chunks in reverse.

    Each chunk's states are recomputed from its entering state; the adjoint
    states ``G_t = dL/dh_t`` obey ``G_t = C_t g_t + a_{t+1} G_{t+1}``, solved
    inside the chunk as ``exp(-S_t) * sum_{s>=t} exp(S_s) (C_s g_s)`` with the
    next chunk's first adjoint carried in.

    Returns:
        tuple[Tensor, ...]: Gradients w.r.t. x [L, b, E], dt through the
        decays [L, b, E], A_t [N, E], B [L, b, N] and C [L, b, N].
    """
    length, batch, width = dt.shape
    state = A_t.shape[0]
    num, tri, cum_dt = _chunk_tools(dt, size)
    tri_ex = torch.cat([tri.new_ones(size, 1), tri.tril(-1)], 1)
    tri_rev = tri.t().contiguous()
    grad_x = torch.empty_like(dt)
    grad_dt = torch.empty_like(dt)
    grad_B = torch.empty_like(B)
    grad_C = torch.empty_like(C)
    grad_A = torch.zeros_like(A_t)
    # <g_t, x_t>: the part of dL/dC_t from the token's own input
    gx = (grad_y * x).sum(-1, keepdim=True)
    acc = dt.new_empty(size + 1, batch, state, width)
    dec = dt.new_empty(size, batch, state, width)
    prev = torch.empty_like(dec)
    adj = torch.empty_like(dec)
    carry = grad_last
    carry_decay = None
    for c in reversed(range(num)):
        sl = slice(c * size, (c + 1) * size)
        flat = (-1, state, width)
        _chunk_decays(dec, adj, cum_dt[c], dt[sl], A_t, clamp, tri)
        # prev_t = a_t h_{t-1} = exp(S_t) (H + sum_{s<t} exp(-S_s) x_s B_s)
        acc[0] = starts[c]
        inputs = acc[1:]
        torch.mul(x[sl, :, None, :], B[sl, :, :, None], out=inputs)
        inputs.div_(dec)
        torch.mm(tri_ex, acc.flatten(1), out=prev.flatten(1))
        prev.mul_(dec)
        # dL/dC_t = sum_e g_t (prev_t + x_t B_t)
        g = grad_y[sl]
        torch.bmm(g.reshape(-1, 1, width), prev.view(flat).transpose(1, 2),
                  out=grad_C[sl].view(-1, 1, state))
        grad_C[sl].addcmul_(B[sl], gx[sl])
        # adjoint states of the chunk
        torch.mul(g[:, :, None, :], C[sl, :, :, None], out=adj)
        if carry is not None:
            if carry_decay is None:
                adj[-1] += carry
            else:
                adj[-1].addcmul_(carry_decay, carry)
        adj.mul_(dec)
        torch.mm(tri_rev, adj.flatten(1), out=acc[1:].flatten(1))
        grads = acc[1:].div_(dec)
        carry = grads[0].clone()
        carry_decay = dec[0].clone()
        torch.bmm(B[sl].reshape(-1, 1, state), grads.view(flat),
                  out=grad_x[sl].view(-1, 1, width))
        torch.bmm(x[sl].reshape(-1, 1, width), grads.view(flat).transpose(1, 2),
                  out=grad_B[sl].view(-1, 1, state))
        # dL/d(log-decay_t) = G_t * a_t h_{t-1}
        prev.mul_(grads)
        if clamp is not None:  # clamped log-decays do not depend on dt, A
            torch.mul(dt[sl, :, None, :], A_t, out=adj)
            prev.mul_(adj > clamp)
        torch.mul(prev, A_t, out=adj)
        torch.sum(adj, 2, out=grad_dt[sl])
        torch.mul(prev, dt[sl, :, None, :], out=adj)
        grad_A += adj.view(flat).sum(0)
    return grad_x, grad_dt, grad_A, grad_B, grad_C


def _token_major(size, *tensors):
    """[b, C, L] -> contiguous [L', b, C], zero-padded to a multiple of size.

    Zero step sizes and inputs leave the state unchanged, so the padded
    tail only repeats the last state and is sliced off afterwards.
    """
    length = tensors[0].shape[-1]
    pad = (-length) % size
    return [(F.pad(t, (0, pad)) if pad else t).permute(2, 0, 1).contiguous()
            for t in tensors]


def _step_sizes(delta, delta_bias, delta_softplus):
    if delta_bias is not None:
        delta = delta + delta_bias[None, :, None]
    return F.softplus(delta) if delta_softplus else delta


class SelectiveScanFn(torch.autograd.Function):
    """Chunked selective scan with a hand-written chunked backward.

    Inputs as :func:`selective_scan` (``D``, ``z``, ``delta_bias`` may be
    None; ``chunk_size`` None picks it per shape). Computes in
    ``promote(dtype, float32)``; returns ``(out, last_state)``. Saves the
    inputs, the chunk-entering states and (with ``z``) the [b, E, L] scan
    output.
    """

    @staticmethod
    def forward(ctx, u, delta, A, B, C, D, z, delta_bias, delta_softplus,
                chunk_size):
        ctx.set_materialize_grads(False)
        dtype_in = u.dtype
        work = torch.promote_types(u.dtype, torch.float32)
        u_, delta_, A_, B_, C_, D_, z_, bias_ = [
            None if t is None else t.to(work)
            for t in (u, delta, A, B, C, D, z, delta_bias)]
        dt = _step_sizes(delta_, bias_, delta_softplus)
        length = u_.shape[-1]
        size, clamp = plan_chunks(dt, A_, chunk_size)
        dt_s, x_s, B_s, C_s = _token_major(size, dt, dt * u_, B_, C_)
        y, starts, last = scan_chunks(dt_s, x_s, A_.t().contiguous(), B_s,
                                      C_s, size, clamp)
        y = y[:length].permute(1, 2, 0)
        out = y if D_ is None else torch.addcmul(y, u_, D_[None, :, None])
        if z_ is not None:
            out = out * F.silu(z_)
        ctx.save_for_backward(u, delta, A, B, C, D, z, delta_bias, starts,
                              None if z_ is None else y)
        ctx.plan = (size, clamp, bool(delta_softplus), work)
        return out.to(dtype_in), last.transpose(1, 2).to(dtype_in)

    @staticmethod
    def backward(ctx, grad_out, grad_last):
        size, clamp, softplus, work = ctx.plan
        *inputs, starts, y = ctx.saved_tensors
        u, delta, A, B, C, D, z, bias = [
            None if t is None else t.to(work) for t in inputs]
        dt = _step_sizes(delta, bias, softplus)
        length = u.shape[-1]
        g = torch.zeros_like(u) if grad_out is None else grad_out.to(work)
        grad_z = grad_D = None
        if z is not None:
            pre = y if D is None else torch.addcmul(y, u, D[None, :, None])
            sig = torch.sigmoid(z)
            grad_z = g * pre * sig * (1 + z * (1 - sig))
            g = g * z * sig
        dt_s, x_s, B_s, C_s, g_s = _token_major(size, dt, dt * u, B, C, g)
        last = None if grad_last is None else \
            grad_last.to(work).transpose(1, 2).contiguous()
        grad_x, grad_dt, grad_A, grad_B, grad_C = scan_chunks_backward(
            dt_s, x_s, A.t().contiguous(), B_s, C_s, size, clamp, starts,
            g_s, last)
        grad_x, grad_dt, grad_B, grad_C = [
            t[:length].permute(1, 2, 0)
            for t in (grad_x, grad_dt, grad_B, grad_C)]
        grad_u = grad_x * dt
        grad_dt = torch.addcmul(grad_dt, grad_x, u)
        if D is not None:
            grad_D = (g * u).sum((0, 2))
            grad_u = torch.addcmul(grad_u, g, D[None, :, None])
        if softplus:
            pre_dt = delta if bias is None else delta + bias[None, :, None]
            grad_dt = grad_dt * torch.sigmoid(pre_dt)
        grad_bias = None if bias is None else grad_dt.sum((0, 2))
        grads = (grad_u, grad_dt, grad_A.t(), grad_B, grad_C, grad_D, grad_z,
                 grad_bias)
        return tuple(None if gr is None else gr.to(t.dtype)
                     for gr, t in zip(grads, inputs)) + (None, None)


def selective_scan(u, delta, A, B, C, D=None, z=None, delta_bias=None,
                   delta_softplus=False, return_last_state=False,
                   impl='auto', chunk_size=None):
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
        impl (str): ``'auto'``: for CUDA tensors mamba_ssm's kernel when
            importable, else ``'triton'`` when Triton is, else
            ``'parallel'``; for CPU tensors ``'parallel'``. ``'parallel'``
            (the chunked scan of this module), ``'sequential'`` (the naive
            loop of :func:`~projects.defocus.reference.selective_scan_ref`),
            ``'triton'`` (the kernels of :mod:`.selective_scan_triton`; CUDA
            tensors, or CPU ones under ``TRITON_INTERPRET=1``) and ``'cuda'``
            (mamba_ssm, required) choose one.
        chunk_size (int, optional): Chunk length of the parallel scan; None
            picks it per shape and device (see :func:`plan_chunks`). Halved
            where the decays inside a chunk would leave the safe ``exp``
            range. The other implementations ignore it.

    Returns:
        Tensor | tuple[Tensor, Tensor]: Output [batch, E, L] (and last state).
    """
    if u.dim() != 3 or B.dim() != 3 or C.dim() != 3 or A.dim() != 2:
        raise ValueError(
            'selective_scan expects u, delta [batch, E, L], A [E, N] and '
            f'input-dependent B, C [batch, N, L]; got u {tuple(u.shape)}, '
            f'A {tuple(A.shape)}, B {tuple(B.shape)}, C {tuple(C.shape)}')
    impl = resolve_scan_impl(impl, u)
    if impl == 'sequential':
        from .reference import selective_scan_ref
        return selective_scan_ref(u, delta, A, B, C, D, z, delta_bias,
                                  delta_softplus, return_last_state)
    if impl in ('cuda', 'triton'):
        kernel = _import_kernel('selective_scan' if impl == 'cuda' else impl)
        return kernel(u, delta, A, B, C, D, z, delta_bias,
                      delta_softplus=delta_softplus,
                      return_last_state=return_last_state)
    out, last = SelectiveScanFn.apply(u, delta, A, B, C, D, z, delta_bias,
                                      bool(delta_softplus), chunk_size)
    return (out, last) if return_last_state else out


def resolve_scan_impl(impl, u):
    """The implementation :func:`selective_scan` runs for ``impl`` on ``u``.

    Returns:
        str: ``'cuda'`` (mamba_ssm), ``'triton'``, ``'parallel'`` or
        ``'sequential'``.

    Raises:
        ValueError: Unknown ``impl``.
        RuntimeError: The requested kernel is not available for ``u``.
    """
    if impl not in ('auto', 'parallel', 'sequential', 'cuda', 'triton'):
        raise ValueError(f"selective_scan: impl must be 'auto', 'parallel', "
                         f"'sequential', 'triton' or 'cuda', got {impl!r}")
    if impl == 'cuda' and not (u.is_cuda and mamba_ssm_available()):
        raise RuntimeError("selective_scan(impl='cuda') needs mamba_ssm and "
                           'CUDA tensors')
    if impl == 'triton':
        if not triton_available():
            raise RuntimeError("selective_scan(impl='triton') needs triton")
        if not u.is_cuda and os.environ.get('TRITON_INTERPRET') != '1':
            raise RuntimeError(
                "selective_scan(impl='triton') needs CUDA tensors (or "
                'TRITON_INTERPRET=1 set before the kernels are imported)')
    if impl != 'auto':
        return impl
    if u.is_cuda and mamba_ssm_available():
        return 'cuda'
    if u.is_cuda and triton_available():
        return 'triton'
    return 'parallel'


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
