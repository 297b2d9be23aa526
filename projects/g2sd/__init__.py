"""G2SD: Generic-to-Specific Distillation of Masked Autoencoders (Huang,
Peng et al., CVPR 2023).

Stage 1 (generic, mmpretrain ``G2SD``): a small MAE's decoder regresses a
frozen large MAE's decoder hidden states. Stage 2 (specific): prediction
consistency with a fine-tuned teacher for classification
(``G2SDImageClassifier``), segmentation (``G2SDEncoderDecoder``) and
detection (``G2SDTwoStageDetector``).
"""
from .cls import G2SDDistillClsHead, G2SDDistilledViT, G2SDImageClassifier
from .det import G2SDSingleStageDetector, G2SDTwoStageDetector
from .generic import (G2SD, G2SDHead, G2SDTeacher, decoder_hidden_states,
                      masking_from_noise, shared_noise)
from .losses import (channel_wise_divergence, hard_distill_loss,
                     score_masked_distill_loss, soft_distill_loss)
from .seg import ChannelWiseDivergenceLoss, G2SDEncoderDecoder

__all__ = [
    'G2SD', 'G2SDHead', 'G2SDTeacher', 'decoder_hidden_states',
    'masking_from_noise', 'shared_noise', 'G2SDDistilledViT',
    'G2SDDistillClsHead', 'G2SDImageClassifier', 'G2SDEncoderDecoder',
    'ChannelWiseDivergenceLoss', 'G2SDTwoStageDetector',
    'G2SDSingleStageDetector', 'channel_wise_divergence',
    'hard_distill_loss', 'soft_distill_loss', 'score_masked_distill_loss'
]
