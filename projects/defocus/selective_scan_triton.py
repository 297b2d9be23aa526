"""Triton kernels of the selective scan (CUDA; CPU under TRITON_INTERPRET=1).

Same semantics as :func:`~.reference.selective_scan_ref`. One program owns
``BLOCK_E`` channels of one batch element and walks the tokens in chunks of
``CHUNK``; its [BLOCK_E, N, CHUNK] tile of states lives in registers.

Forward: per chunk, ``exp(delta * A)`` and ``delta * u * B`` are combined by
``tl.associative_scan`` with the linear-recurrence operator
``(a1, b1), (a2, b2) -> (a1 a2, b1 a2 + b2)``, the state entering the chunk is
carried in, ``y = <C, h>`` is reduced over N, ``D`` and ``silu(z)`` are
applied, and (when gradients are needed) the entering state of every chunk is
saved: [b, L / CHUNK, E, N], the only extra memory.

Backward, chunks in reverse: the states ``h_{t-1}`` are recomputed from the
chunk's saved entering state (a scan over the inputs shifted by one token) and
``h_t = exp(delta_t A) h_{t-1} + delta_t u_t B_t`` as in the loop; the adjoints
``G_t = C_t g_t + exp(delta_{t+1} A) G_{t+1}`` are one reverse scan, the next
chunk's first adjoint (or the last state's gradient) carried in. Then
``du, ddelta, dz`` are element-wise, ``dB, dC`` are summed over the program's
channels into per-block partials [E / BLOCK_E, b, N, L] (summed by torch:
deterministic, no atomics), ``dA, dD, ddelta_bias`` into per-batch partials.
"""
import contextlib

import torch
import triton
import triton.language as tl

# tokens per chunk and channels per program: a [8, 16, 16] tile of states is
# 16 values per thread with 4 warps; compiled for sm_90 (float32, N = 16) the
# backward needs 168 registers per thread without spills (3 programs per SM),
# the forward 125
DEFAULT_CHUNK = 16
BLOCK_E = 8
NUM_WARPS = 4


@triton.jit
def _combine(a1, b1, a2, b2):
    """(a1, b1) then (a2, b2): h -> a2 * (a1 * h + b1) + b2."""
    return a1 * a2, b1 * a2 + b2


@triton.jit
def _softplus(x):
    """torch's softplus (threshold 20) with an accurate log1p(exp(x))."""
    y = tl.exp(tl.minimum(x, 20.0))
    w = 1.0 + y
    small = w == 1.0
    # log1p(y) = log(w) * y / (w - 1) (exact for the rounded w)
    lp = tl.where(small, y, tl.log(w) * (y / tl.where(small, 1.0, w - 1.0)))
    return tl.where(x > 20.0, x, lp)


@triton.jit
def _sigmoid(x):
    return 1.0 / (1.0 + tl.exp(-x))


@triton.jit
def _load_et(ptr, offs_e, offs_t, s_e, s_t, mask, W: tl.constexpr):
    """[BLOCK_E, CHUNK] tile of a [E, L] slice (0 where masked)."""
    return tl.load(ptr + offs_e[:, None] * s_e + offs_t[None, :] * s_t,
                   mask=mask, other=0.0).to(W)


@triton.jit
def _load_nt(ptr, offs_n, offs_t, s_n, s_t, mask, W: tl.constexpr):
    """[BLOCK_N, CHUNK] tile of a [N, L] slice (0 where masked)."""
    return tl.load(ptr + offs_n[:, None] * s_n + offs_t[None, :] * s_t,
                   mask=mask, other=0.0).to(W)


@triton.jit
def _delta_in(delta_ptr, bias, offs_e, offs_t, s_e, s_t, mask,
              HAS_BIAS: tl.constexpr, W: tl.constexpr):
    """delta (+ delta_bias): the step sizes before the optional softplus."""
    d = _load_et(delta_ptr, offs_e, offs_t, s_e, s_t, mask, W)
    if HAS_BIAS:
        d = d + bias[:, None]
    return d


@triton.jit
def _steps(delta_ptr, bias, offs_e, offs_t, s_e, s_t, mask,
           HAS_BIAS: tl.constexpr, SOFTPLUS: tl.constexpr, W: tl.constexpr):
    """Step sizes; exactly 0 (an identity step) where masked."""
    d = _delta_in(delta_ptr, bias, offs_e, offs_t, s_e, s_t, mask, HAS_BIAS,
                  W)
    if SOFTPLUS:
        d = _softplus(d)
    return tl.where(mask, d, 0.0)


@triton.jit
def _scan_fwd_kernel(
        u_ptr, delta_ptr, A_ptr, B_ptr, C_ptr, D_ptr, z_ptr, bias_ptr,
        out_ptr, last_ptr, ckpt_ptr,
        width, length, nstate, nchunks,
        su_b, su_e, su_t, sd_b, sd_e, sd_t, sa_e, sa_n,
        sb_b, sb_n, sb_t, sc_b, sc_n, sc_t, sz_b, sz_e, sz_t,
        HAS_D: tl.constexpr, HAS_Z: tl.constexpr, HAS_BIAS: tl.constexpr,
        SOFTPLUS: tl.constexpr, STORE: tl.constexpr,
        BLOCK_E: tl.constexpr, BLOCK_N: tl.constexpr, CHUNK: tl.constexpr):
    W: tl.constexpr = out_ptr.dtype.element_ty
    pid_e = tl.program_id(0)
    pid_b = tl.program_id(1).to(tl.int64)
    offs_e = pid_e * BLOCK_E + tl.arange(0, BLOCK_E)
    offs_n = tl.arange(0, BLOCK_N)
    j = tl.arange(0, CHUNK)
    mask_e = offs_e < width
    mask_n = offs_n < nstate
    mask_en = mask_e[:, None] & mask_n[None, :]
    A = tl.load(A_ptr + offs_e[:, None] * sa_e + offs_n[None, :] * sa_n,
                mask=mask_en, other=0.0).to(W)
    bias = tl.zeros([BLOCK_E], W)
    if HAS_BIAS:
        bias = tl.load(bias_ptr + offs_e, mask=mask_e, other=0.0).to(W)
    D = tl.zeros([BLOCK_E], W)
    if HAS_D:
        D = tl.load(D_ptr + offs_e, mask=mask_e, other=0.0).to(W)
    u_ptr += pid_b * su_b
    delta_ptr += pid_b * sd_b
    B_ptr += pid_b * sb_b
    C_ptr += pid_b * sc_b
    z_ptr += pid_b * sz_b
    out_ptr += pid_b * width * length
    state_off = offs_e[:, None] * nstate + offs_n[None, :]
    h = tl.zeros([BLOCK_E, BLOCK_N], W)
    for c in range(0, nchunks):
        if STORE:  # the state entering the chunk, for the backward
            tl.store(ckpt_ptr + (pid_b * nchunks + c) * width * nstate
                     + state_off, h, mask=mask_en)
        offs_t = c * CHUNK + j
        mask_t = offs_t < length
        mask_et = mask_e[:, None] & mask_t[None, :]
        mask_nt = mask_n[:, None] & mask_t[None, :]
        dt = _steps(delta_ptr, bias, offs_e, offs_t, sd_e, sd_t, mask_et,
                    HAS_BIAS, SOFTPLUS, W)
        u = _load_et(u_ptr, offs_e, offs_t, su_e, su_t, mask_et, W)
        Bt = _load_nt(B_ptr, offs_n, offs_t, sb_n, sb_t, mask_nt, W)
        Ct = _load_nt(C_ptr, offs_n, offs_t, sc_n, sc_t, mask_nt, W)
        a = tl.exp(dt[:, None, :] * A[:, :, None])
        x = (dt * u)[:, None, :] * Bt[None, :, :]
        prod, acc = tl.associative_scan((a, x), axis=2, combine_fn=_combine)
        hs = acc + prod * h[:, :, None]
        y = tl.sum(hs * Ct[None, :, :], axis=1)
        if HAS_D:
            y += D[:, None] * u
        if HAS_Z:
            z = _load_et(z_ptr, offs_e, offs_t, sz_e, sz_t, mask_et, W)
            y = y * z * _sigmoid(z)
        tl.store(out_ptr + offs_e[:, None] * length + offs_t[None, :], y,
                 mask=mask_et)
        # padded tokens are identity steps: the last column is the state
        # after the chunk's last real token
        h = tl.sum(tl.where(j[None, None, :] == CHUNK - 1, hs, 0.0), axis=2)
    tl.store(last_ptr + pid_b * width * nstate + state_off, h, mask=mask_en)


@triton.jit
def _scan_bwd_kernel(
        u_ptr, delta_ptr, A_ptr, B_ptr, C_ptr, D_ptr, z_ptr, bias_ptr,
        gout_ptr, glast_ptr, ckpt_ptr,
        du_ptr, ddelta_ptr, dz_ptr, dB_ptr, dC_ptr, dA_ptr, dD_ptr,
        dbias_ptr,
        width, length, nstate, nchunks, batch,
        su_b, su_e, su_t, sd_b, sd_e, sd_t, sa_e, sa_n,
        sb_b, sb_n, sb_t, sc_b, sc_n, sc_t, sz_b, sz_e, sz_t,
        sg_b, sg_e, sg_t,
        HAS_D: tl.constexpr, HAS_Z: tl.constexpr, HAS_BIAS: tl.constexpr,
        SOFTPLUS: tl.constexpr, HAS_GLAST: tl.constexpr,
        BLOCK_E: tl.constexpr, BLOCK_N: tl.constexpr, CHUNK: tl.constexpr):
    W: tl.constexpr = du_ptr.dtype.element_ty
    pid_e = tl.program_id(0)
    pid_b = tl.program_id(1).to(tl.int64)
    offs_e = pid_e * BLOCK_E + tl.arange(0, BLOCK_E)
    offs_n = tl.arange(0, BLOCK_N)
    j = tl.arange(0, CHUNK)
    mask_e = offs_e < width
    mask_n = offs_n < nstate
    mask_en = mask_e[:, None] & mask_n[None, :]
    A = tl.load(A_ptr + offs_e[:, None] * sa_e + offs_n[None, :] * sa_n,
                mask=mask_en, other=0.0).to(W)
    bias = tl.zeros([BLOCK_E], W)
    if HAS_BIAS:
        bias = tl.load(bias_ptr + offs_e, mask=mask_e, other=0.0).to(W)
    D = tl.zeros([BLOCK_E], W)
    if HAS_D:
        D = tl.load(D_ptr + offs_e, mask=mask_e, other=0.0).to(W)
    u_ptr += pid_b * su_b
    delta_ptr += pid_b * sd_b
    B_ptr += pid_b * sb_b
    C_ptr += pid_b * sc_b
    z_ptr += pid_b * sz_b
    gout_ptr += pid_b * sg_b
    et_base = pid_b * width * length
    # dB, dC partials: [E / BLOCK_E, b, N, L]
    nt_base = (pid_e * batch + pid_b) * nstate * length
    state_off = offs_e[:, None] * nstate + offs_n[None, :]
    carry = tl.zeros([BLOCK_E, BLOCK_N], W)  # dL/dh at the next chunk start
    if HAS_GLAST:
        carry = tl.load(glast_ptr + pid_b * width * nstate + state_off,
                        mask=mask_en, other=0.0).to(W)
    dA = tl.zeros([BLOCK_E, BLOCK_N], W)
    dD = tl.zeros([BLOCK_E], W)
    dbias = tl.zeros([BLOCK_E], W)
    for ci in range(0, nchunks):
        c = nchunks - 1 - ci
        offs_t = c * CHUNK + j
        mask_t = offs_t < length
        mask_et = mask_e[:, None] & mask_t[None, :]
        mask_nt = mask_n[:, None] & mask_t[None, :]
        # h_{t-1}: scan of the chunk's inputs shifted by one token (the
        # first shifted step is the identity) from the saved entering state
        mask_p = (j >= 1) & (offs_t - 1 < length)
        mask_pe = mask_e[:, None] & mask_p[None, :]
        dt_p = _steps(delta_ptr, bias, offs_e, offs_t - 1, sd_e, sd_t,
                      mask_pe, HAS_BIAS, SOFTPLUS, W)
        u_p = _load_et(u_ptr, offs_e, offs_t - 1, su_e, su_t, mask_pe, W)
        B_p = _load_nt(B_ptr, offs_n, offs_t - 1, sb_n, sb_t,
                       mask_n[:, None] & mask_p[None, :], W)
        prod, acc = tl.associative_scan(
            (tl.exp(dt_p[:, None, :] * A[:, :, None]),
             (dt_p * u_p)[:, None, :] * B_p[None, :, :]),
            axis=2, combine_fn=_combine)
        h_in = tl.load(ckpt_ptr + (pid_b * nchunks + c) * width * nstate
                       + state_off, mask=mask_en, other=0.0)
        h_prev = acc + prod * h_in[:, :, None]
        # this chunk's steps, states and output gradient
        d_in = _delta_in(delta_ptr, bias, offs_e, offs_t, sd_e, sd_t,
                         mask_et, HAS_BIAS, W)
        dt = d_in
        if SOFTPLUS:
            dt = _softplus(d_in)
        dt = tl.where(mask_et, dt, 0.0)
        u = _load_et(u_ptr, offs_e, offs_t, su_e, su_t, mask_et, W)
        Bt = _load_nt(B_ptr, offs_n, offs_t, sb_n, sb_t, mask_nt, W)
        Ct = _load_nt(C_ptr, offs_n, offs_t, sc_n, sc_t, mask_nt, W)
        g = _load_et(gout_ptr, offs_e, offs_t, sg_e, sg_t, mask_et, W)
        x = dt * u
        decayed = tl.exp(dt[:, None, :] * A[:, :, None]) * h_prev
        hs = decayed + x[:, None, :] * Bt[None, :, :]
        if HAS_Z:
            y = tl.sum(hs * Ct[None, :, :], axis=1)
            if HAS_D:
                y += D[:, None] * u
            z = _load_et(z_ptr, offs_e, offs_t, sz_e, sz_t, mask_et, W)
            sig = _sigmoid(z)
            tl.store(dz_ptr + et_base + offs_e[:, None] * length
                     + offs_t[None, :], g * y * sig * (1.0 + z * (1.0 - sig)),
                     mask=mask_et)
            g = g * z * sig
        if HAS_D:
            dD += tl.sum(g * u, axis=1)
        nt_off = nt_base + offs_n[:, None] * length + offs_t[None, :]
        tl.store(dC_ptr + nt_off, tl.sum(hs * g[:, None, :], axis=0),
                 mask=mask_nt)
        # adjoints G_t = C_t g_t + a_{t+1} G_{t+1} (reverse scan); a_{t+1}
        # of the chunk's last token is the next chunk's first decay
        mask_q = mask_e[:, None] & (offs_t + 1 < length)[None, :]
        dt_q = _steps(delta_ptr, bias, offs_e, offs_t + 1, sd_e, sd_t,
                      mask_q, HAS_BIAS, SOFTPLUS, W)
        prod, acc = tl.associative_scan(
            (tl.exp(dt_q[:, None, :] * A[:, :, None]),
             Ct[None, :, :] * g[:, None, :]),
            axis=2, combine_fn=_combine, reverse=True)
        G = acc + prod * carry[:, :, None]
        carry = tl.sum(tl.where(j[None, None, :] == 0, G, 0.0), axis=2)
        tl.store(dB_ptr + nt_off, tl.sum(G * x[:, None, :], axis=0),
                 mask=mask_nt)
        dx = tl.sum(G * Bt[None, :, :], axis=1)
        # dL/d(log-decay) = G_t a_t h_{t-1}; log-decay = delta * A
        glog = G * decayed
        dA += tl.sum(glog * dt[:, None, :], axis=2)
        ddt = dx * u + tl.sum(glog * A[:, :, None], axis=1)
        du = dx * dt
        if HAS_D:
            du += g * D[:, None]
        if SOFTPLUS:
            ddt = ddt * _sigmoid(d_in)
        ddt = tl.where(mask_et, ddt, 0.0)
        dbias += tl.sum(ddt, axis=1)
        et_off = et_base + offs_e[:, None] * length + offs_t[None, :]
        tl.store(du_ptr + et_off, du, mask=mask_et)
        tl.store(ddelta_ptr + et_off, ddt, mask=mask_et)
    tl.store(dA_ptr + pid_b * width * nstate + state_off, dA, mask=mask_en)
    if HAS_D:
        tl.store(dD_ptr + pid_b * width + offs_e, dD, mask=mask_e)
    if HAS_BIAS:
        tl.store(dbias_ptr + pid_b * width + offs_e, dbias, mask=mask_e)


def _strides(t):
    return (0, 0, 0) if t is None else t.stride()


def _or(default, *tensors):
    """The tensors, ``default`` for the absent ones (kernel arguments that
    the constexpr flags leave unread)."""
    return [default if t is None else t for t in tensors]


def _on_device(t):
    """Launch on ``t``'s GPU (Triton launches on the current one)."""
    return torch.cuda.device(t.device) if t.is_cuda else \
        contextlib.nullcontext()


class TritonSelectiveScanFn(torch.autograd.Function):
    """Selective scan with the Triton forward and backward kernels.

    Inputs as :func:`triton_selective_scan`; returns ``(out, last_state)``.
    Computes in ``promote(u.dtype, float32)``; inputs are read in place
    (any strides), outputs and gradients come back in the input dtypes.
    """

    @staticmethod
    def forward(ctx, u, delta, A, B, C, D, z, delta_bias, delta_softplus,
                chunk):
        ctx.set_materialize_grads(False)
        batch, width, length = u.shape
        nstate = A.shape[1]
        work = torch.promote_types(u.dtype, torch.float32)
        nchunks = max(triton.cdiv(length, chunk), 1)
        store = any(ctx.needs_input_grad[:8])
        out = u.new_empty(batch, width, length, dtype=work)
        last = u.new_empty(batch, width, nstate, dtype=work)
        ckpt = u.new_empty(batch, nchunks, width, nstate, dtype=work) \
            if store else last
        grid = (triton.cdiv(width, BLOCK_E), batch)
        with _on_device(u):
            _scan_fwd_kernel[grid](
                u, delta, A, B, C, *_or(u, D, z, delta_bias), out, last,
                ckpt,
                width, length, nstate, nchunks,
                *u.stride(), *delta.stride(), *A.stride(), *B.stride(),
                *C.stride(), *_strides(z),
                HAS_D=D is not None, HAS_Z=z is not None,
                HAS_BIAS=delta_bias is not None, SOFTPLUS=bool(delta_softplus),
                STORE=store, BLOCK_E=BLOCK_E,
                BLOCK_N=triton.next_power_of_2(nstate), CHUNK=chunk,
                num_warps=NUM_WARPS)
        ctx.save_for_backward(u, delta, A, B, C, D, z, delta_bias,
                              ckpt if store else None)
        ctx.plan = (bool(delta_softplus), chunk, nchunks)
        return out.to(u.dtype), last.to(u.dtype)

    @staticmethod
    def backward(ctx, grad_out, grad_last):
        softplus, chunk, nchunks = ctx.plan
        u, delta, A, B, C, D, z, bias, ckpt = ctx.saved_tensors
        batch, width, length = u.shape
        nstate = A.shape[1]
        work = ckpt.dtype
        if grad_out is None:  # only the last state is used: stride-0 zeros
            grad_out = u.new_zeros((), dtype=work).expand(u.shape)
        nblocks = triton.cdiv(width, BLOCK_E)
        new = u.new_empty
        du = new(batch, width, length, dtype=work)
        ddelta = torch.empty_like(du)
        dz = None if z is None else torch.empty_like(du)
        dB = new(nblocks, batch, nstate, length, dtype=work)
        dC = torch.empty_like(dB)
        dA = new(batch, width, nstate, dtype=work)
        dD = None if D is None else new(batch, width, dtype=work)
        dbias = None if bias is None else new(batch, width, dtype=work)
        with _on_device(u):
            _scan_bwd_kernel[(nblocks, batch)](
                u, delta, A, B, C, *_or(u, D, z, bias), grad_out,
                u if grad_last is None else grad_last.contiguous(), ckpt,
                du, ddelta, *_or(du, dz), dB, dC, dA, *_or(du, dD, dbias),
                width, length, nstate, nchunks, batch,
                *u.stride(), *delta.stride(), *A.stride(), *B.stride(),
                *C.stride(), *_strides(z), *grad_out.stride(),
                HAS_D=D is not None, HAS_Z=z is not None,
                HAS_BIAS=bias is not None, SOFTPLUS=softplus,
                HAS_GLAST=grad_last is not None, BLOCK_E=BLOCK_E,
                BLOCK_N=triton.next_power_of_2(nstate), CHUNK=chunk,
                num_warps=NUM_WARPS)
        grads = (du, ddelta, dA.sum(0), dB.sum(0), dC.sum(0),
                 None if dD is None else dD.sum(0), dz,
                 None if dbias is None else dbias.sum(0))
        inputs = (u, delta, A, B, C, D, z, bias)
        return tuple(None if gr is None else gr.to(t.dtype)
                     for gr, t in zip(grads, inputs)) + (None, None)


def triton_selective_scan(u, delta, A, B, C, D=None, z=None, delta_bias=None,
                          delta_softplus=False, return_last_state=False,
                          chunk=DEFAULT_CHUNK):
    """Selective scan with Triton kernels (arguments of ``selective_scan``).

    Args:
        u, delta, z (Tensor): [batch, E, L] (any strides).
        A (Tensor): [E, N].
        B, C (Tensor): Per-token [batch, N, L].
        D, delta_bias (Tensor, optional): [E].
        delta_softplus (bool): Softplus on ``delta + delta_bias``.
        return_last_state (bool): Also return the last state [batch, E, N].
        chunk (int): Tokens per chunk, a power of two (default 16).

    Returns:
        Tensor | tuple[Tensor, Tensor]: Output [batch, E, L] (and last state).
    """
    if chunk < 1 or chunk & (chunk - 1):
        raise ValueError(f'triton_selective_scan: chunk must be a power of '
                         f'two, got {chunk!r}')
    out, last = TritonSelectiveScanFn.apply(u, delta, A, B, C, D, z,
                                            delta_bias, delta_softplus, chunk)
    return (out, last) if return_last_state else out
