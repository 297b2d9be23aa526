"""SIM's projector (neck, shared with the momentum branch) and predictor
(head, online only), built from mmpretrain's ``TransformerEncoderLayer``."""
from typing import Dict, Optional

import torch
import torch.nn as nn
from mmengine.model import BaseModule, ModuleList
from mmpretrain.models.backbones.vision_transformer import \
    TransformerEncoderLayer
from mmpretrain.registry import MODELS

from .geometry import absolute_pos_embed, relative_query_embed


@MODELS.register_module()
class TokenBatchNorm(nn.Module):
    """BatchNorm over the channels of ``(N, L, C)`` tokens (statistics over
    all ``N * L`` tokens), in fp32 also under AMP: the official
    ``PermuteBN``. Usable as ``norm_cfg=dict(type='TokenBatchNorm')``;
    mmengine's ``sync_bn`` converts the inner ``bn`` to SyncBN.
    """

    def __init__(self, num_features: int, eps: float = 1e-5,
                 momentum: float = 0.1, **kwargs) -> None:
        super().__init__()
        self.bn = nn.BatchNorm1d(num_features, eps=eps, momentum=momentum,
                                 **kwargs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dtype in (torch.float16, torch.bfloat16):
            x = x.float()
        with torch.autocast(device_type=x.device.type, enabled=False):
            return self.bn(x.transpose(1, 2)).transpose(1, 2)


def _layers(embed_dims, num_layers, num_heads, feedforward_channels,
            norm_cfg, layer_cfg):
    return ModuleList([
        TransformerEncoderLayer(
            embed_dims=embed_dims,
            num_heads=num_heads,
            feedforward_channels=feedforward_channels or 4 * embed_dims,
            qkv_bias=True,
            norm_cfg=norm_cfg,
            **(layer_cfg or {})) for _ in range(num_layers)
    ])


@MODELS.register_module()
class SIMProjector(BaseModule):
    """``decoder_embed`` (Linear) + ``num_layers`` transformer layers.

    Applied to all tokens (cls included) of the online encoder on view 1's
    visible patches and, as part of the momentum target, to the full
    view 2. Official: 2 layers of width 768 (ViT-B), 16 heads, MLP ratio 4,
    BatchNorm over tokens (``TokenBatchNorm``) instead of LayerNorm.

    Args:
        in_channels (int): Encoder width.
        embed_dims (int): Decoder width ``D``.
        num_layers (int): Transformer layers (0: Linear only). Defaults to 2.
        num_heads (int): Attention heads. Defaults to 16.
        feedforward_channels (int, optional): FFN width; ``4 * D`` if None.
        norm_cfg (dict): Norm of the layers. Defaults to TokenBatchNorm.
        layer_cfg (dict, optional): Extra ``TransformerEncoderLayer`` args.
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(self, in_channels: int, embed_dims: int,
                 num_layers: int = 2, num_heads: int = 16,
                 feedforward_channels: Optional[int] = None,
                 norm_cfg: dict = dict(type='TokenBatchNorm'),
                 layer_cfg: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.in_channels = in_channels
        self.embed_dims = embed_dims
        self.decoder_embed = nn.Linear(in_channels, embed_dims)
        self.layers = _layers(embed_dims, num_layers, num_heads,
                              feedforward_channels, norm_cfg, layer_cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, T, in_channels)`` tokens -> ``(B, T, embed_dims)``."""
        if x.dim() != 3 or x.shape[-1] != self.in_channels:
            raise ValueError(f'SIMProjector expects (B, T, {self.in_channels})'
                             f' tokens, got {tuple(x.shape)}; check '
                             'neck.in_channels = backbone embed_dims')
        x = self.decoder_embed(x)
        for layer in self.layers:
            x = layer(x)
        return x


@MODELS.register_module()
class SIMHead(BaseModule):
    """SIM predictor and loss.

    The input sequence is ``[extra tokens (cls), visible view-1 tokens +
    their absolute 2-D sin-cos embedding, one mask token per view-2 patch +
    Linear(2D -> D)(relative query embedding)]``; ``num_layers`` transformer
    layers and a Linear(D, D) predict view 2's dense target at the last
    ``gh * gw`` positions. Official: 4 layers, 16 heads, BatchNorm over
    tokens.

    Args:
        embed_dims (int): Decoder width ``D`` (multiple of 4).
        num_layers (int): Predictor layers. Defaults to 4.
        num_heads (int): Attention heads. Defaults to 16.
        feedforward_channels (int, optional): FFN width; ``4 * D`` if None.
        norm_cfg (dict): Norm of the layers. Defaults to TokenBatchNorm.
        layer_cfg (dict, optional): Extra ``TransformerEncoderLayer`` args.
        loss (dict): Loss config. Defaults to ``SIMLoss(neg_weight=0.02)``.
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(self, embed_dims: int, num_layers: int = 4,
                 num_heads: int = 16,
                 feedforward_channels: Optional[int] = None,
                 norm_cfg: dict = dict(type='TokenBatchNorm'),
                 layer_cfg: Optional[dict] = None,
                 loss: dict = dict(type='SIMLoss', neg_weight=0.02),
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if embed_dims % 4:
            raise ValueError('SIMHead: embed_dims must be a multiple of 4 '
                             f'(2-D sin-cos embedding), got {embed_dims}')
        self.embed_dims = embed_dims
        self.mask_token = nn.Parameter(torch.zeros(1, 1, embed_dims))
        self.decoder_pos_mlp = nn.Linear(2 * embed_dims, embed_dims)
        self.layers = _layers(embed_dims, num_layers, num_heads,
                              feedforward_channels, norm_cfg, layer_cfg)
        self.decoder_pred = nn.Linear(embed_dims, embed_dims)
        self.loss_module = MODELS.build(loss)

    def init_weights(self) -> None:
        super().init_weights()
        nn.init.normal_(self.mask_token, std=.02)

    def forward(self, tokens: torch.Tensor, mask: torch.Tensor,
                rel_pos: torch.Tensor) -> torch.Tensor:
        """Predict view 2's dense targets.

        Args:
            tokens (Tensor): Projected online tokens ``(B, E + V, D)``: ``E``
                extra (cls) tokens, then the ``V`` visible patches of view 1
                in row-major order.
            mask (Tensor): ``(B, gh, gw)`` view-1 mask, 1 = masked.
            rel_pos (Tensor): ``(B, 6)`` relative geometry.

        Returns:
            Tensor: ``(B, gh * gw, D)`` predictions, row-major over view 2.
        """
        B, T, D = tokens.shape
        grid = tuple(mask.shape[-2:])
        keep = ~mask.flatten(1).bool()
        num_vis = int(keep[0].sum())
        extra = T - num_vis
        if D != self.embed_dims or extra < 0:
            raise ValueError(f'SIMHead: tokens {tuple(tokens.shape)} do not '
                             f'hold {num_vis} visible patches of width '
                             f'{self.embed_dims}')
        # embeddings in (at least) fp32 also under AMP, as the official
        # fp32 buffers / relative embedding
        dtype = torch.promote_types(tokens.dtype, torch.float32)
        pos = absolute_pos_embed(grid, D, cls_token=False, dtype=dtype,
                                 device=tokens.device)
        vis_pos = pos.expand(B, -1, -1)[keep].view(B, num_vis, D)
        query = relative_query_embed(
            rel_pos.to(device=tokens.device, dtype=dtype), D, grid)
        query = self.decoder_pos_mlp(query.to(self.decoder_pos_mlp.weight))
        x = torch.cat([tokens[:, :extra], tokens[:, extra:] + vis_pos,
                       self.mask_token + query], dim=1)
        for layer in self.layers:
            x = layer(x)
        x = self.decoder_pred(x)
        return x[:, -query.shape[1]:]

    def loss(self, pred: torch.Tensor,
             target: torch.Tensor) -> Dict[str, torch.Tensor]:
        """Loss dict: ``loss`` plus the monitors ``pos_term``, ``neg_term``."""
        out = self.loss_module(pred, target)
        return dict(loss=out['loss'], pos_term=out['pos'],
                    neg_term=out['neg'])
