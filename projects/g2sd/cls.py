"""G2SD stage 2 for classification: distillation-token fine-tuning.

Official (``main_finetune_dis.py`` / ``engine_finetune_dis.py`` /
``models_vit.py``): the ViT-S student (initialised from the generic stage)
gets a distillation token appended after the patch tokens (no position
embedding) and a second linear head; the fine-tuned MAE ViT-B teacher sees
the same (mixed) images; ``loss = (L_gt(cls head) + CE(dist head, argmax
teacher)) / 2``; at test time the two heads' logits are averaged.
"""
from typing import List, Optional, Tuple, Union

import torch
import torch.nn as nn
from mmpretrain.models import ImageClassifier, VisionTransformer
from mmpretrain.models.heads import DeiTClsHead
from mmpretrain.models.utils import resize_pos_embed
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

from .losses import hard_distill_loss, soft_distill_loss
from .teacher import FrozenTeacherMixin


@MODELS.register_module()
class G2SDDistilledViT(VisionTransformer):
    """ViT with a distillation token appended AFTER the patch tokens.

    The layout of the official G2SD student (unlike DeiT, which puts the
    token second and gives it a position embedding): the position embedding
    keeps ``1 + L`` entries, so MAE / G2SD generic-stage checkpoints load
    unchanged. Outputs ``(cls_token, dist_token)`` after the final norm for
    each ``out_indices`` entry (``out_type='cls_token'`` only).
    """

    def __init__(self, *args, out_type: str = 'cls_token', **kwargs):
        if out_type != 'cls_token':
            raise ValueError("G2SDDistilledViT supports out_type='cls_token' "
                             f'only, got {out_type!r}')
        kwargs.setdefault('with_cls_token', True)
        if not kwargs['with_cls_token']:
            raise ValueError('G2SDDistilledViT needs the cls token')
        super().__init__(*args, out_type=out_type, **kwargs)
        self.dist_token = nn.Parameter(torch.zeros(1, 1, self.embed_dims))

    def init_weights(self):
        super().init_weights()
        if not (isinstance(self.init_cfg, dict)
                and self.init_cfg.get('type') == 'Pretrained'):
            nn.init.trunc_normal_(self.dist_token, std=0.02)

    def forward(self, x: torch.Tensor) -> Tuple[Tuple[torch.Tensor, ...]]:
        batch = x.shape[0]
        x, patch_resolution = self.patch_embed(x)
        x = torch.cat([self.cls_token.expand(batch, -1, -1), x], dim=1)
        x = x + resize_pos_embed(self.pos_embed, self.patch_resolution,
                                 patch_resolution, mode=self.interpolate_mode,
                                 num_extra_tokens=self.num_extra_tokens)
        x = torch.cat([x, self.dist_token.expand(batch, -1, -1)], dim=1)
        x = self.drop_after_pos(x)
        x = self.pre_norm(x)
        outs = []
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i == len(self.layers) - 1 and self.final_norm:
                x = self.ln1(x)
            if i in self.out_indices:
                outs.append((x[:, 0], x[:, -1]))
        return tuple(outs)

    def get_layer_depth(self, param_name: str, prefix: str = ''):
        """Layer-decay depth: the distillation token sits with the stem."""
        if param_name == prefix + 'dist_token':
            return 0, self.num_layers + 2
        return super().get_layer_depth(param_name, prefix)


@MODELS.register_module()
class G2SDDistillClsHead(DeiTClsHead):
    """Two linear heads (cls and distillation token) with the G2SD loss.

    ``loss = (1 - w) * L_gt(head(cls)) + w * L_dist(head_dist(dist), t)``
    with ``w = distill_weight`` (0.5 in the official code) and ``L_gt`` the
    head's ``loss`` config (label-smoothing / soft mixup targets as usual).

    Args:
        distill_type (str): ``'hard'`` (official: CE against the teacher's
            argmax) or ``'soft'`` (``tau^2`` KL at temperature ``tau``).
        tau (float): Temperature of the soft variant. Defaults to 1.0.
        distill_weight (float): ``w`` above. Defaults to 0.5.
    """

    def __init__(self, *args, distill_type: str = 'hard', tau: float = 1.0,
                 distill_weight: float = 0.5, **kwargs):
        super().__init__(*args, **kwargs)
        if distill_type not in ('hard', 'soft'):
            raise ValueError("distill_type must be 'hard' or 'soft', got "
                             f'{distill_type!r}')
        if not 0 <= distill_weight <= 1:
            raise ValueError(f'distill_weight must be in [0, 1], got '
                             f'{distill_weight}')
        self.distill_type = distill_type
        self.tau = tau
        self.distill_weight = distill_weight

    def forward(self, feats) -> torch.Tensor:
        """Average of the two heads' logits (inference)."""
        cls_token, dist_token = self.pre_logits(feats)
        return (self.layers.head(cls_token) +
                self.layers.head_dist(dist_token)) / 2

    def distill_loss(self, dist_logits: torch.Tensor,
                     teacher_logits: torch.Tensor) -> torch.Tensor:
        if self.distill_type == 'hard':
            return hard_distill_loss(dist_logits, teacher_logits)
        return soft_distill_loss(dist_logits, teacher_logits, self.tau)

    def loss(self, feats, data_samples: List[DataSample],
             teacher_logits: Optional[torch.Tensor] = None, **kwargs):
        """Losses ``loss_cls`` (ground truth) and ``loss_distill``."""
        if teacher_logits is None:
            raise ValueError('G2SDDistillClsHead.loss needs teacher_logits; '
                             'use it inside G2SDImageClassifier')
        cls_token, dist_token = self.pre_logits(feats)
        cls_score = self.layers.head(cls_token)
        dist_score = self.layers.head_dist(dist_token)
        losses = self._get_loss(cls_score, data_samples, **kwargs)
        losses['loss'] = losses['loss'] * (1 - self.distill_weight)
        losses['loss_cls'] = losses.pop('loss')
        losses['loss_distill'] = self.distill_weight * self.distill_loss(
            dist_score, teacher_logits)
        return losses


@MODELS.register_module()
class G2SDImageClassifier(FrozenTeacherMixin, ImageClassifier):
    """Image classifier trained with a frozen fine-tuned teacher.

    Args:
        teacher (dict | nn.Module): A classifier (e.g. ``ImageClassifier``)
            whose ``forward(x, mode='tensor')`` returns class logits;
            weights through its ``init_cfg``. It sees the same
            preprocessed (and batch-augmented) images as the student.
        save_teacher (bool): Keep the teacher in checkpoints. Defaults to
            False.
        **kwargs: ``ImageClassifier`` arguments; the head must accept
            ``teacher_logits`` in ``loss`` (``G2SDDistillClsHead``).
    """

    def __init__(self, teacher: Union[dict, nn.Module],
                 save_teacher: bool = False, **kwargs) -> None:
        super().__init__(**kwargs)
        self._setup_teacher(teacher, MODELS, save_teacher)

    @torch.no_grad()
    def teacher_logits(self, inputs: torch.Tensor) -> torch.Tensor:
        logits = self.teacher(inputs, mode='tensor')
        if isinstance(logits, (tuple, list)):
            logits = logits[-1]
        return logits.detach()

    def loss(self, inputs: torch.Tensor,
             data_samples: List[DataSample]) -> dict:
        feats = self.extract_feat(inputs)
        logits = self.teacher_logits(inputs)
        if logits.shape[-1] != self.head.num_classes:
            raise ValueError(f'teacher predicts {logits.shape[-1]} classes, '
                             f'the student head {self.head.num_classes}')
        return self.head.loss(feats, data_samples, teacher_logits=logits)

