"""FLIP (Li et al., CVPR 2023) for mmpretrain: image-text contrastive
pre-training with random patch dropping, CLIP's text tower and BPE
tokenizer, caption and zero-shot classification datasets, and the retrieval
and zero-shot accuracy metrics."""
from .datasets import COCOCaptions, COCOMainCategory, TokenizeCaption
from .flip import FLIP, ZERO_SHOT_CLASSES, ZERO_SHOT_TEMPLATES
from .flip_loss import (LOGIT_SCALE_INIT, LOGIT_SCALE_MAX, clamp_logit_scale,
                        contrastive_loss, gather_features, l2_normalize)
from .metrics import ImageTextRetrieval, ZeroShotAccuracy
from .text_encoder import CausalTextTransformer
from .tokenizer import CLIP_VOCAB_SIZE

__all__ = [
    'FLIP', 'CausalTextTransformer', 'COCOCaptions', 'COCOMainCategory',
    'TokenizeCaption', 'ImageTextRetrieval', 'ZeroShotAccuracy',
    'ZERO_SHOT_CLASSES', 'ZERO_SHOT_TEMPLATES', 'CLIP_VOCAB_SIZE',
    'contrastive_loss', 'clamp_logit_scale',
    'gather_features', 'l2_normalize', 'LOGIT_SCALE_INIT', 'LOGIT_SCALE_MAX'
]
