"""G2SD stage 2 for semantic segmentation (mmseg).

Official (``G2SD_seg_dis``): UperNet students/teachers on MAE ViTs; the
loss adds channel-wise distillation of the decode head's logits
(``decode_head.conv_seg`` output) with tau 1 and weight 3 to the student's
own losses; the teacher is the fine-tuned UperNet ViT-B, frozen, in eval
mode.
"""
from typing import Union

import torch
import torch.nn as nn
from mmseg.models.segmentors import EncoderDecoder
from mmseg.registry import MODELS

from .losses import channel_wise_divergence
from .teacher import FrozenTeacherMixin, capture_outputs


@MODELS.register_module()
class ChannelWiseDivergenceLoss(nn.Module):
    """Channel-wise distillation loss (see :func:`channel_wise_divergence`).

    Args:
        tau (float): Temperature. Defaults to 1.0.
        loss_weight (float): Defaults to 3.0 (official ``run.sh``).
        subtract_teacher_entropy (bool): Log the KL (True) or the official
            cross-entropy (False); same gradient. Defaults to True.
        loss_name (str): Key in the loss dict. Defaults to ``'loss_cwd'``.
    """

    def __init__(self, tau: float = 1.0, loss_weight: float = 3.0,
                 subtract_teacher_entropy: bool = True,
                 loss_name: str = 'loss_cwd') -> None:
        super().__init__()
        if tau <= 0:
            raise ValueError(f'tau must be > 0, got {tau}')
        self.tau = tau
        self.loss_weight = loss_weight
        self.subtract_teacher_entropy = subtract_teacher_entropy
        self.loss_name = loss_name

    def forward(self, student_logits: torch.Tensor,
                teacher_logits: torch.Tensor) -> torch.Tensor:
        return self.loss_weight * channel_wise_divergence(
            student_logits, teacher_logits, self.tau,
            self.subtract_teacher_entropy)


@MODELS.register_module()
class G2SDEncoderDecoder(FrozenTeacherMixin, EncoderDecoder):
    """``EncoderDecoder`` student distilled from a frozen segmentor.

    The student is this model (checkpoint keys as a plain
    ``EncoderDecoder``; inference unchanged). During ``loss`` the
    decode head's logits (output of ``decode_head.conv_seg``) are captured
    and compared with the teacher's decode-head logits on the same images.

    Args:
        teacher (dict | nn.Module): Segmentor with ``extract_feat`` and a
            ``decode_head`` (e.g. ``EncoderDecoder``), weights through its
            ``init_cfg``; same classes and output stride as the student.
        distill_loss (dict): Defaults to ``ChannelWiseDivergenceLoss``
            (tau 1, weight 3).
        save_teacher (bool): Keep the teacher in checkpoints. Defaults to
            False.
        **kwargs: ``EncoderDecoder`` arguments.
    """

    def __init__(self, teacher: Union[dict, nn.Module],
                 distill_loss: dict = dict(type='ChannelWiseDivergenceLoss',
                                           tau=1.0, loss_weight=3.0),
                 save_teacher: bool = False, **kwargs) -> None:
        super().__init__(**kwargs)
        self._setup_teacher(teacher, MODELS, save_teacher)
        self.distill_loss = MODELS.build(distill_loss)

    @torch.no_grad()
    def teacher_logits(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.teacher.decode_head(self.teacher.extract_feat(inputs))

    def loss(self, inputs: torch.Tensor, data_samples) -> dict:
        # decode heads call self.forward() directly: hook the classifier
        # conv (the official distillation point, ``decode_head.conv_seg``)
        with capture_outputs({'logits': self.decode_head.conv_seg}) as out:
            losses = super().loss(inputs, data_samples)
        name = getattr(self.distill_loss, 'loss_name', 'loss_distill')
        losses[name] = self.distill_loss(out['logits'],
                                         self.teacher_logits(inputs))
        return losses
