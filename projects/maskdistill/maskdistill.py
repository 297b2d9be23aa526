"""MaskDistill: masked image modelling that regresses the LayerNorm'ed
features of a frozen teacher at the masked positions.

``loss = SmoothL1_beta( Head(Student(x masked)), LN(Teacher(x)) )`` averaged
over the masked tokens (Peng et al., "A Unified View of Masked Image
Modeling", 2022, Eq. 1 with the MaskDistill choices).
"""
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmpretrain.models.selfsup.base import BaseSelfSupervisor
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample


def layer_norm_target(feats: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """LayerNorm without affine parameters over the channel dimension.

    ``(f - mean_c f) / sqrt(var_c f + eps)`` per token, the biased variance
    (as ``nn.LayerNorm(C, elementwise_affine=False)``).
    """
    return F.layer_norm(feats, feats.shape[-1:], eps=eps)


@MODELS.register_module()
class MaskDistill(BaseSelfSupervisor):
    """MaskDistill self-supervised pre-training.

    The student (``backbone``, a dense ViT such as ``BEiTPretrainViT`` whose
    ``forward(x, mask)`` replaces the masked patch embeddings by a learnable
    mask token and encodes all tokens) sees the block-masked image; the frozen
    ``teacher`` sees the full image. Targets are the teacher's last-layer
    patch tokens normalised by LayerNorm without affine; the ``head`` (one
    Linear in the paper) maps student tokens to the teacher width and the
    loss is Smooth-L1 (beta 2.0) averaged over the masked tokens only.

    Official ViT-B/16 recipe (paper appendix, per the reference notes):
    CLIP-B/16 teacher, block-wise masking of 40 % of the 14 x 14 patches,
    shared relative position bias, layer scale 0.1, AdamW lr 1.5e-3 at
    batch 2048, weight decay 0.05, 10 warm-up epochs + cosine, 300 epochs.
    See ``configs/maskdistill``.

    Args:
        backbone (dict): Student config; must accept ``(x, mask)`` with
            ``mask`` of shape (B, H, W) on its patch grid and return a tuple
            whose last item is (B, [extra +] H * W, C) tokens.
        head (dict): ``MaskDistillHead`` config.
        teacher (dict | nn.Module): Any registered backbone producing patch
            tokens at the student's grid: (B, [extra +] H * W, C) (leading
            extra tokens such as cls are dropped) or (B, C, H, W). Load its
            weights with ``init_cfg=dict(type='Pretrained', ...)``. It is
            frozen: no gradients, always in eval mode.
        teacher_mean (Sequence[float], optional): Pixel mean the teacher was
            trained with (e.g. CLIP's). When given with ``teacher_std``, the
            student's normalised input is mapped back to pixels with the
            data preprocessor's mean/std and re-normalised for the teacher.
        teacher_std (Sequence[float], optional): Pixel std of the teacher.
        teacher_input_size (int, optional): Resize the teacher input to this
            square size (bicubic), e.g. for a teacher whose patch size
            differs from the student's. Defaults to None (same input).
        target_eps (float): LayerNorm epsilon of the targets. Defaults to
            1e-6.
        save_teacher (bool): Keep the teacher weights in ``state_dict``
            (and so in every checkpoint). Defaults to False: the teacher is
            rebuilt from its ``init_cfg``; missing ``teacher.*`` keys are
            ignored on load.
        data_preprocessor (dict, optional): Defaults to
            ``SelfSupDataPreprocessor``.
        init_cfg (dict, optional): Initialization config.
    """

    def __init__(self,
                 backbone: dict,
                 head: dict,
                 teacher: Union[dict, nn.Module],
                 teacher_mean: Optional[Sequence[float]] = None,
                 teacher_std: Optional[Sequence[float]] = None,
                 teacher_input_size: Optional[int] = None,
                 target_eps: float = 1e-6,
                 save_teacher: bool = False,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(backbone=backbone, head=head,
                         data_preprocessor=data_preprocessor,
                         init_cfg=init_cfg)
        if (teacher_mean is None) != (teacher_std is None):
            raise ValueError('teacher_mean and teacher_std must be given '
                             'together')
        self.teacher = teacher if isinstance(teacher, nn.Module) \
            else MODELS.build(teacher)
        for param in self.teacher.parameters():
            param.requires_grad_(False)
        self.teacher.eval()
        if teacher_mean is not None:
            self.register_buffer(
                'teacher_mean',
                torch.tensor(teacher_mean, dtype=torch.float).view(-1, 1, 1),
                persistent=False)
            self.register_buffer(
                'teacher_std',
                torch.tensor(teacher_std, dtype=torch.float).view(-1, 1, 1),
                persistent=False)
        else:
            self.teacher_mean = self.teacher_std = None
        self.teacher_input_size = teacher_input_size
        self.target_eps = target_eps
        self.save_teacher = save_teacher
        if not save_teacher:
            self._register_state_dict_hook(_drop_teacher_keys)
            self.register_load_state_dict_post_hook(_ignore_missing_teacher)

    def train(self, mode: bool = True) -> 'MaskDistill':
        """Set train/eval mode; the teacher always stays in eval mode."""
        super().train(mode)
        self.teacher.eval()
        return self

    def init_weights(self) -> None:
        """Initialise (or load) all parts, then re-freeze the teacher."""
        super().init_weights()
        for param in self.teacher.parameters():
            param.requires_grad_(False)

    def extract_feat(self, inputs: torch.Tensor) -> Tuple[torch.Tensor]:
        """Student features of unmasked images (for downstream use)."""
        return self.backbone(inputs, mask=None)

    def _teacher_input(self, img: torch.Tensor) -> torch.Tensor:
        if self.teacher_mean is not None:
            pre = self.data_preprocessor
            if getattr(pre, '_enable_normalize', False):
                img = img * pre.std + pre.mean
            img = (img - self.teacher_mean) / self.teacher_std
        if self.teacher_input_size is not None and \
                img.shape[-2:] != (self.teacher_input_size,) * 2:
            img = F.interpolate(img, size=self.teacher_input_size,
                                mode='bicubic', align_corners=False)
        return img

    @torch.no_grad()
    def teacher_tokens(self, img: torch.Tensor,
                       grid: Tuple[int, int]) -> torch.Tensor:
        """Teacher last-layer patch tokens (B, H * W, C) of normalised images.

        Raises:
            ValueError: if the teacher grid differs from ``grid``.
        """
        out = self.teacher(self._teacher_input(img))
        if isinstance(out, (tuple, list)):
            out = out[-1]
        num = grid[0] * grid[1]
        if out.dim() == 4:
            if tuple(out.shape[-2:]) != tuple(grid):
                raise ValueError(
                    f'teacher feature map {tuple(out.shape[-2:])} does not '
                    f'match the mask grid {tuple(grid)}; set model.teacher '
                    'patch size / teacher_input_size accordingly')
            return out.flatten(2).transpose(1, 2)
        if out.dim() != 3 or out.shape[1] < num:
            raise ValueError(
                f'teacher output {tuple(out.shape)} has no {num} patch '
                f'tokens for the {tuple(grid)} mask grid; use a teacher with '
                "out_type='raw' (B, L, C) or 'featmap' (B, C, H, W) at the "
                "student's grid")
        return out[:, out.shape[1] - num:]

    def loss(self, inputs: Union[torch.Tensor, List[torch.Tensor]],
             data_samples: List[DataSample],
             **kwargs) -> Dict[str, torch.Tensor]:
        """Masked feature distillation loss.

        Args:
            inputs (Tensor | list[Tensor]): Normalised images (B, 3, H, W)
                (the first view if a list).
            data_samples (list[DataSample]): Each with a ``mask`` (H', W')
                from ``BEiTMaskGenerator``, 1 at masked patches.

        Returns:
            dict[str, Tensor]: ``loss``.
        """
        img = inputs[0] if isinstance(inputs, (list, tuple)) else inputs
        mask = torch.stack([torch.as_tensor(s.mask) for s in data_samples])
        mask = mask.to(img.device)
        grid = tuple(mask.shape[-2:])
        num = grid[0] * grid[1]

        feats = self.backbone(img, mask)
        if isinstance(feats, (tuple, list)):
            feats = feats[-1]
        extra = feats.shape[1] - num
        if feats.dim() != 3 or extra < 0 or \
                extra > getattr(self.backbone, 'num_extra_tokens', 1):
            raise ValueError(
                f'student output {tuple(feats.shape)} does not hold the '
                f'{num} patch tokens of the {grid} mask grid; check '
                'BEiTMaskGenerator.input_size = image size / patch size')
        student = feats[:, extra:]

        target = layer_norm_target(self.teacher_tokens(img, grid),
                                   self.target_eps)
        loss = self.head.loss(student, target.detach(), mask)
        return dict(loss=loss)


def _drop_teacher_keys(module, state_dict, prefix, local_metadata):
    for key in [k for k in state_dict if k.startswith(prefix + 'teacher.')]:
        del state_dict[key]
    return state_dict


def _ignore_missing_teacher(module, incompatible_keys):
    missing = incompatible_keys.missing_keys
    missing[:] = [k for k in missing if not k.startswith('teacher.')
                  and '.teacher.' not in k]
