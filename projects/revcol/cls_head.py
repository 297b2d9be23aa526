"""RevCol classification head and the intermediate supervision (mmpretrain).

Without intermediate supervision (fine-tuning, every det/seg backbone) the
head is the official classifier: global average pooling, LayerNorm, Linear.

With ``inter_supv=True`` the backbone (``RevCol(inter_supv=True,
out_indices=(3, ))``) returns ``c3`` of ``n`` supervised columns (every
``num_subnet // 4``-th; the last one is the final feature). The head then has
``n`` classifiers and ``n - 1`` image decoders and computes the paper's
compound loss (official ``loss.py``):

    L = sum_{i < n-1} [ BCEWithLogits(dec_i(c3_i), img01) * (1 - i/(n-1)) * fcoe
                        + CE(cls_i(c3_i)) * (i+1)/n * ccoe ]
        + CE(cls_{n-1}(c3_{n-1}))

``img01`` is the de-normalised input image clamped to [0.01, 0.99]. The head
needs the input images, which an mmpretrain head does not see, so
:class:`RevColClassifier` (an ``ImageClassifier``) passes them. Parameter
names equal the official ones (``cls``, ``cls_blocks``, ``decoder_blocks``).
"""
from typing import List, Optional, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmpretrain.models.classifiers import ImageClassifier
from mmpretrain.models.heads import ClsHead
from mmpretrain.registry import MODELS

from .revcol import ConvNextBlock, LayerNorm2d


class Classifier(nn.Module):
    """Global average pooling, LayerNorm (eps 1e-6), Linear."""

    def __init__(self, in_channels, num_classes):
        super().__init__()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.LayerNorm(in_channels, eps=1e-6),
                                        nn.Linear(in_channels, num_classes))

    def forward(self, x):
        return self.classifier(self.avgpool(x).flatten(1))


class Decoder(nn.Module):
    """Image decoder of the intermediate supervision (<= 1000 classes):
    three x2 stages (1x1 conv + LN + GELU, bilinear x2, one ConvNeXt block
    without expansion) from ``c3`` to stride 4, then 1x1 conv and
    PixelShuffle(4) to an RGB logit image."""

    def __init__(self, channels, kernel_size=3):
        super().__init__()
        dims = list(reversed(channels))
        self.proj_layers = nn.ModuleList()
        self.normal_layers = nn.ModuleList()
        for i in range(1, len(dims)):
            self.proj_layers.append(nn.Sequential(
                nn.Conv2d(dims[i - 1], dims[i], 1), LayerNorm2d(dims[i],
                                                                eps=1e-6),
                nn.GELU()))
            self.normal_layers.append(nn.Sequential(
                ConvNextBlock(dims[i], kernel_size, expansion=1)))
        self.projback = nn.Sequential(nn.Conv2d(dims[-1], 4**2 * 3, 1),
                                      nn.PixelShuffle(4))

    def forward(self, x):
        for proj, blocks in zip(self.proj_layers, self.normal_layers):
            x = F.interpolate(proj(x), scale_factor=2, mode='bilinear',
                              align_corners=True)
            x = blocks(x)
        return self.projback(x)


class SimDecoder(nn.Module):
    """Image decoder used with > 1000 classes (ImageNet-22k): LN, 1x1 conv,
    PixelShuffle(32)."""

    def __init__(self, in_channels, stride=32):
        super().__init__()
        self.projback = nn.Sequential(
            LayerNorm2d(in_channels, eps=1e-6),
            nn.Conv2d(in_channels, stride**2 * 3, 1), nn.PixelShuffle(stride))

    def forward(self, x):
        return self.projback(x)


@MODELS.register_module()
class RevColClsHead(ClsHead):
    """RevCol classifier head, optionally with intermediate supervision.

    Args:
        num_classes (int): Number of classes.
        in_channels (int): Channels of ``c3`` (the arch's last channel).
        inter_supv (bool): Compound loss over the supervised columns.
        num_supervised (int): Supervised columns ``n`` (the backbone's
            intermediate outputs + the final one). Defaults to 4.
        channels (Sequence[int]): The backbone's four channels (decoder
            widths); required for ``decoder='convnext'``.
        decoder (str): ``'convnext'`` (official for <= 1000 classes),
            ``'simple'`` (official for 22k) or ``'auto'`` (by num_classes).
        fcoe (float): Reconstruction coefficient. Defaults to 3.0.
        ccoe (float): Intermediate classification coefficient. Defaults to
            0.7.
        head_init_scale (float, optional): Scale of the final Linear weight
            and bias after init (official fine-tuning uses 0.001).
        loss (dict): Classification loss. Defaults to cross entropy.
    """

    def __init__(self,
                 num_classes: int,
                 in_channels: int,
                 inter_supv: bool = False,
                 num_supervised: int = 4,
                 channels: Optional[Sequence[int]] = None,
                 decoder: str = 'auto',
                 kernel_size: int = 3,
                 fcoe: float = 3.0,
                 ccoe: float = 0.7,
                 head_init_scale: Optional[float] = None,
                 loss: dict = dict(type='CrossEntropyLoss', loss_weight=1.0),
                 init_cfg=dict(type='TruncNormal', layer=['Conv2d', 'Linear'],
                               std=.02, bias=0.),
                 **kwargs):
        super().__init__(loss=loss, init_cfg=init_cfg, **kwargs)
        self.num_classes = num_classes
        self.inter_supv = inter_supv
        self.fcoe = fcoe
        self.ccoe = ccoe
        self.head_init_scale = head_init_scale
        if not inter_supv:
            self.cls = Classifier(in_channels, num_classes)
            return
        if num_supervised < 2:
            raise ValueError('RevColClsHead: inter_supv needs '
                             f'num_supervised >= 2, got {num_supervised}')
        self.num_supervised = num_supervised
        self.cls_blocks = nn.ModuleList([
            Classifier(in_channels, num_classes)
            for _ in range(num_supervised)
        ])
        if decoder == 'auto':
            decoder = 'convnext' if num_classes <= 1000 else 'simple'
        if decoder == 'convnext':
            if channels is None or len(channels) != 4 or \
                    channels[-1] != in_channels:
                raise ValueError(
                    'RevColClsHead: decoder="convnext" needs channels= the '
                    f'backbone\'s 4 channels ending with in_channels='
                    f'{in_channels}, got {channels}')
            make = lambda: Decoder(list(channels), kernel_size)  # noqa: E731
        elif decoder == 'simple':
            make = lambda: SimDecoder(in_channels)  # noqa: E731
        else:
            raise ValueError(f'RevColClsHead: decoder must be "convnext", '
                             f'"simple" or "auto", got {decoder!r}')
        self.decoder_blocks = nn.ModuleList(
            [make() for _ in range(num_supervised - 1)])

    def init_weights(self):
        super().init_weights()
        if self.head_init_scale is not None:
            last = (self.cls_blocks[-1] if self.inter_supv else self.cls)
            with torch.no_grad():
                last.classifier[1].weight.mul_(self.head_init_scale)
                last.classifier[1].bias.mul_(self.head_init_scale)

    def _supervised(self, feats) -> List[torch.Tensor]:
        if not self.inter_supv:
            return [feats[-1]]
        n = self.num_supervised
        if len(feats) < n:
            raise ValueError(
                f'RevColClsHead(inter_supv=True, num_supervised={n}) got '
                f'{len(feats)} feature maps; build the backbone with '
                'RevCol(inter_supv=True, out_indices=(3, )) (it returns '
                'c3 of every num_subnet // 4-th column)')
        return list(feats[-n:])

    def forward(self, feats):
        """Final logits (used by ``predict``)."""
        last = self.cls_blocks[-1] if self.inter_supv else self.cls
        return last(feats[-1])

    def loss(self, feats, data_samples, images: Optional[torch.Tensor] = None,
             **kwargs) -> dict:
        """Loss dict; with ``inter_supv`` it needs ``images`` in [0, 1]
        (passed by :class:`RevColClassifier`)."""
        if not self.inter_supv:
            return super().loss(feats, data_samples, **kwargs)
        if images is None:
            raise ValueError(
                'RevColClsHead(inter_supv=True) needs the input images for '
                "its reconstruction loss: use model type='RevColClassifier' "
                "instead of 'ImageClassifier'")
        points = self._supervised(feats)
        n = len(points)
        target = images.clamp(0.01, 0.99)
        losses = dict()
        loss_rec, loss_inter = 0., 0.
        for i in range(n - 1):
            recon = self.decoder_blocks[i](points[i])
            if recon.shape[-2:] != target.shape[-2:]:
                recon = F.interpolate(recon, size=target.shape[-2:],
                                      mode='bilinear', align_corners=False)
            loss_rec = loss_rec + F.binary_cross_entropy_with_logits(
                recon, target) * (1 - i / (n - 1)) * self.fcoe
            ce = self._get_loss(self.cls_blocks[i](points[i]),
                                data_samples, **kwargs)['loss']
            loss_inter = loss_inter + ce * (i + 1) / n * self.ccoe
        final = self._get_loss(self.cls_blocks[-1](points[-1]), data_samples,
                               **kwargs)
        losses['loss'] = final.pop('loss')
        losses['loss_inter_cls'] = loss_inter
        losses['loss_recon'] = loss_rec
        losses.update(final)
        return losses


@MODELS.register_module()
class RevColClassifier(ImageClassifier):
    """``ImageClassifier`` that hands the de-normalised input images to a
    :class:`RevColClsHead` with intermediate supervision (the
    reconstruction target of the compound loss). Identical to
    ``ImageClassifier`` otherwise."""

    def images01(self, inputs):
        """Undo the data preprocessor's normalisation: images in [0, 1]."""
        dp = self.data_preprocessor
        if getattr(dp, '_enable_normalize', False):
            inputs = inputs * dp.std + dp.mean
        return inputs / 255.

    def loss(self, inputs, data_samples):
        feats = self.extract_feat(inputs)
        if getattr(self.head, 'inter_supv', False):
            return self.head.loss(feats, data_samples,
                                  images=self.images01(inputs))
        return self.head.loss(feats, data_samples)
