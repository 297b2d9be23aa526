"""DETR-style decoder on the BEV with iterative box refinement."""
import torch
import torch.nn as nn
from mmcv.cnn.bricks.transformer import FFN
from torch import Tensor

from .attention import CustomMSDeformableAttention, GroupMultiheadAttention


def inverse_sigmoid(x: Tensor, eps: float = 1e-5) -> Tensor:
    x = x.clamp(0, 1)
    return torch.log(x.clamp(min=eps) / (1 - x).clamp(min=eps))


class DetrDecoderLayer(nn.Module):
    """Post-norm layer: (group) self-attention, norm, BEV deformable
    cross-attention, norm, FFN, norm."""

    def __init__(self, embed_dims: int = 256, num_heads: int = 8,
                 feedforward_channels: int = 512, dropout: float = 0.1, group: int = 1,
                 cross_attn_cfg: dict = None):
        super().__init__()
        ca = dict(embed_dims=embed_dims, num_heads=num_heads, dropout=dropout)
        ca.update(cross_attn_cfg or {})
        self.attentions = nn.ModuleList([
            GroupMultiheadAttention(embed_dims, num_heads, dropout, group=group),
            CustomMSDeformableAttention(**ca)])
        self.ffns = nn.ModuleList([FFN(embed_dims, feedforward_channels, ffn_drop=dropout)])
        self.norms = nn.ModuleList([nn.LayerNorm(embed_dims) for _ in range(3)])

    def forward(self, query, query_pos, value, reference_points, spatial_shapes,
                level_start_index):
        query = self.norms[0](self.attentions[0](query, query_pos))
        query = self.norms[1](self.attentions[1](query, value, query_pos, reference_points,
                                                 spatial_shapes, level_start_index))
        return self.norms[2](self.ffns[0](query))


class DetectionTransformerDecoder(nn.Module):
    """Returns the states and (detached) reference points of every layer.

    With ``reg_branches`` the references are refined after each layer:
    xy <- sigmoid(raw[0:2] + logit(xy)), z <- sigmoid(raw[4] + logit(z)).
    """

    def __init__(self, num_layers: int = 6, **layer_cfg):
        super().__init__()
        self.num_layers = num_layers
        self.layers = nn.ModuleList([DetrDecoderLayer(**layer_cfg) for _ in range(num_layers)])

    def forward(self, query, query_pos, value, reference_points, spatial_shapes,
                level_start_index, reg_branches=None):
        states, refs = [], []
        out = query
        for lid, layer in enumerate(self.layers):
            out = layer(out, query_pos, value, reference_points, spatial_shapes,
                        level_start_index)
            if reg_branches is not None:
                tmp = reg_branches[lid](out)
                new_ref = torch.cat([
                    tmp[..., 0:2] + inverse_sigmoid(reference_points[..., 0:2]),
                    tmp[..., 4:5] + inverse_sigmoid(reference_points[..., 2:3])], -1).sigmoid()
                reference_points = new_ref.detach()
            states.append(out)
            refs.append(reference_points)
        return torch.stack(states), torch.stack(refs)
