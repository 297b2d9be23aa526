"""CLIP's text Transformer, assembled from mmpretrain's CLIP parts."""
from typing import Optional

import torch
import torch.nn as nn
from mmengine.model import BaseModule
from mmpretrain.models.utils.clip_generator_helper import (CLIP, LayerNorm,
                                                           Transformer)
from mmpretrain.registry import MODELS

from .tokenizer import CLIP_VOCAB_SIZE


@MODELS.register_module()
class CausalTextTransformer(BaseModule):
    """CLIP's text tower (Radford et al., 2021) as FLIP pairs it with each
    image encoder.

    Token embedding + learnt position embedding, ``num_layers`` pre-norm
    residual attention blocks under a causal mask, final LayerNorm, the
    feature at the EOT token (the highest id of a row, as CLIP's BPE puts EOT
    last) and a bias-free projection ``text_projection``
    ``[width, embed_dims]``. The blocks (QuickGELU MLP of 4x width), the
    fp32 LayerNorm, the causal mask and the initialisation (drawn in
    ``__init__``) are those of mmpretrain's CLIP port
    (``mmpretrain.models.utils.clip_generator_helper``, importable without
    ``transformers``, unlike ``mmpretrain.models.multimodal.clip``); the
    forward pass is ``CLIP.extract_text_feat`` of the latter. The parameter
    names are OpenAI CLIP's, so a CLIP text tower's state dict loads as is.
    With the causal mask the EOT feature ignores the padding after it.

    ``arch`` (width, layers, heads; facebookresearch/flip
    ``configs/cfg_flip_{base,large,huge14}.py``): ``'b'`` 512/12/8 with
    ViT-B/16, ``'l'`` 768/12/12 with ViT-L/16, ``'h'`` 1024/24/16 with
    ViT-H/14; ``width``, ``num_layers``, ``num_heads`` override it.

    Args:
        arch (str): Size preset.
        embed_dims (int): Output (joint embedding) size.
        vocab_size (int): Token embedding rows (CLIP BPE: 49408).
        context_length (int): Token positions (FLIP: 32).
        width (int, optional): Model width.
        num_layers (int, optional): Residual attention blocks.
        num_heads (int, optional): Attention heads.
        init_cfg (dict, optional): Initialisation config.
    """
    arch_zoo = {
        'b': dict(width=512, num_layers=12, num_heads=8),
        'l': dict(width=768, num_layers=12, num_heads=12),
        'h': dict(width=1024, num_layers=24, num_heads=16),
    }

    def __init__(self,
                 arch: str = 'b',
                 embed_dims: int = 512,
                 vocab_size: int = CLIP_VOCAB_SIZE,
                 context_length: int = 32,
                 width: Optional[int] = None,
                 num_layers: Optional[int] = None,
                 num_heads: Optional[int] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if arch not in self.arch_zoo:
            raise KeyError(f'CausalTextTransformer: arch {arch!r} is not '
                           f'one of {sorted(self.arch_zoo)}')
        preset = self.arch_zoo[arch]
        width = width or preset['width']
        num_layers = num_layers or preset['num_layers']
        num_heads = num_heads or preset['num_heads']
        if width % num_heads:
            raise ValueError(f'CausalTextTransformer: width {width} is not '
                             f'divisible by num_heads {num_heads}')
        self.vocab_size = vocab_size
        self.context_length = context_length
        self.width = width
        self.embed_dims = embed_dims
        self.transformer = Transformer(
            width, num_layers, num_heads,
            attn_mask=CLIP.build_attention_mask(self))
        self.token_embedding = nn.Embedding(vocab_size, width)
        self.positional_embedding = nn.Parameter(
            torch.empty(context_length, width))
        self.ln_final = LayerNorm(width)
        self.text_projection = nn.Parameter(torch.empty(width, embed_dims))
        CLIP.initialize_parameters(self)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """``[N, context_length]`` token ids -> ``[N, embed_dims]``."""
        if tokens.dim() != 2 or tokens.shape[1] != self.context_length:
            raise ValueError(
                f'CausalTextTransformer: tokens of shape {tuple(tokens.shape)}'
                f', expected [N, {self.context_length}] (context_length); '
                'tokenise with the same context_length')
        if tokens.numel() and int(tokens.max()) >= self.vocab_size:
            raise ValueError(f'CausalTextTransformer: token id '
                             f'{int(tokens.max())} >= vocab_size='
                             f'{self.vocab_size}')
        x = self.token_embedding(tokens) + self.positional_embedding
        x = self.transformer(x.permute(1, 0, 2))[0].permute(1, 0, 2)
        x = self.ln_final(x)
        eot = tokens.argmax(dim=-1)
        return x[torch.arange(x.shape[0], device=x.device), eot] \
            @ self.text_projection
