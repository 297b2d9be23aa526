"""Castling-ViT backbone: a DeiT-style ViT with linear-angular attention."""
import numpy as np
import torch
import torch.nn as nn
from mmcv.cnn.bricks.drop import build_dropout
from mmcv.cnn.bricks.transformer import FFN
from mmengine.model import BaseModule, ModuleList
from mmengine.model.weight_init import trunc_normal_
from mmengine.registry import MODELS
from mmpretrain.models.backbones import VisionTransformer
from mmpretrain.models.utils import build_norm_layer

from projects.plain_vit import PlainViTMixin

from .attention import LinAngularAttention


class CastlingEncoderLayer(BaseModule):
    """Pre-LN transformer layer whose attention is ``LinAngularAttention``.

    ``x + DropPath(Attn(LN1(x)))`` then ``x + DropPath(FFN(LN2(x)))``; the
    names (``ln1``, ``attn.qkv``, ``attn.proj``, ``ffn.layers``) follow
    mmpretrain's ``TransformerEncoderLayer``.
    """

    def __init__(self,
                 embed_dims,
                 num_heads,
                 feedforward_channels,
                 drop_rate=0.,
                 attn_drop_rate=0.,
                 drop_path_rate=0.,
                 qkv_bias=True,
                 res_kernel_size=9,
                 aux_attn=True,
                 aux_threshold=0.02,
                 aux_mask_init=1.0,
                 act_cfg=dict(type='GELU'),
                 norm_cfg=dict(type='LN', eps=1e-6),
                 init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        self.ln1 = build_norm_layer(norm_cfg, embed_dims)
        self.attn = LinAngularAttention(
            embed_dims,
            num_heads,
            qkv_bias=qkv_bias,
            attn_drop=attn_drop_rate,
            proj_drop=drop_rate,
            res_kernel_size=res_kernel_size,
            aux_attn=aux_attn,
            aux_threshold=aux_threshold,
            aux_mask_init=aux_mask_init)
        self.drop_path = build_dropout(
            dict(type='DropPath', drop_prob=drop_path_rate))
        self.ln2 = build_norm_layer(norm_cfg, embed_dims)
        self.ffn = FFN(
            embed_dims=embed_dims,
            feedforward_channels=feedforward_channels,
            num_fcs=2,
            ffn_drop=drop_rate,
            dropout_layer=dict(type='DropPath', drop_prob=drop_path_rate),
            act_cfg=act_cfg)

    def forward(self, x):
        x = x + self.drop_path(self.attn(self.ln1(x)))
        return self.ffn(self.ln2(x), identity=x)


@MODELS.register_module()
class CastlingViT(PlainViTMixin, VisionTransformer):
    """Castling-ViT (You et al., CVPR 2023) as a plain DeiT-style ViT.

    Every attention is ``LinAngularAttention``. In training the auxiliary
    masked softmax branch runs too; its per-head masks are driven to zero
    by the L1 term ``mask_l1_loss()`` (added to the training losses by
    ``CastlingMaskL1Hook``). ``eval()`` runs the linear branch only;
    ``switch_to_linear()`` removes the auxiliary branch for good.

    Inherits mmpretrain's ``VisionTransformer`` interface: ``out_type``
    ``'cls_token'`` (classification, with ``LinearClsHead``),
    ``'avg_featmap'``, ``'featmap'`` (the stride-``patch_size`` map
    [B, C, H/p, W/p] for SimpleFPN) or ``'raw'``; ``out_indices``;
    position embeddings interpolated for other input sizes. Inputs must be
    multiples of ``patch_size``.

    Args:
        arch (str | dict): One of ``arch_zoo`` (``'tiny'``, ``'small'``,
            ``'base'``: DeiT sizes; the official hosts, MViT/LeViT, are not
            released) or a dict with ``embed_dims``, ``num_layers``,
            ``num_heads`` and ``feedforward_channels``.
        res_kernel_size (int): Depthwise-conv length over the tokens.
        aux_attn (bool): Build the auxiliary softmax branch.
        aux_threshold (float): Probability threshold of that branch.
        aux_mask_init (float): Initial per-head mask of that branch.
        **kwargs: ``VisionTransformer`` arguments (``img_size``,
            ``patch_size``, ``out_indices``, ``drop_path_rate``,
            ``out_type``, ``with_cls_token``, ``final_norm``,
            ``frozen_stages``, ``interpolate_mode``, ``init_cfg``, ...).
    """
    arch_zoo = {
        **dict.fromkeys(['t', 'tiny'], dict(
            embed_dims=192, num_layers=12, num_heads=3,
            feedforward_channels=768)),
        **dict.fromkeys(['s', 'small'], dict(
            embed_dims=384, num_layers=12, num_heads=6,
            feedforward_channels=1536)),
        **dict.fromkeys(['b', 'base'], dict(
            embed_dims=768, num_layers=12, num_heads=12,
            feedforward_channels=3072)),
    }
    _ESSENTIAL = ('embed_dims', 'num_layers', 'num_heads',
                  'feedforward_channels')

    def __init__(self,
                 arch='small',
                 patch_size=16,
                 out_indices=-1,
                 drop_rate=0.,
                 attn_drop_rate=0.,
                 drop_path_rate=0.,
                 qkv_bias=True,
                 norm_cfg=dict(type='LN', eps=1e-6),
                 frozen_stages=-1,
                 res_kernel_size=9,
                 aux_attn=True,
                 aux_threshold=0.02,
                 aux_mask_init=1.0,
                 **kwargs):
        settings = self._arch_settings(arch)
        # Build the stem, tokens and norms of VisionTransformer without its
        # softmax layers, then our layers.
        super().__init__(
            arch=dict(settings, num_layers=0),
            patch_size=patch_size,
            out_indices=[],
            drop_rate=drop_rate,
            qkv_bias=qkv_bias,
            norm_cfg=norm_cfg,
            frozen_stages=-1,
            **kwargs)
        self.arch_settings = settings
        self.patch_size = patch_size
        self.num_layers = settings['num_layers']
        self.out_indices = self._normalize_out_indices(out_indices)
        dpr = np.linspace(0, drop_path_rate, self.num_layers)
        self.layers = ModuleList([
            CastlingEncoderLayer(
                self.embed_dims,
                settings['num_heads'],
                settings['feedforward_channels'],
                drop_rate=drop_rate,
                attn_drop_rate=attn_drop_rate,
                drop_path_rate=float(dpr[i]),
                qkv_bias=qkv_bias,
                res_kernel_size=res_kernel_size,
                aux_attn=aux_attn,
                aux_threshold=aux_threshold,
                aux_mask_init=aux_mask_init,
                norm_cfg=norm_cfg) for i in range(self.num_layers)
        ])
        self.frozen_stages = frozen_stages
        if frozen_stages > 0:
            self._freeze_stages()

    def init_weights(self):
        pretrained = isinstance(self.init_cfg, dict) and \
            self.init_cfg.get('type') == 'Pretrained'
        super().init_weights()
        if pretrained:
            return
        if self.cls_token is not None:
            trunc_normal_(self.cls_token, std=0.02)
        for m in self.layers.modules():
            if isinstance(m, nn.Linear):
                trunc_normal_(m.weight, std=0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    # Auxiliary branch control ---------------------------------------------
    def attentions(self):
        """The ``LinAngularAttention`` modules, first layer first."""
        return [m for m in self.modules() if isinstance(m, LinAngularAttention)]

    def mask_l1_loss(self):
        """Sum over layers and heads of |mask| of the auxiliary branches.

        Add ``weight * mask_l1_loss()`` to the training loss (done by
        ``CastlingMaskL1Hook``) to drive the masks to zero.
        """
        terms = [attn.mask_l1() for attn in self.attentions()]
        return torch.stack(terms).sum()

    def switch_to_linear(self):
        """Remove every auxiliary softmax branch (inference form)."""
        for attn in self.attentions():
            attn.switch_to_linear()
        return self

    @property
    def is_linear(self):
        """True when no auxiliary branch is left."""
        return not any(a.has_aux_branch for a in self.attentions())
