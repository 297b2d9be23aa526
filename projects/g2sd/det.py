"""G2SD stage 2 for object detection (mmdet).

Official (``G2SD_det_dis``, detectron2 ViTDet Mask R-CNN): the student's
FPN features go through one 3x3 conv adapter per level; with the frozen
teacher's RPN objectness ``m = max_A sigmoid(t)`` as spatial weight, an MSE
to the teacher's FPN features (weight 0.001) and a BCE between the
student's and teacher's objectness probabilities (weight 0.1) are added to
the detection losses; both weights ramp up linearly over the first 500
iterations. See :func:`projects.g2sd.losses.score_masked_distill_loss`.
"""
from typing import Sequence, Union

import torch
import torch.nn as nn
from mmdet.models.detectors import SingleStageDetector, TwoStageDetector
from mmdet.registry import MODELS
from mmengine.logging import MessageHub

from .losses import score_masked_distill_loss
from .teacher import FrozenTeacherMixin, capture_outputs


class ScoreMaskedDistillMixin(FrozenTeacherMixin):
    """Adds the G2SD detection distillation to an mmdet detector's loss.

    ``score_module`` names the head whose ``forward(feats)`` returns the
    per-level objectness/class logits first (``rpn_head`` for two-stage,
    ``bbox_head`` for single-stage detectors). Student features are the
    neck outputs (``extract_feat``), adapted by one conv per level.
    """

    score_module = 'rpn_head'

    def _setup_distill(self, teacher, adapter_kernel: int, num_levels: int,
                       feat_channels: int, feat_weight: float,
                       score_weight: float, warmup_iters: int,
                       subtract_teacher_entropy: bool,
                       save_teacher: bool) -> None:
        self._setup_teacher(teacher, MODELS, save_teacher)
        if adapter_kernel not in (1, 3):
            raise ValueError(f'adapter_kernel must be 1 or 3, got '
                             f'{adapter_kernel}')
        self.adapters = nn.ModuleList(
            nn.Conv2d(feat_channels, feat_channels, adapter_kernel,
                      padding=adapter_kernel // 2)
            for _ in range(num_levels))
        self.feat_weight = feat_weight
        self.score_weight = score_weight
        self.warmup_iters = warmup_iters
        self.subtract_teacher_entropy = subtract_teacher_entropy

    def get_layer_depth(self, param_name: str):
        """Layer-decay depth from the backbone's ``get_layer_depth`` (for
        mmpretrain's ``LearningRateDecayOptimWrapperConstructor``); every
        non-backbone parameter gets the last depth (full learning rate)."""
        if not hasattr(self.backbone, 'get_layer_depth'):
            raise NotImplementedError(
                f'{type(self.backbone).__name__} has no get_layer_depth(); '
                'layer-wise lr decay needs a ViT-like backbone')
        return self.backbone.get_layer_depth(param_name, 'backbone.')

    def warmup_factor(self) -> float:
        """``min(1, iter / warmup_iters)`` from the runner's message hub
        (1 outside a runner)."""
        if self.warmup_iters <= 0:
            return 1.0
        it = MessageHub.get_current_instance().get_info('iter')
        if it is None:
            return 1.0
        return min(1.0, it / self.warmup_iters)

    @torch.no_grad()
    def teacher_outputs(self, inputs: torch.Tensor):
        feats = self.teacher.extract_feat(inputs)
        scores = getattr(self.teacher, self.score_module)(feats)[0]
        return feats, scores

    def distill_losses(self, student_feats: Sequence[torch.Tensor],
                       student_scores: Sequence[torch.Tensor],
                       inputs: torch.Tensor) -> dict:
        if len(student_feats) != len(self.adapters):
            raise ValueError(f'{len(student_feats)} feature levels but '
                             f'{len(self.adapters)} adapters; set '
                             'num_levels to the neck num_outs')
        teacher_feats, teacher_scores = self.teacher_outputs(inputs)
        adapted = [conv(f) for conv, f in zip(self.adapters, student_feats)]
        feat, score = score_masked_distill_loss(
            adapted, teacher_feats, student_scores, teacher_scores,
            self.subtract_teacher_entropy)
        factor = self.warmup_factor()
        return dict(loss_distill_feat=feat * self.feat_weight * factor,
                    loss_distill_score=score * self.score_weight * factor)

    def loss(self, batch_inputs: torch.Tensor, batch_data_samples) -> dict:
        if not self.with_neck:
            raise ValueError('G2SD detection distillation needs a neck '
                             '(multi-level features)')
        head = getattr(self, self.score_module)
        with capture_outputs({'feats': self.neck, 'head': head}) as out:
            losses = super().loss(batch_inputs, batch_data_samples)
        losses.update(self.distill_losses(out['feats'], out['head'][0],
                                          batch_inputs))
        return losses


_DOC_ARGS = """
    Args:
        teacher (dict | nn.Module): Detector of the same family (same neck
            width, levels and anchors), weights through its ``init_cfg``.
        num_levels (int): Neck levels. Defaults to 5.
        feat_channels (int): Neck width. Defaults to 256.
        adapter_kernel (int): 3 (official) or 1. Defaults to 3.
        feat_weight (float): Defaults to 1e-3.
        score_weight (float): Defaults to 0.1.
        warmup_iters (int): Linear ramp of both weights. Defaults to 500.
        subtract_teacher_entropy (bool): Log the binary KL (True) or the
            official BCE (False); same gradient. Defaults to True.
        save_teacher (bool): Keep the teacher in checkpoints. Defaults to
            False.
        **kwargs: the detector's arguments.
"""


@MODELS.register_module()
class G2SDTwoStageDetector(ScoreMaskedDistillMixin, TwoStageDetector):
    __doc__ = ('Two-stage detector (Faster/Mask R-CNN) with G2SD '
               'distillation on the neck and RPN objectness.\n' + _DOC_ARGS)
    score_module = 'rpn_head'

    def __init__(self, teacher: Union[dict, nn.Module], num_levels: int = 5,
                 feat_channels: int = 256, adapter_kernel: int = 3,
                 feat_weight: float = 1e-3, score_weight: float = 0.1,
                 warmup_iters: int = 500,
                 subtract_teacher_entropy: bool = True,
                 save_teacher: bool = False, **kwargs) -> None:
        super().__init__(**kwargs)
        self._setup_distill(teacher, adapter_kernel, num_levels,
                            feat_channels, feat_weight, score_weight,
                            warmup_iters, subtract_teacher_entropy,
                            save_teacher)


@MODELS.register_module()
class G2SDSingleStageDetector(ScoreMaskedDistillMixin, SingleStageDetector):
    __doc__ = ('Single-stage detector (RetinaNet, ...) with the G2SD '
               'distillation applied to the neck and the sigmoid class '
               'scores of bbox_head (not in the paper).\n' + _DOC_ARGS)
    score_module = 'bbox_head'

    def __init__(self, teacher: Union[dict, nn.Module], num_levels: int = 5,
                 feat_channels: int = 256, adapter_kernel: int = 3,
                 feat_weight: float = 1e-3, score_weight: float = 0.1,
                 warmup_iters: int = 500,
                 subtract_teacher_entropy: bool = True,
                 save_teacher: bool = False, **kwargs) -> None:
        super().__init__(**kwargs)
        self._setup_distill(teacher, adapter_kernel, num_levels,
                            feat_channels, feat_weight, score_weight,
                            warmup_iters, subtract_teacher_entropy,
                            save_teacher)
