"""Sub-LayerNorm transformer layer and the Magneto initialisation scale.

Magneto (Wang et al., "Foundation Transformers", ICML 2023):

- attention sublayer: ``x + out_proj(LN_inner(MHSA(LN1(x))))``;
- FFN sublayer: ``x + fc2(LN_ffn(GELU(fc1(LN2(x)))))``;
- after the default init, the weights and biases of ``fc1``, ``fc2``,
  ``out_proj`` and ``v_proj`` (not q, k) are multiplied by
  ``gamma = sqrt(log(2N))`` for an N-layer encoder
  (``sqrt(log(3M) log(2N) / 3)`` for an encoder with an M-layer decoder),
  as torchscale's ``Encoder`` does with ``subln=True``.
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn.bricks.drop import build_dropout
from mmengine.model import BaseModule

#: Parameter groups multiplied by gamma (torchscale's name filter).
GAMMA_SCALED = ('fc1', 'fc2', 'out_proj', 'v_proj')


def magneto_gamma(num_layers, num_decoder_layers=None):
    """Initialisation scale of Magneto's Sub-LN (DeepNet-derived).

    Args:
        num_layers (int): N, the encoder depth.
        num_decoder_layers (int, optional): M, the decoder depth of an
            encoder-decoder model.

    Returns:
        float: ``sqrt(log(2N))``, or ``sqrt(log(3M) * log(2N) / 3)``.
    """
    if num_layers < 1:
        raise ValueError(f'magneto_gamma: num_layers must be >= 1, got '
                         f'{num_layers}')
    if num_decoder_layers is None:
        return math.sqrt(math.log(2 * num_layers))
    if num_decoder_layers < 1:
        raise ValueError('magneto_gamma: num_decoder_layers must be >= 1, '
                         f'got {num_decoder_layers}')
    return math.sqrt(math.log(3 * num_decoder_layers) *
                     math.log(2 * num_layers) / 3)


class SubLNAttention(BaseModule):
    """Multi-head self-attention with an LN before the output projection.

    Names follow torchscale's ``MultiheadAttention`` (``q_proj``, ``k_proj``,
    ``v_proj``, ``out_proj``); ``inner_ln`` is its ``inner_attn_ln``.
    """

    def __init__(self, embed_dims, num_heads, attn_drop=0., proj_drop=0.,
                 qkv_bias=True, eps=1e-5, subln=True, init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        if embed_dims % num_heads:
            raise ValueError(f'SubLNAttention: embed_dims={embed_dims} is not '
                             f'divisible by num_heads={num_heads}')
        self.num_heads = num_heads
        self.head_dims = embed_dims // num_heads
        self.attn_drop = attn_drop
        self.q_proj = nn.Linear(embed_dims, embed_dims, bias=qkv_bias)
        self.k_proj = nn.Linear(embed_dims, embed_dims, bias=qkv_bias)
        self.v_proj = nn.Linear(embed_dims, embed_dims, bias=qkv_bias)
        self.inner_ln = nn.LayerNorm(embed_dims, eps=eps) if subln \
            else nn.Identity()
        self.out_proj = nn.Linear(embed_dims, embed_dims)
        self.proj_drop = nn.Dropout(proj_drop)

    def forward(self, x):
        B, L, C = x.shape

        def heads(t):
            return t.reshape(B, L, self.num_heads, -1).transpose(1, 2)

        out = F.scaled_dot_product_attention(
            heads(self.q_proj(x)), heads(self.k_proj(x)),
            heads(self.v_proj(x)),
            dropout_p=self.attn_drop if self.training else 0.)
        out = self.inner_ln(out.transpose(1, 2).reshape(B, L, C))
        return self.proj_drop(self.out_proj(out))


class SubLNFFN(BaseModule):
    """``fc2(LN(act(fc1(x))))`` (torchscale's ``FeedForwardNetwork``)."""

    def __init__(self, embed_dims, feedforward_channels, drop=0., eps=1e-5,
                 subln=True, init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        self.fc1 = nn.Linear(embed_dims, feedforward_channels)
        self.act = nn.GELU()
        self.ffn_ln = nn.LayerNorm(feedforward_channels, eps=eps) if subln \
            else nn.Identity()
        self.fc2 = nn.Linear(feedforward_channels, embed_dims)
        self.drop = nn.Dropout(drop)

    def forward(self, x):
        x = self.fc1(x)
        if x.dtype in (torch.float16, torch.bfloat16):
            x = self.act(x.float()).type_as(x)  # GELU in fp32 (torchscale)
        else:
            x = self.act(x)
        return self.drop(self.fc2(self.ffn_ln(x)))


class MagnetoEncoderLayer(BaseModule):
    """Pre-LN layer with Sub-LN inside both sublayers.

    ``x + DropPath(attn(ln1(x)))`` then ``x + DropPath(ffn(ln2(x)))``;
    ``subln=False`` gives the plain Pre-LN layer (same names minus the two
    inner norms), the baseline Magneto is compared with.
    """

    def __init__(self, embed_dims, num_heads, feedforward_channels,
                 drop_rate=0., attn_drop_rate=0., drop_path_rate=0.,
                 qkv_bias=True, eps=1e-5, subln=True, init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        self.ln1 = nn.LayerNorm(embed_dims, eps=eps)
        self.attn = SubLNAttention(embed_dims, num_heads,
                                   attn_drop=attn_drop_rate,
                                   proj_drop=drop_rate, qkv_bias=qkv_bias,
                                   eps=eps, subln=subln)
        self.ln2 = nn.LayerNorm(embed_dims, eps=eps)
        self.ffn = SubLNFFN(embed_dims, feedforward_channels, drop=drop_rate,
                            eps=eps, subln=subln)
        self.drop_path = build_dropout(
            dict(type='DropPath', drop_prob=drop_path_rate))

    def forward(self, x):
        x = x + self.drop_path(self.attn(self.ln1(x)))
        return x + self.drop_path(self.ffn(self.ln2(x)))
