"""Independent references for the DCNv3 core (float64, tiny inputs)."""
import math

import torch.nn.functional as F


def bilinear(img, y, x):
    """Bilinear sample of ``img`` [H, W, C] at pixel position (y, x); zeros
    outside the image."""
    h, w, c = img.shape
    y0, x0 = math.floor(y), math.floor(x)
    out = img.new_zeros(c)
    for yy, wy in ((y0, 1 - (y - y0)), (y0 + 1, y - y0)):
        for xx, wx in ((x0, 1 - (x - x0)), (x0 + 1, x - x0)):
            if 0 <= yy < h and 0 <= xx < w:
                out = out + wy * wx * img[yy, xx]
    return out


def dcnv3_loop(input, offset, mask, kernel, stride, pad, dilation, group,
               offset_scale, remove_center=False):
    """Direct loop over pixels, groups and kernel points.

    Kernel points are enumerated x outer, y inner (the official layout);
    offsets are (dx, dy) pairs per point.
    """
    n, h, w, c = input.shape
    gc = c // group
    h_out = (h + 2 * pad - (dilation * (kernel - 1) + 1)) // stride + 1
    w_out = (w + 2 * pad - (dilation * (kernel - 1) + 1)) // stride + 1
    half = (dilation * (kernel - 1)) // 2
    points = [(ix, iy) for ix in range(kernel) for iy in range(kernel)]
    if remove_center:
        points = [p for p in points if p != (kernel // 2, kernel // 2)]
    npts = len(points)
    off = offset.view(n, h_out, w_out, group, npts, 2)
    m = mask.view(n, h_out, w_out, group, npts)
    out = input.new_zeros(n, h_out, w_out, c)
    for b in range(n):
        for oy in range(h_out):
            for ox in range(w_out):
                for g in range(group):
                    img = input[b, :, :, g * gc:(g + 1) * gc]
                    acc = input.new_zeros(gc)
                    for k, (ix, iy) in enumerate(points):
                        dx = ix * dilation - half
                        dy = iy * dilation - half
                        y = oy * stride - pad + half + offset_scale * (
                            dy + float(off[b, oy, ox, g, k, 1]))
                        x = ox * stride - pad + half + offset_scale * (
                            dx + float(off[b, oy, ox, g, k, 0]))
                        acc = acc + m[b, oy, ox, g, k] * bilinear(img, y, x)
                    out[b, oy, ox, g * gc:(g + 1) * gc] = acc
    return out


def depthwise_closed_form(input, point_weights, kernel, stride, pad,
                          dilation, group):
    """Zero offsets and pixel-independent weights ``[group, P]``: a grouped
    depthwise convolution whose channel ``c`` kernel is its group's weights
    laid out x-major (``weight[c, 0, iy, ix] = w[g(c), ix * kernel + iy]``).
    """
    c = input.shape[-1]
    gc = c // group
    wk = point_weights.view(group, kernel, kernel).transpose(1, 2)  # [g,iy,ix]
    weight = wk.repeat_interleave(gc, dim=0)[:, None]
    out = F.conv2d(input.permute(0, 3, 1, 2), weight, stride=stride,
                   padding=pad, dilation=dilation, groups=c)
    return out.permute(0, 2, 3, 1)
