"""Conformer with dense CNN-branch outputs (mmpretrain's Conformer)."""
import torch
from mmengine.registry import MODELS
from mmpretrain.models.backbones import Conformer
from torch.nn.modules.batchnorm import _BatchNorm


@MODELS.register_module()
class ConformerDense(Conformer):
    """Conformer (Peng et al., ICCV 2021) for detection and segmentation.

    mmpretrain's ``Conformer`` returns pooled vectors only. This subclass
    returns the CNN-branch feature maps after the blocks in ``out_indices``
    (default 4, 8, 11, 12: strides 4, 8, 16, 32 with channels
    C1, 2 C1, 4 C1, 4 C1, ``C1 = 64 * channel_ratio``), as the official
    mmdetection backbone does. Block 12 ends with the stride-2 fusion block
    ("last_fusion"), hence stride 32. ``out_type='pooled'`` keeps
    mmpretrain's classification outputs (for ``ConformerHead``).

    Args:
        arch (str | dict): ``'tiny'|'small'|'base'`` (or t/s/b) or a dict
            with ``embed_dims``, ``channel_ratio``, ``num_heads``,
            ``depths``.
        out_indices (Sequence[int]): Blocks (1..depths) whose CNN maps are
            returned.
        out_type (str): ``'featmap'`` (dense) or ``'pooled'``.
        norm_eval (bool): Keep BatchNorm layers in eval mode while
            training (official detection setting). Defaults to False.
        frozen_stages (int): 0: nothing frozen; 1: the stem (``conv1``,
            ``bn1``) frozen, as the official detection backbone with its
            configs' ``frozen_stages=1`` (its per-block freezing is
            commented out); 2: the stem and block 1 (``conv_1``,
            ``trans_patch_conv``, ``trans_1``, ``cls_token``).
        **kwargs: Further ``mmpretrain.models.Conformer`` arguments.
    """

    OUT_TYPES = ('featmap', 'pooled')

    def __init__(self, arch='tiny', out_indices=(4, 8, 11, 12),
                 out_type='featmap', norm_eval=False, frozen_stages=0,
                 **kwargs):
        if isinstance(arch, str) and arch.lower() not in self.arch_zoo:
            raise ValueError(f'ConformerDense: unknown arch {arch!r}; valid '
                             f'archs: {", ".join(self.arch_zoo)} (or a dict '
                             f'with embed_dims, channel_ratio, num_heads, '
                             f'depths)')
        if out_type not in self.OUT_TYPES:
            raise ValueError(f'ConformerDense: out_type must be one of '
                             f'{self.OUT_TYPES}, got {out_type!r}')
        out_indices = [int(i) for i in out_indices]
        super().__init__(arch=arch, out_indices=list(out_indices),
                         norm_eval=norm_eval, frozen_stages=frozen_stages,
                         **kwargs)
        bad = [i for i in out_indices if not 1 <= i <= self.depths]
        if out_type == 'featmap' and (bad or not out_indices):
            raise ValueError(f'ConformerDense: out_indices must be blocks in '
                             f'1..{self.depths}, got {out_indices}')
        if frozen_stages not in (0, 1, 2):
            raise ValueError('ConformerDense: frozen_stages must be 0 (none), '
                             '1 (stem) or 2 (stem and block 1), got '
                             f'{frozen_stages!r}')
        self.out_type = out_type
        self.out_indices = out_indices
        c1 = int(64 * self.channel_ratio)
        self.channels = [self._block_channels(i, c1) for i in out_indices]
        self.strides = [self._block_stride(i) for i in out_indices]
        self._freeze_stages()

    def _block_channels(self, i, c1):
        third = self.depths // 3
        return c1 * (1 if i <= third else 2 if i <= 2 * third else 4)

    def _block_stride(self, i):
        third = self.depths // 3
        if i == self.depths:
            return 32
        return 4 if i <= third else 8 if i <= 2 * third else 16

    def _freeze_stages(self):
        frozen = []
        if self.frozen_stages >= 1:
            frozen += [self.conv1, self.bn1]
        if self.frozen_stages >= 2:
            frozen += [self.conv_1, self.trans_patch_conv, self.trans_1]
            if self.with_cls_token:
                self.cls_token.requires_grad = False
        for m in frozen:
            m.eval()
            for p in m.parameters():
                p.requires_grad = False

    def train(self, mode=True):
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for m in self.modules():
                if isinstance(m, _BatchNorm):
                    m.eval()
        return self

    def forward(self, x):
        if self.out_type == 'pooled':
            return super().forward(x)
        B = x.shape[0]
        x_base = self.maxpool(self.act1(self.bn1(self.conv1(x))))
        x_base = self.auto_pad(x_base)
        x = self.conv_1(x_base, out_conv2=False)
        x_t = self.trans_patch_conv(x_base).flatten(2).transpose(1, 2)
        if self.with_cls_token:
            x_t = torch.cat([self.cls_token.expand(B, -1, -1), x_t], dim=1)
        x_t = self.trans_1(x_t)
        outs = {1: x} if 1 in self.out_indices else {}
        last = max(self.out_indices)
        for i in range(2, last + 1):
            x, x_t = getattr(self, f'conv_trans_{i}')(x, x_t)
            if i in self.out_indices:
                outs[i] = x
        return tuple(outs[i] for i in self.out_indices)
