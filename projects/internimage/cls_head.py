"""The official InternImage classification head for mmpretrain."""
import torch.nn as nn
from mmpretrain.models.heads import ClsHead
from mmpretrain.registry import MODELS

from .dcnv3 import build_act, build_norm


@MODELS.register_module()
class InternImageClsHead(ClsHead):
    """1x1 conv to ``cls_scale * C`` channels -> BN -> act -> global average
    pool -> linear (InternImage-T/S/B/L/XL).

    Parameter names: ``conv_head.0`` (conv), ``conv_head.1.0`` (BN) as in
    the official checkpoints, and ``fc`` for the official ``head``.

    Args:
        num_classes (int): number of classes.
        in_channels (int): channels of the last backbone level (8C).
        cls_scale (float): width multiplier of the conv head. Default: 1.5.
        act_layer (str): activation. Default: 'GELU'.
        init_cfg (dict): defaults to trunc-normal(0.02) linears (official).
    """

    def __init__(self, num_classes, in_channels, cls_scale=1.5,
                 act_layer='GELU',
                 init_cfg=dict(type='TruncNormal', layer='Linear', std=0.02,
                               bias=0.0),
                 **kwargs):
        super().__init__(init_cfg=init_cfg, **kwargs)
        if num_classes <= 0:
            raise ValueError(f'num_classes must be positive, got {num_classes}')
        self.num_classes = num_classes
        self.in_channels = in_channels
        width = int(in_channels * cls_scale)
        self.conv_head = nn.Sequential(
            nn.Conv2d(in_channels, width, 1, bias=False),
            build_norm('BN', width, 'channels_first', 'channels_first'),
            build_act(act_layer))
        self.fc = nn.Linear(width, num_classes)

    def pre_logits(self, feats):
        """Pooled conv-head features of the last map of ``feats``."""
        return self.conv_head(feats[-1]).mean((2, 3))

    def forward(self, feats):
        return self.fc(self.pre_logits(feats))
