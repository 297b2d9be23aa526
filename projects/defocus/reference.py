"""Naive sequential selective scan: the ground truth for tests and benchmarks.

A plain Python loop over the tokens with autograd through every step, written
straight from the recurrence (Mamba's ``selective_scan_ref`` semantics)::

    delta <- softplus(delta + delta_bias)      (bias / softplus optional)
    h_t    = exp(delta_t * A) * h_{t-1} + delta_t * B_t * u_t
    y_t    = <C_t, h_t>
    out    = (y + D * u) * silu(z)              (D / z optional)
"""
import torch
import torch.nn.functional as F


def selective_scan_ref(u, delta, A, B, C, D=None, z=None, delta_bias=None,
                       delta_softplus=False, return_last_state=False):
    """Sequential selective scan (one Python step per token).

    Args:
        u (Tensor): Inputs [batch, E, L].
        delta (Tensor): Step sizes before the optional bias/softplus [batch, E, L].
        A (Tensor): State matrix (diagonal per channel) [E, N].
        B (Tensor): Input-dependent input matrix [batch, N, L].
        C (Tensor): Input-dependent output matrix [batch, N, L].
        D (Tensor, optional): Skip connection [E].
        z (Tensor, optional): Gate [batch, E, L]; the output is multiplied by
            ``silu(z)``.
        delta_bias (Tensor, optional): Added to ``delta`` [E].
        delta_softplus (bool): Apply softplus to ``delta`` (after the bias).
        return_last_state (bool): Also return the final state [batch, E, N].

    Returns:
        Tensor | tuple[Tensor, Tensor]: Output [batch, E, L] in the dtype of
        ``u`` (computed in at least float32), and the last state if asked.
    """
    dtype_in = u.dtype
    work = torch.promote_types(u.dtype, torch.float32)
    u, delta, A, B, C = (t.to(work) for t in (u, delta, A, B, C))
    if delta_bias is not None:
        delta = delta + delta_bias.to(work)[None, :, None]
    if delta_softplus:
        delta = F.softplus(delta)
    batch, dim, length = u.shape
    state = u.new_zeros(batch, dim, A.shape[1])
    ys = []
    for t in range(length):
        decay = torch.exp(delta[:, :, t, None] * A)          # [b, E, N]
        drive = (delta[:, :, t] * u[:, :, t])[:, :, None] * B[:, None, :, t]
        state = decay * state + drive
        ys.append(torch.einsum('ben,bn->be', state, C[:, :, t]))
    out = torch.stack(ys, dim=-1)
    if D is not None:
        out = out + u * D.to(work)[None, :, None]
    if z is not None:
        out = out * F.silu(z.to(work))
    out = out.to(dtype_in)
    return (out, state) if return_last_state else out
