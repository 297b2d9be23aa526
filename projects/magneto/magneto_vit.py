"""Magneto ViT: a plain ViT with Sub-LayerNorm and the Magneto init."""
import numpy as np
import torch.nn as nn
from mmengine.model import ModuleList
from mmengine.model.weight_init import trunc_normal_
from mmengine.registry import MODELS
from mmpretrain.models.backbones import VisionTransformer

from projects.plain_vit import PlainViTMixin

from .sub_ln import GAMMA_SCALED, MagnetoEncoderLayer, magneto_gamma


@MODELS.register_module()
class MagnetoViT(PlainViTMixin, VisionTransformer):
    """ViT backbone with Magneto's Sub-LN layers and DeepNet-derived init.

    Each layer is ``MagnetoEncoderLayer`` (an extra LN before the attention
    output projection and before the FFN's second linear); a final LN
    (``ln1``) normalises the output as torchscale's ``normalize_output``.
    Linear weights start trunc-normal (std 0.02, zero bias, the ViT/BEiT
    convention); then ``fc1``, ``fc2``, ``out_proj`` and ``v_proj`` are
    multiplied by ``gamma`` (``magneto_gamma(num_layers)`` by default).

    Inherits mmpretrain's ``VisionTransformer`` interface: ``out_type``
    ``'cls_token'`` (classification, with ``LinearClsHead``),
    ``'avg_featmap'``, ``'featmap'`` (stride-``patch_size`` map for
    SimpleFPN) or ``'raw'``; ``out_indices``; position embeddings
    interpolated for other input sizes. Inputs must be multiples of
    ``patch_size``.

    Args:
        arch (str | dict): ``'base'`` or ``'large'`` (the ViT-B/L of the
            paper's vision experiments) or a dict with ``embed_dims``,
            ``num_layers``, ``num_heads`` and ``feedforward_channels``.
        init_gamma (str | float | None): ``'subln'`` (the closed form for
            an encoder of this depth), a number, or None (no scaling).
        subln (bool): False builds the Pre-LN baseline (no inner norms).
        layer_norm_eps (float): Epsilon of every LayerNorm (torchscale:
            1e-5).
        **kwargs: ``VisionTransformer`` arguments (``img_size``,
            ``patch_size``, ``out_indices``, ``out_type``, ...).
    """
    arch_zoo = {
        **dict.fromkeys(['b', 'base'], dict(
            embed_dims=768, num_layers=12, num_heads=12,
            feedforward_channels=3072)),
        **dict.fromkeys(['l', 'large'], dict(
            embed_dims=1024, num_layers=24, num_heads=16,
            feedforward_channels=4096)),
    }
    _ESSENTIAL = ('embed_dims', 'num_layers', 'num_heads',
                  'feedforward_channels')

    def __init__(self,
                 arch='base',
                 patch_size=16,
                 out_indices=-1,
                 drop_rate=0.,
                 attn_drop_rate=0.,
                 drop_path_rate=0.,
                 qkv_bias=True,
                 frozen_stages=-1,
                 init_gamma='subln',
                 subln=True,
                 layer_norm_eps=1e-5,
                 **kwargs):
        settings = self._arch_settings(arch)
        # VisionTransformer builds the stem, tokens and final norms; our
        # layers replace its (here empty) softmax layers.
        super().__init__(
            arch=dict(settings, num_layers=0),
            patch_size=patch_size,
            out_indices=[],
            drop_rate=drop_rate,
            qkv_bias=qkv_bias,
            norm_cfg=dict(type='LN', eps=layer_norm_eps),
            frozen_stages=-1,
            **kwargs)
        self.arch_settings = settings
        self.patch_size = patch_size
        self.num_layers = settings['num_layers']
        self.out_indices = self._normalize_out_indices(out_indices)
        self.subln = subln
        if init_gamma == 'subln':
            self.gamma = magneto_gamma(self.num_layers)
        elif init_gamma is None:
            self.gamma = 1.0
        elif isinstance(init_gamma, (int, float)) and init_gamma > 0:
            self.gamma = float(init_gamma)
        else:
            raise ValueError("MagnetoViT: init_gamma must be 'subln', a "
                             f'positive number or None, got {init_gamma!r}')
        dpr = np.linspace(0, drop_path_rate, self.num_layers)
        self.layers = ModuleList([
            MagnetoEncoderLayer(
                self.embed_dims,
                settings['num_heads'],
                settings['feedforward_channels'],
                drop_rate=drop_rate,
                attn_drop_rate=attn_drop_rate,
                drop_path_rate=float(dpr[i]),
                qkv_bias=qkv_bias,
                eps=layer_norm_eps,
                subln=subln) for i in range(self.num_layers)
        ])
        self.reset_magneto_parameters()
        self.frozen_stages = frozen_stages
        if frozen_stages > 0:
            self._freeze_stages()

    def gamma_scaled_parameters(self):
        """Names and tensors of the parameters multiplied by gamma."""
        return [(name, p) for name, p in self.layers.named_parameters()
                if name.split('.')[-2] in GAMMA_SCALED]

    def reset_magneto_parameters(self):
        """Trunc-normal(0.02) linears, unit LNs, then the gamma scaling."""
        for m in self.layers.modules():
            if isinstance(m, nn.Linear):
                trunc_normal_(m.weight, std=0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.LayerNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        for _, p in self.gamma_scaled_parameters():
            p.data.mul_(self.gamma)

    def init_weights(self):
        pretrained = isinstance(self.init_cfg, dict) and \
            self.init_cfg.get('type') == 'Pretrained'
        super().init_weights()
        if not pretrained:
            if self.cls_token is not None:
                trunc_normal_(self.cls_token, std=0.02)
            self.reset_magneto_parameters()
