"""Deformable attentions of BEVFormer (TSA, SCA, MSDeformableAttention3D,
the decoder's CustomMSDeformableAttention) and Group-DETR self-attention.

Every module is batch-first. The sampling itself is mmcv's: the compiled
``MultiScaleDeformableAttnFunction`` on CUDA, the pure-PyTorch
``multi_scale_deformable_attn_pytorch`` (grid_sample) elsewhere.
"""
import math

import torch
import torch.nn as nn
from mmcv.ops.multi_scale_deform_attn import (
    MultiScaleDeformableAttnFunction, multi_scale_deformable_attn_pytorch)
from mmengine.model import constant_init, xavier_init
from torch import Tensor


def ms_deform_attn(value: Tensor, spatial_shapes: Tensor, level_start_index: Tensor,
                   sampling_locations: Tensor, attention_weights: Tensor,
                   im2col_step: int = 64) -> Tensor:
    """Multi-scale deformable sampling.

    Args:
        value: (bs, num_keys, num_heads, head_dims).
        spatial_shapes: (num_levels, 2) long, (H, W) per level.
        level_start_index: (num_levels,) long.
        sampling_locations: (bs, num_queries, num_heads, num_levels, num_points, 2)
            normalised to [0, 1], (x, y).
        attention_weights: (bs, num_queries, num_heads, num_levels, num_points).

    Returns:
        Tensor: (bs, num_queries, num_heads * head_dims).
    """
    if value.is_cuda:
        return MultiScaleDeformableAttnFunction.apply(
            value.contiguous(), spatial_shapes, level_start_index,
            sampling_locations.contiguous(), attention_weights.contiguous(), im2col_step)
    return multi_scale_deformable_attn_pytorch(value, spatial_shapes,
                                               sampling_locations, attention_weights)


def _init_sampling_offsets(linear: nn.Linear, num_heads: int, num_levels: int,
                           num_points: int, num_groups: int = 1) -> None:
    """Per-head direction (cos, sin), scaled to max-abs 1, times (k + 1)."""
    constant_init(linear, 0.)
    thetas = torch.arange(num_heads, dtype=torch.float32) * (2.0 * math.pi / num_heads)
    grid = torch.stack([thetas.cos(), thetas.sin()], -1)
    grid = grid / grid.abs().max(-1, keepdim=True)[0]
    grid = grid.view(num_heads, 1, 1, 2).repeat(1, num_groups * num_levels, num_points, 1)
    for i in range(num_points):
        grid[:, :, i, :] *= i + 1
    linear.bias.data = grid.view(-1)


class MSDeformableAttention3D(nn.Module):
    """SCA's inner attention: ``num_points`` split over the pillar anchors,
    no output projection (official ``MSDeformableAttention3D``)."""

    def __init__(self, embed_dims: int = 256, num_heads: int = 8, num_levels: int = 4,
                 num_points: int = 8, im2col_step: int = 64):
        super().__init__()
        assert embed_dims % num_heads == 0
        self.embed_dims, self.num_heads = embed_dims, num_heads
        self.num_levels, self.num_points = num_levels, num_points
        self.im2col_step = im2col_step
        self.sampling_offsets = nn.Linear(embed_dims, num_heads * num_levels * num_points * 2)
        self.attention_weights = nn.Linear(embed_dims, num_heads * num_levels * num_points)
        self.value_proj = nn.Linear(embed_dims, embed_dims)
        self.init_weights()

    def init_weights(self):
        _init_sampling_offsets(self.sampling_offsets, self.num_heads, self.num_levels,
                               self.num_points)
        constant_init(self.attention_weights, val=0., bias=0.)
        xavier_init(self.value_proj, distribution='uniform', bias=0.)

    def forward(self, query: Tensor, value: Tensor, reference_points: Tensor,
                spatial_shapes: Tensor, level_start_index: Tensor,
                key_padding_mask=None) -> Tensor:
        """query (b, q, C); value (b, L, C); reference_points (b, q, D, 2)."""
        bs, nq, _ = query.shape
        nh, nl, npnt = self.num_heads, self.num_levels, self.num_points
        value = self.value_proj(value)
        if key_padding_mask is not None:
            value = value.masked_fill(key_padding_mask[..., None], 0.0)
        value = value.view(bs, value.shape[1], nh, -1)
        offsets = self.sampling_offsets(query).view(bs, nq, nh, nl, npnt, 2)
        weights = self.attention_weights(query).view(bs, nq, nh, nl * npnt).softmax(-1)
        weights = weights.view(bs, nq, nh, nl, npnt)
        num_z = reference_points.shape[2]
        assert npnt % num_z == 0, 'num_points must be a multiple of the pillar anchors'
        normalizer = torch.stack([spatial_shapes[..., 1], spatial_shapes[..., 0]], -1)
        offsets = offsets / normalizer[None, None, None, :, None, :]
        offsets = offsets.view(bs, nq, nh, nl, npnt // num_z, num_z, 2)
        loc = reference_points[:, :, None, None, None, :, :] + offsets
        loc = loc.view(bs, nq, nh, nl, npnt, 2)
        return ms_deform_attn(value, spatial_shapes, level_start_index, loc, weights,
                              self.im2col_step)


class SpatialCrossAttention(nn.Module):
    """BEV queries attend to the cameras that see their pillar.

    Each (batch item, camera) keeps only the queries whose pillar hits the
    image (its own mask: the official code used batch 0's mask for all), runs
    the deformable attention on them, scatters back, and averages over the
    cameras that see the query. A query seen by none returns its residual
    unchanged (``keep_unseen_residual``; False: the official, which adds
    ``output_proj``'s bias to it).
    """

    def __init__(self, embed_dims: int = 256, num_cams: int = 6, dropout: float = 0.1,
                 deformable_attention: dict = None, keep_unseen_residual: bool = True):
        super().__init__()
        self.keep_unseen_residual = keep_unseen_residual
        cfg = dict(embed_dims=embed_dims)
        cfg.update(deformable_attention or {})
        self.embed_dims = embed_dims
        self.num_cams = num_cams
        self.deformable_attention = MSDeformableAttention3D(**cfg)
        self.output_proj = nn.Linear(embed_dims, embed_dims)
        self.dropout = nn.Dropout(dropout)
        xavier_init(self.output_proj, distribution='uniform', bias=0.)

    @staticmethod
    def rebatch_length(counts: Tensor) -> int:
        """Queries kept per (batch item, camera): the largest hit count
        (data-dependent; the complexity counter substitutes it on meta)."""
        return int(counts.max().item()) if counts.numel() else 0

    def forward(self, query: Tensor, value: Tensor, reference_points_cam: Tensor,
                bev_mask: Tensor, spatial_shapes: Tensor, level_start_index: Tensor,
                query_pos: Tensor = None, residual: Tensor = None) -> Tensor:
        """query (b, Q, C); value (b, N, L, C); reference_points_cam
        (b, N, Q, D, 2); bev_mask (b, N, Q, D) bool."""
        residual = query if residual is None else residual
        if query_pos is not None:
            query = query + query_pos
        bs, nq, c = query.shape
        n = value.shape[1]
        hit = bev_mask.any(-1)  # (b, N, Q)
        counts = hit.sum(-1)  # (b, N)
        max_len = self.rebatch_length(counts)
        slots = torch.zeros_like(query)
        if max_len > 0:
            # indices of the hit queries first (stable), padded with the rest
            order = torch.argsort((~hit).to(torch.int8), dim=-1, stable=True)[..., :max_len]
            valid = torch.arange(max_len, device=query.device) < counts[..., None]
            q_re = torch.gather(query[:, None].expand(bs, n, nq, c), 2,
                                order[..., None].expand(-1, -1, -1, c))
            d = reference_points_cam.shape[3]
            ref_re = torch.gather(reference_points_cam, 2,
                                  order[..., None, None].expand(-1, -1, -1, d, 2))
            out = self.deformable_attention(
                q_re.reshape(bs * n, max_len, c), value.reshape(bs * n, -1, c),
                ref_re.reshape(bs * n, max_len, d, 2), spatial_shapes, level_start_index)
            out = out.view(bs, n, max_len, c) * valid[..., None]
            slots = slots.new_zeros(bs, n, nq, c).scatter_add_(
                2, order[..., None].expand(-1, -1, -1, c), out).sum(1)
        count = hit.sum(1)  # (b, Q)
        slots = slots / count.clamp(min=1).to(slots.dtype)[..., None]
        out = self.dropout(self.output_proj(slots))
        if self.keep_unseen_residual:
            out = out * (count > 0).to(slots.dtype)[..., None]
        return out + residual


class TemporalSelfAttention(nn.Module):
    """BEV self-attention with ``num_bev_queue`` value queues (v2: both queues
    are the current BEV). Batch-correct: the official ``value[:bs]`` picked
    interleaved items for bs > 1."""

    def __init__(self, embed_dims: int = 256, num_heads: int = 8, num_levels: int = 1,
                 num_points: int = 4, num_bev_queue: int = 2, dropout: float = 0.1,
                 im2col_step: int = 64):
        super().__init__()
        self.embed_dims, self.num_heads = embed_dims, num_heads
        self.num_levels, self.num_points = num_levels, num_points
        self.num_bev_queue = num_bev_queue
        self.im2col_step = im2col_step
        q = num_bev_queue
        self.sampling_offsets = nn.Linear(embed_dims * q,
                                          q * num_heads * num_levels * num_points * 2)
        self.attention_weights = nn.Linear(embed_dims * q, q * num_heads * num_levels * num_points)
        self.value_proj = nn.Linear(embed_dims, embed_dims)
        self.output_proj = nn.Linear(embed_dims, embed_dims)
        self.dropout = nn.Dropout(dropout)
        self.init_weights()

    def init_weights(self):
        _init_sampling_offsets(self.sampling_offsets, self.num_heads, self.num_levels,
                               self.num_points, self.num_bev_queue)
        constant_init(self.attention_weights, val=0., bias=0.)
        xavier_init(self.value_proj, distribution='uniform', bias=0.)
        xavier_init(self.output_proj, distribution='uniform', bias=0.)

    def forward(self, query: Tensor, query_pos: Tensor, reference_points: Tensor,
                spatial_shapes: Tensor, level_start_index: Tensor,
                value: Tensor = None) -> Tensor:
        """query (b, Q, C); reference_points (b, Q, 1, 2); value (b, queue, Q, C)."""
        identity = query
        bs, nq, c = query.shape
        qn, nh, nl, npnt = self.num_bev_queue, self.num_heads, self.num_levels, self.num_points
        if value is None:
            value = query[:, None].expand(bs, qn, nq, c)
        if query_pos is not None:
            query = query + query_pos
        query = torch.cat([value[:, 0], query], -1)
        v = self.value_proj(value.reshape(bs * qn, -1, c)).view(bs * qn, -1, nh, c // nh)
        offsets = self.sampling_offsets(query).view(bs, nq, nh, qn, nl, npnt, 2)
        weights = self.attention_weights(query).view(bs, nq, nh, qn, nl * npnt).softmax(-1)
        weights = weights.view(bs, nq, nh, qn, nl, npnt)
        offsets = offsets.permute(0, 3, 1, 2, 4, 5, 6).reshape(bs * qn, nq, nh, nl, npnt, 2)
        weights = weights.permute(0, 3, 1, 2, 4, 5).reshape(bs * qn, nq, nh, nl, npnt)
        normalizer = torch.stack([spatial_shapes[..., 1], spatial_shapes[..., 0]], -1)
        ref = reference_points[:, None].expand(bs, qn, *reference_points.shape[1:])
        ref = ref.reshape(bs * qn, nq, nl, 2)
        loc = ref[:, :, None, :, None, :] + offsets / normalizer[None, None, None, :, None, :]
        out = ms_deform_attn(v, spatial_shapes, level_start_index, loc, weights,
                             self.im2col_step)
        out = out.view(bs, qn, nq, c).mean(1)
        return self.dropout(self.output_proj(out)) + identity


class CustomMSDeformableAttention(nn.Module):
    """Decoder cross-attention on the BEV (one level), with output_proj."""

    def __init__(self, embed_dims: int = 256, num_heads: int = 8, num_levels: int = 1,
                 num_points: int = 4, dropout: float = 0.1, im2col_step: int = 64):
        super().__init__()
        self.embed_dims, self.num_heads = embed_dims, num_heads
        self.num_levels, self.num_points = num_levels, num_points
        self.im2col_step = im2col_step
        self.sampling_offsets = nn.Linear(embed_dims, num_heads * num_levels * num_points * 2)
        self.attention_weights = nn.Linear(embed_dims, num_heads * num_levels * num_points)
        self.value_proj = nn.Linear(embed_dims, embed_dims)
        self.output_proj = nn.Linear(embed_dims, embed_dims)
        self.dropout = nn.Dropout(dropout)
        self.init_weights()

    def init_weights(self):
        _init_sampling_offsets(self.sampling_offsets, self.num_heads, self.num_levels,
                               self.num_points)
        constant_init(self.attention_weights, val=0., bias=0.)
        xavier_init(self.value_proj, distribution='uniform', bias=0.)
        xavier_init(self.output_proj, distribution='uniform', bias=0.)

    def forward(self, query: Tensor, value: Tensor, query_pos: Tensor,
                reference_points: Tensor, spatial_shapes: Tensor,
                level_start_index: Tensor) -> Tensor:
        """query (b, q, C); value (b, L, C); reference_points (b, q, >=2) in [0, 1]."""
        identity = query
        if query_pos is not None:
            query = query + query_pos
        bs, nq, c = query.shape
        nh, nl, npnt = self.num_heads, self.num_levels, self.num_points
        v = self.value_proj(value).view(bs, value.shape[1], nh, c // nh)
        offsets = self.sampling_offsets(query).view(bs, nq, nh, nl, npnt, 2)
        weights = self.attention_weights(query).view(bs, nq, nh, nl * npnt).softmax(-1)
        weights = weights.view(bs, nq, nh, nl, npnt)
        normalizer = torch.stack([spatial_shapes[..., 1], spatial_shapes[..., 0]], -1)
        loc = (reference_points[:, :, None, None, None, :2]
               + offsets / normalizer[None, None, None, :, None, :])
        out = ms_deform_attn(v, spatial_shapes, level_start_index, loc, weights,
                             self.im2col_step)
        return self.dropout(self.output_proj(out)) + identity


class GroupMultiheadAttention(nn.Module):
    """Decoder self-attention; in training the queries are split into
    ``group`` equal groups that do not see each other (Group-DETR)."""

    def __init__(self, embed_dims: int = 256, num_heads: int = 8, dropout: float = 0.1,
                 group: int = 1):
        super().__init__()
        self.group = group
        self.attn = nn.MultiheadAttention(embed_dims, num_heads, dropout=dropout,
                                          batch_first=True)
        self.proj_drop = nn.Dropout(0.0)
        self.dropout_layer = nn.Dropout(dropout)

    def forward(self, query: Tensor, query_pos: Tensor = None) -> Tensor:
        identity = query
        q = query if query_pos is None else query + query_pos
        g = self.group if self.training else 1
        bs, nq, c = q.shape
        assert nq % g == 0, f'{nq} queries do not split into {g} groups'
        qg = q.view(bs, g, nq // g, c).reshape(bs * g, nq // g, c)
        vg = query.view(bs, g, nq // g, c).reshape(bs * g, nq // g, c)
        out = self.attn(qg, qg, vg, need_weights=False)[0]
        out = out.reshape(bs, nq, c)
        return identity + self.dropout_layer(self.proj_drop(out))
