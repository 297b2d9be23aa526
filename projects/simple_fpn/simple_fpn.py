"""SimpleFPN: the ViTDet neck (Li et al., ECCV 2022).

Builds a stride-4/8/16/32(/64) pyramid from the single stride-16 map of a
plain backbone (ViT, RevViT, ...), usable by mmdet (``num_outs=5``) and
mmseg (``num_outs=4``) heads.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import ConvModule, build_norm_layer
from mmengine.model import BaseModule
from mmengine.registry import MODELS

from .layer_norm import LayerNorm2d


def _resolve_norm(norm_cfg):
    """Pin ``LN2d`` to our class so the result does not depend on scope."""
    if norm_cfg is None:
        return None
    norm_cfg = dict(norm_cfg)
    if norm_cfg.get('type') == 'LN2d':
        norm_cfg['type'] = LayerNorm2d
        norm_cfg.setdefault('eps', 1e-6)
    return norm_cfg


@MODELS.register_module()
class SimpleFPN(BaseModule):
    """Simple feature pyramid of ViTDet.

    From the stride-16 map ``x`` with ``C = backbone_channel`` channels:

    - stride 4: deconv 2x2/2 (C -> C/2), norm, GELU, deconv 2x2/2 (-> C/4);
    - stride 8: deconv 2x2/2 (C -> C/2);
    - stride 16: ``x``;
    - stride 32: max-pool 2x2/2.

    Each level then goes through a 1x1 lateral conv and a 3x3 conv (both
    followed by ``norm_cfg``, no activation by default) to
    ``out_channels``. Levels beyond the fourth (``num_outs`` > 4) are
    subsampled from the last one with a stride-2 max-pool (kernel 1, as
    mmdet's FPN does for RetinaNet's P6).

    Args:
        backbone_channel (int): Channels C of the stride-16 input map.
        in_channels (list[int]): Channels of the four pyramid levels before
            the lateral convs; must be ``[C // 4, C // 2, C, C]``.
        out_channels (int): Channels of every output level.
        num_outs (int): Number of outputs (>= 4): 4 for mmseg UPerNet,
            5 for mmdet RetinaNet / Mask R-CNN.
        conv_cfg (dict, optional): Conv layer config of the lateral and
            output convs.
        norm_cfg (dict, optional): Norm layer config; ``LN2d`` (channel-first
            LayerNorm) by default. ``None`` disables every norm.
        act_cfg (dict, optional): Activation after the lateral and output
            convs. None by default (ViTDet).
        init_cfg (dict | list[dict], optional): Initialization config.
    """

    def __init__(self,
                 backbone_channel,
                 in_channels,
                 out_channels,
                 num_outs,
                 conv_cfg=None,
                 norm_cfg=dict(type='LN2d', requires_grad=True),
                 act_cfg=None,
                 init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        if not isinstance(backbone_channel, int) or backbone_channel < 4 \
                or backbone_channel % 4:
            raise ValueError('SimpleFPN: backbone_channel must be a positive '
                             f'multiple of 4, got {backbone_channel!r}')
        c = backbone_channel
        expected = [c // 4, c // 2, c, c]
        if list(in_channels) != expected:
            raise ValueError(
                f'SimpleFPN: in_channels must be {expected} for '
                f'backbone_channel={c} (the channels of the stride 4/8/16/32 '
                f'levels), got {list(in_channels)}')
        if not isinstance(num_outs, int) or num_outs < 4:
            raise ValueError(f'SimpleFPN: num_outs must be an int >= 4, got '
                             f'{num_outs!r}')
        self.backbone_channel = c
        self.in_channels = list(in_channels)
        self.out_channels = out_channels
        self.num_ins = len(in_channels)
        self.num_outs = num_outs
        norm_cfg = _resolve_norm(norm_cfg)

        mid_norm = (build_norm_layer(norm_cfg, c // 2)[1]
                    if norm_cfg is not None else nn.Identity())
        self.fpn1 = nn.Sequential(
            nn.ConvTranspose2d(c, c // 2, 2, 2), mid_norm, nn.GELU(),
            nn.ConvTranspose2d(c // 2, c // 4, 2, 2))
        self.fpn2 = nn.Sequential(nn.ConvTranspose2d(c, c // 2, 2, 2))
        self.fpn3 = nn.Sequential(nn.Identity())
        self.fpn4 = nn.Sequential(nn.MaxPool2d(kernel_size=2, stride=2))

        self.lateral_convs = nn.ModuleList()
        self.fpn_convs = nn.ModuleList()
        for ch in self.in_channels:
            self.lateral_convs.append(ConvModule(
                ch, out_channels, 1, conv_cfg=conv_cfg, norm_cfg=norm_cfg,
                act_cfg=act_cfg, inplace=False))
            self.fpn_convs.append(ConvModule(
                out_channels, out_channels, 3, padding=1, conv_cfg=conv_cfg,
                norm_cfg=norm_cfg, act_cfg=act_cfg, inplace=False))

    def forward(self, inputs):
        """Build the pyramid.

        Args:
            inputs (tuple[Tensor] | list[Tensor] | Tensor): The first element
                is the stride-16 map [N, backbone_channel, H, W]; any further
                elements are ignored.

        Returns:
            tuple[Tensor]: ``num_outs`` maps at strides 4, 8, 16, 32, 64, ...
            relative to the input image, each with ``out_channels``.
        """
        x = inputs if isinstance(inputs, torch.Tensor) else inputs[0]
        if x.dim() != 4 or x.shape[1] != self.backbone_channel:
            raise ValueError(
                f'SimpleFPN expects the stride-16 map [N, '
                f'{self.backbone_channel}, H, W] as inputs[0], got shape '
                f'{tuple(x.shape)}')
        feats = [self.fpn1(x), self.fpn2(x), self.fpn3(x), self.fpn4(x)]
        outs = [fpn_conv(lateral(f)) for f, lateral, fpn_conv in zip(
            feats, self.lateral_convs, self.fpn_convs)]
        while len(outs) < self.num_outs:
            outs.append(F.max_pool2d(outs[-1], 1, stride=2))
        return tuple(outs)
