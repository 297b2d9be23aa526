"""The DCNv3 operator module (channels-last), with official parameter names."""
import warnings

import torch
import torch.nn as nn
import torch.nn.functional as F

from .dcnv3_core import dcnv3_core


class ToChannelsLast(nn.Module):
    """``[N, C, H, W] -> [N, H, W, C]``."""

    def forward(self, x):
        return x.permute(0, 2, 3, 1)


class ToChannelsFirst(nn.Module):
    """``[N, H, W, C] -> [N, C, H, W]``."""

    def forward(self, x):
        return x.permute(0, 3, 1, 2)


def build_norm(kind, dim, in_format='channels_last',
               out_format='channels_last', eps=1e-6):
    """A norm wrapped with the layout permutes it needs.

    The ``nn.Sequential`` indices match the official checkpoints: an LN with
    channels-first input is ``[ToChannelsLast, LN, ...]`` (weights at
    ``.1``), a BN with channels-last input is ``[ToChannelsFirst, BN, ...]``.
    """
    layers = []
    if kind == 'LN':
        if in_format == 'channels_first':
            layers.append(ToChannelsLast())
        layers.append(nn.LayerNorm(dim, eps=eps))
        if out_format == 'channels_first':
            layers.append(ToChannelsFirst())
    elif kind == 'BN':
        if in_format == 'channels_last':
            layers.append(ToChannelsFirst())
        layers.append(nn.BatchNorm2d(dim))
        if out_format == 'channels_last':
            layers.append(ToChannelsLast())
    else:
        raise ValueError(f"norm layer must be 'LN' or 'BN', got {kind!r}")
    return nn.Sequential(*layers)


def build_act(kind):
    """GELU, ReLU or SiLU by name."""
    layers = dict(GELU=nn.GELU, ReLU=nn.ReLU, SiLU=nn.SiLU)
    if kind not in layers:
        raise ValueError(
            f'activation must be one of {sorted(layers)}, got {kind!r}')
    return layers[kind]()


class DCNv3(nn.Module):
    """DCNv3 (InternImage): deformable conv with shared projection weights
    and softmax-normalised modulation per group.

    ``x_proj = input_proj(x)``; offsets and point weights come from
    ``x1 = act(norm(depthwise_conv(x)))`` through two linears (weights
    softmaxed over the kernel points of each group); the core samples
    ``x_proj``; with ``center_feature_scale`` the result is mixed with
    ``x_proj`` by a per-group sigmoid gate of ``x1``; then ``output_proj``.

    Args:
        channels (int): input and output channels.
        kernel_size (int): sampling kernel size. Default: 3.
        dw_kernel_size (int, optional): depthwise conv kernel of the offset
            branch; defaults to ``kernel_size`` (5 for InternImage-H/G).
        stride, pad, dilation (int): sampling grid (stride must be 1: the
            offsets are predicted at input resolution, as in the official
            module).
        group (int): number of groups; ``channels % group == 0``.
        offset_scale (float): scales the kernel grid and the offsets.
        act_layer (str): activation of the offset branch. Default: 'GELU'.
        norm_layer (str): norm of the offset branch, 'LN' or 'BN'.
        center_feature_scale (bool): the gated mix with ``x_proj``.
        remove_center (bool): drop the centre kernel point.
        impl (str): core backend, 'auto', 'pytorch' or 'compiled'.
    """

    def __init__(self, channels=64, kernel_size=3, dw_kernel_size=None,
                 stride=1, pad=1, dilation=1, group=4, offset_scale=1.0,
                 act_layer='GELU', norm_layer='LN',
                 center_feature_scale=False, remove_center=False,
                 impl='auto'):
        super().__init__()
        if channels % group != 0:
            raise ValueError(f'channels ({channels}) must be divisible by '
                             f'group ({group})')
        if stride != 1:
            raise ValueError('the DCNv3 module predicts offsets at input '
                             f'resolution and needs stride 1, got {stride}')
        if remove_center and kernel_size % 2 == 0:
            raise ValueError('remove_center needs an odd kernel size')
        group_channels = channels // group
        if group_channels & (group_channels - 1):
            warnings.warn(
                f'DCNv3 with {group_channels} channels per group: the CUDA '
                'kernel is most efficient with a power of 2')
        dw_kernel_size = dw_kernel_size or kernel_size
        self.channels = channels
        self.kernel_size = kernel_size
        self.dw_kernel_size = dw_kernel_size
        self.stride = stride
        self.pad = pad
        self.dilation = dilation
        self.group = group
        self.group_channels = group_channels
        self.offset_scale = offset_scale
        self.center_feature_scale = center_feature_scale
        self.remove_center = int(bool(remove_center))
        self.impl = impl
        points = kernel_size * kernel_size - self.remove_center

        self.dw_conv = nn.Sequential(
            nn.Conv2d(channels, channels, dw_kernel_size, stride=1,
                      padding=(dw_kernel_size - 1) // 2, groups=channels),
            build_norm(norm_layer, channels, 'channels_first', 'channels_last'),
            build_act(act_layer))
        self.offset = nn.Linear(channels, group * points * 2)
        self.mask = nn.Linear(channels, group * points)
        self.input_proj = nn.Linear(channels, channels)
        self.output_proj = nn.Linear(channels, channels)
        if center_feature_scale:
            self.center_feature_scale_proj_weight = nn.Parameter(
                torch.zeros(group, channels))
            self.center_feature_scale_proj_bias = nn.Parameter(
                torch.zeros(group))
        self.reset_parameters()

    def reset_parameters(self):
        """Zero offsets and uniform point weights; Xavier projections."""
        for layer in (self.offset, self.mask):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)
        for layer in (self.input_proj, self.output_proj):
            nn.init.xavier_uniform_(layer.weight)
            nn.init.zeros_(layer.bias)

    def forward(self, x):
        """``[N, H, W, C] -> [N, H, W, C]``."""
        n, h, w, _ = x.shape
        x_proj = self.input_proj(x)
        x1 = self.dw_conv(x.permute(0, 3, 1, 2))
        offset = self.offset(x1)
        mask = F.softmax(self.mask(x1).view(n, h, w, self.group, -1), -1)
        out = dcnv3_core(
            x_proj, offset, mask.reshape(n, h, w, -1).to(x_proj.dtype),
            self.kernel_size, self.kernel_size, self.stride, self.stride,
            self.pad, self.pad, self.dilation, self.dilation, self.group,
            self.group_channels, self.offset_scale, self.remove_center,
            impl=self.impl)
        if self.center_feature_scale:
            gate = torch.sigmoid(F.linear(
                x1, self.center_feature_scale_proj_weight,
                self.center_feature_scale_proj_bias))
            gate = gate.repeat_interleave(self.group_channels, dim=-1)
            out = out * (1 - gate) + x_proj * gate
        return self.output_proj(out)
