"""Linear-angular attention of Castling-ViT (You et al., CVPR 2023).

The angular kernel ``1 - angle(q, k) / pi`` is expanded to first order,
``0.5 + (q_hat . k_hat) / pi``; following the released
``LinAngularAttention`` the constant term is added per token (``0.5 v_i``)
and the linear term is computed as ``Q_hat (K_hat^T V)``, i.e. in
O(L d^2) instead of O(L^2 d). The result is L2-normalised per token and
head, a depthwise (k x 1) convolution of V along the token sequence is
added, and the heads go through the output projection.

During training an auxiliary softmax attention, sparsified by a threshold
on its probabilities (as in the release), is added before the
normalisation and gated per head by a learnable mask ``aux_mask``. An L1
penalty drives the mask to zero (see ``CastlingMaskL1Hook``); at inference
(``eval()``) or after ``switch_to_linear()`` only the linear branch runs.
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule


class LinAngularAttention(BaseModule):
    """Linear-angular attention with the auxiliary masked softmax branch.

    Args:
        embed_dims (int): Channels C of the tokens.
        num_heads (int): Number of heads; must divide ``embed_dims``.
        qkv_bias (bool): Bias of the fused qkv projection. Defaults to True
            (DeiT layout; the released snippet defaults to False).
        attn_drop (float): Dropout on the auxiliary softmax probabilities.
        proj_drop (float): Dropout after the output projection.
        res_kernel_size (int): Length k of the depthwise (k x 1) convolution
            of V over the token sequence. Defaults to 9 (release).
        aux_attn (bool): Build the auxiliary masked softmax branch (the
            release's ``sparse_reg``). Defaults to True.
        aux_threshold (float): Softmax probabilities at or below this value
            are dropped from the auxiliary branch. Defaults to 0.02
            (release).
        aux_mask_init (float): Initial value of the per-head mask gating the
            auxiliary branch. Defaults to 1.0 (the release adds the branch
            unscaled).
        init_cfg (dict, optional): Initialization config.
    """

    def __init__(self,
                 embed_dims,
                 num_heads,
                 qkv_bias=True,
                 attn_drop=0.,
                 proj_drop=0.,
                 res_kernel_size=9,
                 aux_attn=True,
                 aux_threshold=0.02,
                 aux_mask_init=1.0,
                 init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        if embed_dims % num_heads:
            raise ValueError(f'LinAngularAttention: embed_dims={embed_dims} '
                             f'is not divisible by num_heads={num_heads}')
        if res_kernel_size % 2 != 1:
            raise ValueError('LinAngularAttention: res_kernel_size must be '
                             f'odd, got {res_kernel_size}')
        self.embed_dims = embed_dims
        self.num_heads = num_heads
        self.head_dims = embed_dims // num_heads
        self.scale = self.head_dims**-0.5
        self.aux_threshold = aux_threshold

        self.qkv = nn.Linear(embed_dims, embed_dims * 3, bias=qkv_bias)
        self.attn_drop = nn.Dropout(attn_drop)
        self.proj = nn.Linear(embed_dims, embed_dims)
        self.proj_drop = nn.Dropout(proj_drop)
        self.dconv = nn.Conv2d(
            num_heads,
            num_heads,
            kernel_size=(res_kernel_size, 1),
            padding=(res_kernel_size // 2, 0),
            groups=num_heads,
            bias=False)
        if aux_attn:
            self.aux_mask = nn.Parameter(
                torch.full((num_heads, ), float(aux_mask_init)))
        else:
            self.register_parameter('aux_mask', None)

    @property
    def has_aux_branch(self):
        """Whether the auxiliary softmax branch still exists."""
        return self.aux_mask is not None

    def uses_aux_branch(self):
        """Whether the next forward runs the auxiliary branch."""
        return self.has_aux_branch and self.training

    def switch_to_linear(self):
        """Remove the auxiliary branch for good (the "castling" step).

        Exact when the mask is zero; otherwise the output changes by the
        gated softmax term, as it does in ``eval()`` mode.
        """
        if self.aux_mask is not None:
            del self.aux_mask
            self.register_parameter('aux_mask', None)

    def mask_l1(self):
        """Sum of |mask| over heads (0 when the branch was removed)."""
        if self.aux_mask is None:
            return self.qkv.weight.new_zeros(())
        return self.aux_mask.abs().sum()

    def masked_softmax(self, q, k, v):
        """Thresholded softmax attention ``(A * [A > thr]) V``, per head."""
        attn = (q * self.scale) @ k.transpose(-2, -1)
        attn = attn.softmax(dim=-1)
        attn = attn * (attn > self.aux_threshold)
        return self.attn_drop(attn) @ v

    def forward(self, x):
        B, L, C = x.shape
        qkv = self.qkv(x).reshape(B, L, 3, self.num_heads, self.head_dims)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # [B, H, L, d]

        q_hat = F.normalize(q, dim=-1)
        k_hat = F.normalize(k, dim=-1)
        out = 0.5 * v + (q_hat @ (k_hat.transpose(-2, -1) @ v)) / math.pi
        if self.uses_aux_branch():
            gate = self.aux_mask.view(1, -1, 1, 1).to(out.dtype)
            out = out + gate * self.masked_softmax(q, k, v)
        out = F.normalize(out, dim=-1) + self.dconv(v)

        out = out.transpose(1, 2).reshape(B, L, C)
        return self.proj_drop(self.proj(out))

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # A checkpoint trained with the auxiliary branch loads into a
        # switched (linear-only) model: its mask is not needed any more.
        if self.aux_mask is None:
            state_dict.pop(prefix + 'aux_mask', None)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)


def softmax_attention(x, qkv, proj, num_heads):
    """Plain multi-head softmax attention with the given projections.

    The quadratic baseline of the benchmark and complexity tests:
    ``softmax(Q K^T / sqrt(d)) V`` over all L x L token pairs.
    """
    B, L, C = x.shape
    q, k, v = qkv(x).reshape(B, L, 3, num_heads,
                             C // num_heads).permute(2, 0, 3, 1, 4).unbind(0)
    attn = ((q * (C // num_heads)**-0.5) @ k.transpose(-2, -1)).softmax(-1)
    return proj((attn @ v).transpose(1, 2).reshape(B, L, C))
