"""Specific-distillation losses of G2SD (prediction consistency).

Official recipe (``pengzhiliang/G2SD``):

* classification (``engine_finetune_dis.py``): a distillation token with its
  own linear head; ``loss = (CE(cls head, labels) + CE(dist head,
  argmax teacher logits)) / 2`` (DeiT hard distillation);
  :func:`hard_distill_loss`. :func:`soft_distill_loss` (KL at temperature
  T, DeiT's soft variant) is offered as an option.
* segmentation (``G2SD_seg_dis``, ``distill_cwd.py``): channel-wise
  distillation of the decode-head logits, spatial softmax per channel at
  temperature tau, weight 3 (``run.sh``); :func:`channel_wise_divergence`.
* detection (``G2SD_det_dis/tools/plain_distill_net.py``): on every FPN
  level, the teacher's RPN objectness ``m = max_anchors sigmoid(t)`` weights
  an MSE between teacher features and 3x3-conv-adapted student features
  (weight 1e-3) and a BCE between student and teacher objectness
  probabilities (weight 0.1), each normalised by ``sum(m)``;
  :func:`score_masked_distill_loss`.

The official segmentation and detection terms are cross-entropies against
the teacher's soft predictions. With ``subtract_teacher_entropy=True``
(default) we log the KL divergence instead, i.e. the same quantity minus
the teacher's entropy: the gradient is identical, and the loss is 0 when
the student predicts exactly what the teacher predicts.
"""
from typing import Sequence, Tuple

import torch
import torch.nn.functional as F


def hard_distill_loss(student_logits: torch.Tensor,
                      teacher_logits: torch.Tensor) -> torch.Tensor:
    """``CE(student, argmax teacher)`` averaged over the batch."""
    return F.cross_entropy(student_logits, teacher_logits.argmax(-1))


def soft_distill_loss(student_logits: torch.Tensor,
                      teacher_logits: torch.Tensor,
                      tau: float = 1.0) -> torch.Tensor:
    """``tau^2 KL(softmax(t / tau) || softmax(s / tau))``, batch mean."""
    log_s = F.log_softmax(student_logits / tau, dim=-1)
    log_t = F.log_softmax(teacher_logits / tau, dim=-1)
    kl = (log_t.exp() * (log_t - log_s)).sum(-1)
    return kl.mean() * tau**2


def channel_wise_divergence(student_logits: torch.Tensor,
                            teacher_logits: torch.Tensor,
                            tau: float = 1.0,
                            subtract_teacher_entropy: bool = True
                            ) -> torch.Tensor:
    """Channel-wise distillation (Shu et al., ICCV 2021) of (N, C, H, W) maps.

    Each channel map is turned into a distribution over the H * W positions
    by a softmax at temperature ``tau``;
    ``loss = tau^2 / (N C) * sum_{n, c} sum_i p^T_i (log p^T_i - log p^S_i)``
    (the official value omits the ``p^T log p^T`` term when
    ``subtract_teacher_entropy=False``).
    """
    if student_logits.shape != teacher_logits.shape:
        raise ValueError(f'student logits {tuple(student_logits.shape)} and '
                         f'teacher logits {tuple(teacher_logits.shape)} '
                         'differ; use the same classes, crop and head stride')
    num, channels = student_logits.shape[:2]
    log_s = F.log_softmax(student_logits.flatten(2) / tau, dim=-1)
    log_t = F.log_softmax(teacher_logits.flatten(2) / tau, dim=-1)
    p_t = log_t.exp()
    terms = -p_t * log_s
    if subtract_teacher_entropy:
        terms = terms + p_t * log_t
    return terms.sum() * tau**2 / (num * channels)


def score_masked_distill_loss(
        student_feats: Sequence[torch.Tensor],
        teacher_feats: Sequence[torch.Tensor],
        student_scores: Sequence[torch.Tensor],
        teacher_scores: Sequence[torch.Tensor],
        subtract_teacher_entropy: bool = True
) -> Tuple[torch.Tensor, torch.Tensor]:
    """Teacher-score-masked feature and objectness distillation (per level).

    For each level with teacher objectness logits ``t`` (N, A, H, W) and
    ``m = max_A sigmoid(t)`` (N, H, W, no gradient):

    * ``feat = sum_{n,c,h,w} m (f^T - f^S)^2 / sum m``;
    * ``score = sum_{n,a,h,w} m BCE(sigmoid(s), sigmoid(t)) / sum m``
      (minus the teacher's binary entropy when
      ``subtract_teacher_entropy``, i.e. the binary KL);

    both summed over the levels.

    Returns:
        tuple[Tensor, Tensor]: ``(feat, score)`` before weighting.
    """
    if not (len(student_feats) == len(teacher_feats) == len(student_scores)
            == len(teacher_scores)):
        raise ValueError('student/teacher features and scores must have the '
                         'same number of levels, got '
                         f'{len(student_feats)}/{len(teacher_feats)}/'
                         f'{len(student_scores)}/{len(teacher_scores)}')
    feat_loss = student_feats[0].new_zeros(())
    score_loss = student_feats[0].new_zeros(())
    for f_s, f_t, s, t in zip(student_feats, teacher_feats, student_scores,
                              teacher_scores):
        if f_s.shape != f_t.shape or s.shape != t.shape:
            raise ValueError(
                f'level shapes differ: student features {tuple(f_s.shape)} vs '
                f'teacher {tuple(f_t.shape)}, scores {tuple(s.shape)} vs '
                f'{tuple(t.shape)}; use the same neck width, strides and '
                'anchors for student and teacher')
        p_t = t.detach().sigmoid()
        mask = p_t.max(dim=1).values
        norm = mask.sum().clamp(min=torch.finfo(mask.dtype).tiny)
        feat_loss = feat_loss + (
            (f_t.detach() - f_s)**2 * mask[:, None]).sum() / norm
        bce = F.binary_cross_entropy_with_logits(s, p_t, reduction='none')
        if subtract_teacher_entropy:
            bce = bce - F.binary_cross_entropy_with_logits(
                t.detach(), p_t, reduction='none')
        score_loss = score_loss + (bce * mask[:, None]).sum() / norm
    return feat_loss, score_loss
