"""The learnable bandpass of De-focus Mamba: a RoPE-style rotation of B and C.

The decay of the scan (``exp(delta * A)``) is a low-pass over relative
position; rotating the scan's input and output matrices B and C along the
state dimension with learnable frequencies adds the oscillation, so the
token-to-token kernel becomes ``decay^(t-s) * cos/sin((t - s) * freq)``.

As in the official code, pairs of state channels (0, 1), (2, 3), ... are
rotated ("rotate every two") and each member of a pair uses the angle of its
own frequency ``freq[n]``; with equal frequencies inside every pair this is an
exact 2-D rotation per pair.
"""
import torch


def default_frequencies(state_size):
    """Official initial frequencies ``(100^(-k/N) - 0.01) / (1 - 0.01)``,
    k = 1..N (from just below 1 down to 0)."""
    k = torch.arange(1, state_size + 1, dtype=torch.float32)
    return (100 ** (-k / state_size) - 0.01) / (1 - 0.01)


def rotate_every_two(x):
    """``(x0, x1, x2, x3, ...) -> (-x1, x0, -x3, x2, ...)`` on the last dim."""
    even, odd = x[..., ::2], x[..., 1::2]
    return torch.stack((-odd, even), dim=-1).flatten(-2)


def bandpass_rotate(x, freq, positions):
    """Rotate ``x`` [..., L, N] by angles ``positions[t] * freq[n]``.

    Args:
        x (Tensor): Scan matrix B or C, tokens along dim -2 and the state
            along dim -1 (N even).
        freq (Tensor): Frequencies [N].
        positions (Tensor): Token positions [L] (official: ``arange(L) /
            rope_scale_factor``).

    Returns:
        Tensor: ``x * cos(theta) + rotate_every_two(x) * sin(theta)``.
    """
    if x.shape[-1] % 2:
        raise ValueError(f'bandpass_rotate needs an even state size, got '
                         f'{x.shape[-1]}')
    theta = positions.to(x.dtype)[:, None] * freq.to(x.dtype)[None, :]
    return x * torch.cos(theta) + rotate_every_two(x) * torch.sin(theta)
