"""A small CLIP-style text Transformer: causal attention, EOT pooling."""
import torch
import torch.nn as nn
from mmengine.model import BaseModule
from mmpretrain.registry import MODELS


@MODELS.register_module()
class CausalTextTransformer(BaseModule):
    """CLIP's text tower: token + learnt position embeddings, pre-norm
    Transformer layers with a causal mask, a final LayerNorm, and the
    feature at the EOT token (the first ``eot_id`` of each row).

    With the causal mask, the EOT feature depends only on the tokens up to
    EOT, so padding after it never changes the output (no padding mask is
    needed).

    Args:
        vocab_size (int): Embedding rows (>= the tokenizer's vocabulary).
        context_length (int): Maximum sequence length.
        width (int): Model width.
        num_layers (int): Transformer layers.
        num_heads (int): Attention heads.
        mlp_ratio (float): Hidden size of the MLP over ``width``.
        eot_id (int): Id of the end-of-text token (``WordTokenizer``: 3;
            CLIP BPE: 49407).
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(self,
                 vocab_size: int,
                 context_length: int = 32,
                 width: int = 512,
                 num_layers: int = 12,
                 num_heads: int = 8,
                 mlp_ratio: float = 4.,
                 eot_id: int = 3,
                 init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        if width % num_heads:
            raise ValueError(f'CausalTextTransformer: width {width} is not '
                             f'divisible by num_heads {num_heads}')
        self.vocab_size = vocab_size
        self.context_length = context_length
        self.width = width
        self.eot_id = eot_id
        self.token_embed = nn.Embedding(vocab_size, width)
        self.pos_embed = nn.Parameter(torch.zeros(1, context_length, width))
        self.layers = nn.ModuleList(
            nn.TransformerEncoderLayer(
                width, num_heads, dim_feedforward=int(width * mlp_ratio),
                dropout=0., activation='gelu', batch_first=True,
                norm_first=True) for _ in range(num_layers))
        self.ln_final = nn.LayerNorm(width)
        mask = torch.full((context_length, context_length), float('-inf'))
        self.register_buffer('causal_mask', mask.triu(1), persistent=False)

    def init_weights(self) -> None:
        super().init_weights()
        # official FLIP: N(0, 0.02) for the token and position embeddings
        nn.init.normal_(self.token_embed.weight, std=0.02)
        nn.init.normal_(self.pos_embed, std=0.02)

    def eot_positions(self, tokens: torch.Tensor) -> torch.Tensor:
        is_eot = tokens == self.eot_id
        if not bool(is_eot.any(-1).all()):
            raise ValueError('CausalTextTransformer: a token row has no EOT '
                             f'token (id {self.eot_id}); check the tokenizer '
                             'and `text_encoder.eot_id`')
        return is_eot.int().argmax(-1)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """``[N, L]`` token ids -> ``[N, width]`` features at EOT."""
        n, length = tokens.shape
        if length > self.context_length:
            raise ValueError(f'CausalTextTransformer: {length} tokens, more '
                             f'than context_length={self.context_length}')
        if int(tokens.max()) >= self.vocab_size:
            raise ValueError(f'CausalTextTransformer: token id '
                             f'{int(tokens.max())} >= vocab_size='
                             f'{self.vocab_size}; raise `vocab_size` to the '
                             'tokenizer vocabulary size')
        x = self.token_embed(tokens) + self.pos_embed[:, :length]
        mask = self.causal_mask[:length, :length]
        for layer in self.layers:
            x = layer(x, src_mask=mask)
        x = self.ln_final(x)
        return x[torch.arange(n, device=x.device), self.eot_positions(tokens)]
