"""BEVFormer encoder: pillar reference points, camera projection, and
[TSA, norm, SCA, norm, FFN, norm] layers."""
from typing import Sequence, Tuple

import torch
import torch.nn as nn
from mmcv.cnn.bricks.transformer import FFN
from torch import Tensor

from .attention import SpatialCrossAttention, TemporalSelfAttention


def bev_grid_2d(bev_h: int, bev_w: int, bs: int, device, dtype=torch.float32) -> Tensor:
    """Normalised BEV cell centres, (bs, H*W, 1, 2) as (x, y); index = row*W + col
    with row <-> y (y_min at row 0) and col <-> x."""
    ys, xs = torch.meshgrid(
        torch.linspace(0.5, bev_h - 0.5, bev_h, dtype=dtype, device=device) / bev_h,
        torch.linspace(0.5, bev_w - 0.5, bev_w, dtype=dtype, device=device) / bev_w,
        indexing='ij')
    ref = torch.stack([xs.reshape(-1), ys.reshape(-1)], -1)
    return ref[None, :, None].expand(bs, -1, 1, -1)


def bev_grid_3d(bev_h: int, bev_w: int, num_points: int, bs: int, device,
                dtype=torch.float32, z_size: float = 8.0) -> Tensor:
    """Normalised pillar points, (bs, D, H*W, 3), with the official heights
    z = linspace(0.5, Z - 0.5, D) / Z, Z = ``z_size`` the height range in
    metres (8 m: -4.5, -2.17, 0.17, 2.5 m above z_min + 0.5)."""
    xy = bev_grid_2d(bev_h, bev_w, 1, device, dtype)[0, :, 0]  # (HW, 2)
    zs = torch.linspace(0.5, z_size - 0.5, num_points, dtype=dtype, device=device) / z_size
    ref = torch.cat([xy[None].expand(num_points, -1, -1),
                     zs[:, None, None].expand(-1, xy.shape[0], 1)], -1)
    return ref[None].expand(bs, -1, -1, -1)


def point_sampling(ref_3d: Tensor, pc_range: Sequence[float], lidar2img: Tensor,
                   img_shape: Tuple[int, int], pad_shape: Tuple[int, int],
                   eps: float = 1e-5) -> Tuple[Tensor, Tensor]:
    """Project the pillar points into every camera.

    Args:
        ref_3d: (bs, D, Q, 3) normalised points.
        lidar2img: (bs, N, 4, 4).
        img_shape: (H, W) of the real image; points outside it are masked.
        pad_shape: (H, W) of the padded batch; coordinates are normalised by it
            (the feature maps cover the padded image).

    Returns:
        ref_cam (bs, N, Q, D, 2) in [0, 1] of the padded image and
        bev_mask (bs, N, Q, D) bool.
    """
    r = ref_3d.new_tensor(pc_range)
    pts = ref_3d * (r[3:] - r[:3]) + r[:3]
    pts = torch.cat([pts, torch.ones_like(pts[..., :1])], -1).float()  # (b, D, Q, 4)
    # a batched (4, 4) @ (4, 1) matmul in float32, as the official (bit-equal)
    cam = torch.matmul(lidar2img.float()[:, :, None, None], pts[:, None, ..., None])[..., 0]
    depth = cam[..., 2:3]
    mask = depth > eps
    uv = cam[..., :2] / depth.clamp(min=eps)
    h, w = img_shape
    mask = (mask[..., 0] & (uv[..., 0] > 0) & (uv[..., 0] < w)
            & (uv[..., 1] > 0) & (uv[..., 1] < h))
    uv = uv / uv.new_tensor([pad_shape[1], pad_shape[0]])
    uv = torch.nan_to_num(uv)
    return (uv.permute(0, 1, 3, 2, 4).to(ref_3d.dtype), mask.permute(0, 1, 3, 2))


class BEVFormerLayer(nn.Module):
    """Post-norm layer: TSA, norm, SCA, norm, FFN, norm."""

    def __init__(self, embed_dims: int = 256, feedforward_channels: int = 512,
                 num_cams: int = 6, dropout: float = 0.1, tsa_cfg: dict = None,
                 sca_cfg: dict = None):
        super().__init__()
        tsa = dict(embed_dims=embed_dims, dropout=dropout)
        tsa.update(tsa_cfg or {})
        sca = dict(embed_dims=embed_dims, num_cams=num_cams, dropout=dropout)
        sca.update(sca_cfg or {})
        self.attentions = nn.ModuleList(
            [TemporalSelfAttention(**tsa), SpatialCrossAttention(**sca)])
        self.ffns = nn.ModuleList([FFN(embed_dims, feedforward_channels, ffn_drop=dropout)])
        self.norms = nn.ModuleList([nn.LayerNorm(embed_dims) for _ in range(3)])

    def forward(self, query, bev_pos, ref_2d, bev_shapes, bev_start, value, ref_cam,
                bev_mask, spatial_shapes, level_start_index):
        query = self.norms[0](self.attentions[0](query, bev_pos, ref_2d, bev_shapes,
                                                 bev_start))
        query = self.norms[1](self.attentions[1](query, value, ref_cam, bev_mask,
                                                 spatial_shapes, level_start_index))
        return self.norms[2](self.ffns[0](query))


class BEVFormerEncoder(nn.Module):
    """Stack of :class:`BEVFormerLayer` over pillar reference points."""

    def __init__(self, num_layers: int = 6, pc_range: Sequence[float] = None,
                 num_points_in_pillar: int = 4, **layer_cfg):
        super().__init__()
        self.pc_range = list(pc_range)
        self.num_points_in_pillar = num_points_in_pillar
        self.layers = nn.ModuleList([BEVFormerLayer(**layer_cfg) for _ in range(num_layers)])

    def forward(self, bev_query: Tensor, value: Tensor, bev_h: int, bev_w: int,
                bev_pos: Tensor, spatial_shapes: Tensor, level_start_index: Tensor,
                lidar2img: Tensor, img_shape, pad_shape) -> Tensor:
        """bev_query (b, HW, C); value (b, N, L, C); lidar2img (b, N, 4, 4)."""
        bs = bev_query.shape[0]
        ref_3d = bev_grid_3d(bev_h, bev_w, self.num_points_in_pillar, bs, bev_query.device,
                             bev_query.dtype, self.pc_range[5] - self.pc_range[2])
        ref_2d = bev_grid_2d(bev_h, bev_w, bs, bev_query.device, bev_query.dtype)
        ref_cam, bev_mask = point_sampling(ref_3d, self.pc_range, lidar2img, img_shape,
                                           pad_shape)
        bev_shapes = torch.as_tensor([[bev_h, bev_w]], device=bev_query.device)
        bev_start = bev_shapes.new_zeros((1, ))
        out = bev_query
        for layer in self.layers:
            out = layer(out, bev_pos, ref_2d, bev_shapes, bev_start, value, ref_cam,
                        bev_mask, spatial_shapes, level_start_index)
        return out
