"""FLIP (Li et al., CVPR 2023) for mmpretrain: image-text contrastive
pre-training with random patch dropping, a caption dataset, tokenizers and
a retrieval metric."""
from .datasets import COCOCaptions, TokenizeCaption
from .flip import FLIP
from .flip_loss import (LOGIT_SCALE_INIT, LOGIT_SCALE_MAX, clamp_logit_scale,
                        contrastive_loss, gather_features, l2_normalize)
from .metrics import ImageTextRetrieval
from .text_encoder import CausalTextTransformer
from .tokenizer import (HFCLIPTokenizer, WordTokenizer, build_vocab,
                        split_words, tokenize, write_vocab)

__all__ = [
    'FLIP', 'CausalTextTransformer', 'COCOCaptions', 'TokenizeCaption',
    'ImageTextRetrieval', 'WordTokenizer', 'HFCLIPTokenizer', 'build_vocab',
    'split_words', 'tokenize', 'write_vocab', 'contrastive_loss',
    'clamp_logit_scale', 'gather_features', 'l2_normalize',
    'LOGIT_SCALE_INIT', 'LOGIT_SCALE_MAX'
]
