"""SIM's position embeddings: the absolute 2-D sin-cos embedding of view 1's
patches and the relative query embedding of view 2's patches expressed in
view 1's patch grid.

Relative geometry of one sample (``rel_pos``, 6 numbers, written by
:class:`projects.sim.SIMTwoViews`). With view ``v`` cropped at rows
``[i_v, i_v + h_v)`` and columns ``[j_v, j_v + w_v)`` of the (possibly
horizontally flipped) original image of width ``W``::

    di = (i2 - i1) / h1     dj = (j2 - j1) / w1
    dh = h2 / h1            dw = w2 / w1
    rel_flip = flip1 xor flip2
    flip_dj = (W - j1 - j2) / w1

View 2's patch ``(r, c)`` on a ``gh x gw`` grid then sits at the (fractional)
patch index of view 1

    row = dh * (r + 0.5) + di * gh - 0.5
    col = dw * (c + 0.5) + dj * gw - 0.5                   (no relative flip)
    col = -dw * (c + 0.5) + flip_dj * gw - 0.5             (relative flip)

i.e. view 1's patch centre ``k`` is at index ``k``. The query embedding is
``[sin, cos](row * w), [sin, cos](col * w), [sin, cos](10 log dh * w),
[sin, cos](10 log dw * w)`` with ``D / 4`` frequencies
``w_k = 10000^(-k / (D / 4))`` each (``2 D`` channels), as the official
``get_2d_sincos_pos_embed_relative``; for identical crops its first ``D``
channels equal :func:`absolute_pos_embed` (rows first, then columns, the
layout of the official ``get_2d_sincos_pos_embed``).
"""
from typing import Tuple, Union

import torch

GridSize = Union[int, Tuple[int, int]]


def _grid(grid: GridSize) -> Tuple[int, int]:
    if isinstance(grid, int):
        return grid, grid
    gh, gw = grid
    return int(gh), int(gw)


def sincos_1d(pos: torch.Tensor, dim: int,
              temperature: float = 10000.) -> torch.Tensor:
    """``[sin(pos * w), cos(pos * w)]`` with ``dim / 2`` frequencies.

    Args:
        pos (Tensor): Positions of any shape ``S``.
        dim (int): Output channels (even).
        temperature (float): Frequency base. Defaults to 10000.

    Returns:
        Tensor: ``S + (dim,)`` in the dtype of ``pos`` (float32 for
        integer positions).
    """
    if dim % 2:
        raise ValueError(f'sincos_1d: dim must be even, got {dim}')
    if not pos.is_floating_point():
        pos = pos.float()
    half = dim // 2
    omega = torch.arange(half, dtype=pos.dtype, device=pos.device) / half
    omega = 1. / temperature**omega
    out = pos[..., None] * omega
    return torch.cat([out.sin(), out.cos()], dim=-1)


def sincos_2d(rows: torch.Tensor, cols: torch.Tensor,
              dim: int) -> torch.Tensor:
    """``cat(sincos_1d(rows, dim / 2), sincos_1d(cols, dim / 2))``."""
    if dim % 4:
        raise ValueError(f'sincos_2d: dim must be a multiple of 4, got {dim}')
    return torch.cat([sincos_1d(rows, dim // 2),
                      sincos_1d(cols, dim // 2)], dim=-1)


def absolute_pos_embed(grid: GridSize, dim: int, cls_token: bool = True,
                       dtype: torch.dtype = torch.float32,
                       device=None) -> torch.Tensor:
    """Fixed 2-D sin-cos embedding of a ``gh x gw`` patch grid.

    Returns:
        Tensor: ``(1, [1 +] gh * gw, dim)``, row-major patches; the cls
        entry (first, when ``cls_token``) is zero.
    """
    gh, gw = _grid(grid)
    rows, cols = torch.meshgrid(
        torch.arange(gh, dtype=dtype, device=device),
        torch.arange(gw, dtype=dtype, device=device), indexing='ij')
    embed = sincos_2d(rows.flatten(), cols.flatten(), dim)
    if cls_token:
        embed = torch.cat([embed.new_zeros(1, dim), embed])
    return embed[None]


def check_rel_pos(rel_pos: torch.Tensor) -> None:
    if rel_pos.dim() != 2 or rel_pos.shape[1] != 6:
        raise ValueError('rel_pos must have shape (B, 6) = (di, dj, dh, dw, '
                         f'rel_flip, flip_dj), got {tuple(rel_pos.shape)}')
    if not bool((rel_pos[:, 2:4] > 0).all()):
        raise ValueError('rel_pos: the scale ratios dh, dw must be positive')


def relative_grid(rel_pos: torch.Tensor,
                  grid: GridSize) -> Tuple[torch.Tensor, torch.Tensor]:
    """View 2's patch centres in view 1's patch-index coordinates.

    Args:
        rel_pos (Tensor): ``(B, 6)`` relative geometry (module docstring).
        grid (int | tuple[int, int]): Patch grid ``(gh, gw)`` of both views.

    Returns:
        tuple[Tensor, Tensor]: ``rows, cols`` of shape ``(B, gh * gw)``
        (row-major over view 2's patches).
    """
    check_rel_pos(rel_pos)
    gh, gw = _grid(grid)
    di, dj, dh, dw, flip, flip_dj = rel_pos.unbind(-1)
    r, c = torch.meshgrid(
        torch.arange(gh, dtype=rel_pos.dtype, device=rel_pos.device) + 0.5,
        torch.arange(gw, dtype=rel_pos.dtype, device=rel_pos.device) + 0.5,
        indexing='ij')
    r, c = r.flatten()[None], c.flatten()[None]
    rows = dh[:, None] * r + di[:, None] * gh - 0.5
    cols = dw[:, None] * c + dj[:, None] * gw
    flip_cols = -dw[:, None] * c + flip_dj[:, None] * gw
    cols = torch.where(flip[:, None] > 0.5, flip_cols, cols) - 0.5
    return rows, cols


def relative_query_embed(rel_pos: torch.Tensor, dim: int,
                         grid: GridSize) -> torch.Tensor:
    """Sin-cos embedding of view 2's patches at their view-1 positions and
    of the log scale ratios: ``(B, gh * gw, 2 * dim)``."""
    rows, cols = relative_grid(rel_pos, grid)
    scale_h = sincos_1d(10 * torch.log(rel_pos[:, 2]), dim // 2)
    scale_w = sincos_1d(10 * torch.log(rel_pos[:, 3]), dim // 2)
    scale = torch.cat([scale_h, scale_w], dim=-1)[:, None]
    return torch.cat([sincos_2d(rows, cols, dim),
                      scale.expand(-1, rows.shape[1], -1)], dim=-1)
