"""DCNv3 core: deformable sampling with per-group, per-point softmax weights.

For output pixel ``(y, x)``, group ``g`` and kernel point ``k``, the core
reads the (channels-last) input of group ``g`` bilinearly, with zeros outside
the image, at the pixel position::

    p = (y * stride - pad + c_h, x * stride - pad + c_w)
        + offset_scale * (grid_k + offset[y, x, g, k])

where ``c = dilation * (kernel - 1) // 2`` and ``grid_k`` runs over the
dilated kernel grid centred on 0, and sums the samples weighted by
``mask[y, x, g, k]`` (the module passes softmax-normalised weights).
Kernel points are ordered as in the official code: x outer, y inner
(``k = i_x * kernel_h + i_y``); offsets are ``(dx, dy)`` pairs in that order,
so the offset and mask layouts of official checkpoints are kept.

``dcnv3_core_pytorch`` is the vectorised pure-PyTorch path (one
``grid_sample`` over all groups and points, then a batched weighted sum);
``dcnv3_core`` uses the official compiled ``DCNv3`` CUDA extension instead
when it is importable and the tensors are on a GPU.
"""
import importlib
from functools import lru_cache

import torch
import torch.nn.functional as F


def kernel_grid(kernel_h, kernel_w, dilation_h, dilation_w,
                remove_center=False, dtype=torch.float32, device=None):
    """``[P, 2]`` kernel point displacements ``(dx, dy)`` in pixels.

    Official order (x outer, y inner); with ``remove_center`` the centre
    point of an odd square kernel is dropped.
    """
    xs = (torch.arange(kernel_w, dtype=dtype, device=device) * dilation_w
          - (dilation_w * (kernel_w - 1)) // 2)
    ys = (torch.arange(kernel_h, dtype=dtype, device=device) * dilation_h
          - (dilation_h * (kernel_h - 1)) // 2)
    grid = torch.stack([xs[:, None].expand(kernel_w, kernel_h),
                        ys[None, :].expand(kernel_w, kernel_h)], -1)
    grid = grid.reshape(-1, 2)
    if remove_center:
        keep = torch.ones(grid.shape[0], dtype=torch.bool)
        keep[(grid.shape[0] - 1) // 2] = False
        grid = grid[keep.to(grid.device)]
    return grid


def _check_args(input, offset, mask, kernel_h, kernel_w, group,
                group_channels, remove_center, out_hw):
    if input.dim() != 4:
        raise ValueError(f'input must be [N, H, W, C], got {tuple(input.shape)}')
    if input.shape[-1] != group * group_channels:
        raise ValueError(
            f'input has {input.shape[-1]} channels, expected group * '
            f'group_channels = {group} * {group_channels}')
    if remove_center and (kernel_h != kernel_w or kernel_h % 2 == 0):
        raise ValueError('remove_center needs a square kernel of odd size, '
                         f'got {kernel_h}x{kernel_w}')
    points = kernel_h * kernel_w - int(bool(remove_center))
    n, h_out, w_out = input.shape[0], *out_hw
    if tuple(offset.shape) != (n, h_out, w_out, group * points * 2):
        raise ValueError(
            f'offset must be {(n, h_out, w_out, group * points * 2)}, got '
            f'{tuple(offset.shape)}')
    if tuple(mask.shape) != (n, h_out, w_out, group * points):
        raise ValueError(f'mask must be {(n, h_out, w_out, group * points)}, '
                         f'got {tuple(mask.shape)}')
    return points


def output_size(size, kernel, stride, pad, dilation):
    """Spatial output size of the core along one axis."""
    return (size + 2 * pad - (dilation * (kernel - 1) + 1)) // stride + 1


def dcnv3_core_pytorch(input, offset, mask, kernel_h, kernel_w, stride_h,
                       stride_w, pad_h, pad_w, dilation_h, dilation_w, group,
                       group_channels, offset_scale, remove_center=False):
    """DCNv3 core in pure PyTorch (any device, differentiable everywhere).

    Args:
        input (Tensor): ``[N, H, W, group * group_channels]``.
        offset (Tensor): ``[N, H_out, W_out, group * P * 2]``, ``(dx, dy)``
            per point in pixels (before ``offset_scale``).
        mask (Tensor): ``[N, H_out, W_out, group * P]`` point weights.
        kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w, dilation_h,
        dilation_w (int): the sampling grid.
        group (int): number of groups; group_channels (int): channels each.
        offset_scale (float): scales both the kernel grid and the offsets.
        remove_center (bool): drop the centre point (P = K - 1).

    Returns:
        Tensor: ``[N, H_out, W_out, group * group_channels]``.
    """
    n, h_in, w_in, _ = input.shape
    h_out = output_size(h_in, kernel_h, stride_h, pad_h, dilation_h)
    w_out = output_size(w_in, kernel_w, stride_w, pad_w, dilation_w)
    points = _check_args(input, offset, mask, kernel_h, kernel_w, group,
                         group_channels, remove_center, (h_out, w_out))
    dtype, device = input.dtype, input.device
    # Pixel positions (unpadded input indices) of the grid centres.
    cy = (torch.arange(h_out, dtype=dtype, device=device) * stride_h
          - pad_h + (dilation_h * (kernel_h - 1)) // 2)
    cx = (torch.arange(w_out, dtype=dtype, device=device) * stride_w
          - pad_w + (dilation_w * (kernel_w - 1)) // 2)
    centre = torch.stack([cx[None, :].expand(h_out, w_out),
                          cy[:, None].expand(h_out, w_out)], -1)
    grid = kernel_grid(kernel_h, kernel_w, dilation_h, dilation_w,
                       remove_center, dtype, device)
    # [N, H_out, W_out, G, P, 2] pixel positions -> grid_sample coordinates
    # (align_corners=False: pixel i spans [i, i + 1), centre i + 0.5).
    pos = (centre[None, :, :, None, None] + offset_scale * (
        grid + offset.view(n, h_out, w_out, group, points, 2).to(dtype)))
    size = torch.tensor([w_in, h_in], dtype=dtype, device=device)
    coords = (pos + 0.5) / size * 2 - 1
    coords = coords.permute(0, 3, 1, 2, 4, 5).reshape(
        n * group, h_out * w_out, points, 2)
    value = input.view(n, h_in * w_in, group, group_channels).permute(
        0, 2, 3, 1).reshape(n * group, group_channels, h_in, w_in)
    # zeros padding outside the image == the official explicit zero padding
    sampled = F.grid_sample(value, coords, mode='bilinear',
                            padding_mode='zeros', align_corners=False)
    weight = mask.view(n, h_out * w_out, group, points).permute(
        0, 2, 1, 3).reshape(n * group, h_out * w_out, points).to(dtype)
    out = torch.einsum('bcqp,bqp->bqc', sampled, weight)
    return out.reshape(n, group, h_out, w_out, group_channels).permute(
        0, 2, 3, 1, 4).reshape(n, h_out, w_out, group * group_channels)


@lru_cache(maxsize=None)
def compiled_extension():
    """The official compiled ``DCNv3`` extension module, or None.

    Returns ``(module, passes_remove_center)``: extension builds newer than
    1.0 take ``remove_center`` as a last argument.
    """
    try:
        ext = importlib.import_module('DCNv3')
    except ImportError:
        return None
    try:
        from importlib.metadata import version
        newer = float(version('DCNv3')) > 1.0
    except Exception:  # unknown or non-numeric version: the current API
        newer = True
    return ext, newer


class DCNv3CompiledFunction(torch.autograd.Function):
    """Autograd wrapper of the official compiled CUDA kernels."""

    @staticmethod
    def forward(ctx, input, offset, mask, kernel_h, kernel_w, stride_h,
                stride_w, pad_h, pad_w, dilation_h, dilation_w, group,
                group_channels, offset_scale, im2col_step, remove_center):
        ext, newer = compiled_extension()
        ctx.args = (kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w,
                    dilation_h, dilation_w, group, group_channels,
                    offset_scale)
        ctx.im2col_step = im2col_step
        ctx.tail = (int(remove_center),) if (newer or remove_center) else ()
        ctx.save_for_backward(input, offset, mask)
        return ext.dcnv3_forward(input, offset, mask, *ctx.args, im2col_step,
                                 *ctx.tail)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_output):
        ext, _ = compiled_extension()
        input, offset, mask = ctx.saved_tensors
        grads = ext.dcnv3_backward(input, offset, mask, *ctx.args,
                                   grad_output.contiguous(), ctx.im2col_step,
                                   *ctx.tail)
        return (*grads, *([None] * 13))


def use_compiled(input):
    """Whether ``dcnv3_core`` runs the compiled op for this tensor."""
    return input.is_cuda and compiled_extension() is not None


def dcnv3_core(input, offset, mask, kernel_h, kernel_w, stride_h, stride_w,
               pad_h, pad_w, dilation_h, dilation_w, group, group_channels,
               offset_scale, remove_center=False, impl='auto',
               im2col_step=256):
    """DCNv3 core with backend selection (same arguments as the PyTorch one).

    ``impl``: ``'auto'`` (compiled op for CUDA tensors when the ``DCNv3``
    extension is importable, else PyTorch), ``'pytorch'`` or ``'compiled'``
    (raises if unavailable).
    """
    if impl not in ('auto', 'pytorch', 'compiled'):
        raise ValueError(
            f"impl must be 'auto', 'pytorch' or 'compiled', got {impl!r}")
    if impl == 'compiled' and not use_compiled(input):
        raise RuntimeError(
            'the compiled DCNv3 op needs CUDA tensors and the official DCNv3 '
            'extension (OpenGVLab/InternImage ops_dcnv3, built with make.sh); '
            "use impl='pytorch' or 'auto'")
    args = (kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w,
            dilation_h, dilation_w, group, group_channels, offset_scale)
    if impl != 'pytorch' and use_compiled(input):
        return DCNv3CompiledFunction.apply(
            input.contiguous(), offset.contiguous(),
            mask.to(input.dtype).contiguous(), *args, im2col_step,
            bool(remove_center))
    return dcnv3_core_pytorch(input, offset, mask, *args, remove_center)
