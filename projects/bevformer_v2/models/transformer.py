"""PerceptionTransformerV2: camera features -> BEV (encoder), BEV warping by
the BEV augmentation, temporal fusion (concat + ResNetFusion), decoder."""
from typing import List, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import build_norm_layer
from mmengine.model import xavier_init
from torch import Tensor

from mmdet.models.backbones.resnet import BasicBlock
from mmdet.registry import MODELS
from .attention import (CustomMSDeformableAttention, MSDeformableAttention3D,
                        TemporalSelfAttention)
from .decoder import DetectionTransformerDecoder
from .encoder import BEVFormerEncoder


class ResNetFusion(nn.Module):
    """v2 temporal fusion: BasicBlocks over the channel-concatenated BEVs,
    then Linear + LayerNorm on the flattened map."""

    def __init__(self, in_channels: int, out_channels: int, inter_channels: int,
                 num_layer: int = 3, norm_cfg=dict(type='BN')):
        super().__init__()
        layers = []
        for i in range(num_layer):
            if i == 0:
                down = None
                if in_channels != inter_channels:
                    down = nn.Sequential(
                        nn.Conv2d(in_channels, inter_channels, 3, 1, 1, bias=False),
                        build_norm_layer(norm_cfg, inter_channels)[1])
                layers.append(BasicBlock(in_channels, inter_channels, downsample=down,
                                         norm_cfg=norm_cfg))
            else:
                layers.append(BasicBlock(inter_channels, inter_channels, norm_cfg=norm_cfg))
        self.layers = nn.Sequential(*layers)
        self.layer_norm = nn.Sequential(nn.Linear(inter_channels, out_channels),
                                        nn.LayerNorm(out_channels))

    def forward(self, x: List[Tensor]) -> Tensor:
        """x: list of (B, C, H, W) -> (B, H*W, C_out)."""
        x = self.layers(torch.cat(x, 1))
        return self.layer_norm(x.flatten(2).transpose(1, 2))


def warp_bev(bev: Tensor, bda_mat: Tensor, pc_range: Sequence[float]) -> Tensor:
    """Resample BEV maps (B, C, H, W) so that they follow the BEV augmentation
    ``bda_mat`` (B, 4, 4) applied to the GT boxes: out(p) = in(bda^-1 p)."""
    b, _, h, w = bev.shape
    r = pc_range
    f64 = dict(device=bev.device, dtype=torch.float64)  # the sampling grid in float64
    xs = torch.linspace(0.5, w - 0.5, w, **f64) / w * (r[3] - r[0]) + r[0]
    ys = torch.linspace(0.5, h - 0.5, h, **f64) / h * (r[4] - r[1]) + r[1]
    yy, xx = torch.meshgrid(ys, xs, indexing='ij')
    pts = torch.stack([xx, yy, torch.zeros_like(xx), torch.ones_like(xx)], -1)
    inv = torch.linalg.inv(bda_mat.to(torch.float64))
    src = torch.einsum('bij,hwj->bhwi', inv, pts)[..., :2]
    grid = torch.stack([(src[..., 0] - r[0]) / (r[3] - r[0]),
                        (src[..., 1] - r[1]) / (r[4] - r[1])], -1) * 2 - 1
    return F.grid_sample(bev, grid.to(bev.dtype), mode='bilinear', padding_mode='zeros',
                         align_corners=False)


@MODELS.register_module()
class PerceptionTransformerV2(nn.Module):
    """Args:
        encoder (dict): :class:`BEVFormerEncoder` kwargs.
        decoder (dict): :class:`DetectionTransformerDecoder` kwargs.
        embed_dims (int), num_feature_levels (int), num_cams (int).
        frames (tuple[int]): frame offsets; more than one builds the fusion.
        inter_channels (int, optional): fusion width (default |F| * C).
        num_fusion (int): BasicBlocks in the fusion.
        fusion_norm_cfg (dict): norm of the fusion blocks.
    """

    def __init__(self, encoder: dict, decoder: dict, embed_dims: int = 256,
                 num_feature_levels: int = 4, num_cams: int = 6, frames=(0, ),
                 inter_channels: int = None, num_fusion: int = 3, use_cams_embeds=True,
                 fusion_norm_cfg=dict(type='BN'), pc_range=None):
        super().__init__()
        self.embed_dims = embed_dims
        self.num_cams = num_cams
        self.frames = tuple(frames)
        self.use_cams_embeds = use_cams_embeds
        self.pc_range = list(pc_range) if pc_range is not None else encoder['pc_range']
        self.encoder = BEVFormerEncoder(embed_dims=embed_dims, num_cams=num_cams, **encoder)
        self.decoder = DetectionTransformerDecoder(embed_dims=embed_dims, **decoder)
        self.level_embeds = nn.Parameter(torch.empty(num_feature_levels, embed_dims))
        self.cams_embeds = nn.Parameter(torch.empty(num_cams, embed_dims))
        self.reference_points = nn.Linear(embed_dims, 3)
        if len(self.frames) > 1:
            t = len(self.frames)
            self.fusion = ResNetFusion(t * embed_dims, embed_dims,
                                       inter_channels or t * embed_dims, num_fusion,
                                       fusion_norm_cfg)
        self.init_weights()

    def init_weights(self):
        """The official init: xavier-uniform on every parameter with more than
        one dimension (encoder, decoder, fusion convs, ``level_embeds`` and
        ``cams_embeds``: the v2 transformer re-applies it after its base
        class's normal init), then the deformable attentions' own init
        (offset directions, zero attention weights, xavier projections with
        zero bias), then ``reference_points`` xavier with zero bias. Biases
        and norms keep their construction-time values."""
        for p in self.parameters():
            if p.dim() > 1:
                nn.init.xavier_uniform_(p)
        for m in self.modules():
            if isinstance(m, (MSDeformableAttention3D, TemporalSelfAttention,
                              CustomMSDeformableAttention)):
                m.init_weights()
        xavier_init(self.reference_points, distribution='uniform', bias=0.)

    def get_bev_features(self, mlvl_feats: List[Tensor], bev_queries: Tensor,
                         bev_h: int, bev_w: int, bev_pos: Tensor, lidar2img: Tensor,
                         img_shape, pad_shape, bda_mat: Tensor = None) -> Tensor:
        """mlvl_feats: list of (B, N, C, H, W); bev_queries (HW, C);
        bev_pos (B, HW, C). Returns (B, HW, C)."""
        bs = mlvl_feats[0].shape[0]
        flat, shapes = [], []
        for lvl, feat in enumerate(mlvl_feats):
            b, n, c, h, w = feat.shape
            f = feat.flatten(3).permute(0, 1, 3, 2)  # (B, N, HW, C)
            if self.use_cams_embeds:
                f = f + self.cams_embeds[:n, None, :].to(f.dtype)
            f = f + self.level_embeds[None, None, lvl:lvl + 1, :].to(f.dtype)
            flat.append(f)
            shapes.append((h, w))
        value = torch.cat(flat, 2)
        spatial_shapes = torch.as_tensor(shapes, dtype=torch.long, device=value.device)
        level_start_index = torch.cat((spatial_shapes.new_zeros((1, )),
                                       spatial_shapes.prod(1).cumsum(0)[:-1]))
        query = bev_queries[None].expand(bs, -1, -1)
        bev = self.encoder(query, value, bev_h, bev_w, bev_pos, spatial_shapes,
                           level_start_index, lidar2img, img_shape, pad_shape)
        if bda_mat is not None:
            eye = torch.eye(4, dtype=bda_mat.dtype, device=bda_mat.device)
            if not torch.allclose(bda_mat, eye.expand_as(bda_mat)):
                m = bev.transpose(1, 2).reshape(bs, -1, bev_h, bev_w)
                m = warp_bev(m, bda_mat, self.pc_range)
                bev = m.flatten(2).transpose(1, 2)
        return bev

    def fuse(self, bevs: List[Tensor], bev_h: int, bev_w: int) -> Tensor:
        """bevs: list over frames (oldest first) of (B, HW, C)."""
        if len(bevs) == 1:
            return bevs[0]
        maps = [b.transpose(1, 2).reshape(b.shape[0], -1, bev_h, bev_w) for b in bevs]
        return self.fusion(maps)

    def decode(self, bev: Tensor, bev_h: int, bev_w: int, query: Tensor,
               query_pos: Tensor, reference_points: Tensor, reg_branches=None):
        """query/query_pos (B, Q, C); reference_points (B, Q, 3) in [0, 1]."""
        spatial_shapes = torch.as_tensor([[bev_h, bev_w]], device=bev.device)
        level_start_index = spatial_shapes.new_zeros((1, ))
        return self.decoder(query, query_pos, bev, reference_points, spatial_shapes,
                            level_start_index, reg_branches)
