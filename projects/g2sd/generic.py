"""G2SD stage 1, generic distillation (Huang et al., CVPR 2023).

A small MAE (encoder + decoder) is trained so that its decoder, followed by
a 2-layer MLP, predicts the LayerNorm'ed hidden states of a frozen large MAE
teacher's decoder. Teacher and student mask the same patches (one random
noise per batch drives both ``argsort`` shuffles).

With the official choices (``pengzhiliang/G2SD``, ``main_distill.py`` /
``engine_distill.py``): teacher MAE ViT-B (decoder 512-d, 8 blocks) cut
after decoder block 4 (``target_layer=4``, no decoder norm), student MAE
ViT-S with a 256-d 4-block decoder whose last hidden state (no decoder
norm) goes through ``Linear(256, 512)-GELU-Linear(512, 512)``; all
``1 + L`` tokens (cls included) are supervised (``supervise_all=True``);
target ``LN(h_t)`` without affine, eps 1e-6; loss Smooth-L1 with beta 2.0
averaged over every element; mask ratio 0.75.
"""
from contextlib import contextmanager
from typing import Dict, List, Optional, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule
from mmpretrain.models.selfsup.base import BaseSelfSupervisor
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

from projects.maskdistill import layer_norm_target, masked_smooth_l1
from .teacher import FrozenTeacherMixin


def masking_from_noise(x: torch.Tensor, mask_ratio: float,
                       noise: torch.Tensor
                       ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """MAE per-sample random masking driven by a given ``noise`` (B, L).

    Keeps the ``int(L * (1 - mask_ratio))`` tokens with the smallest noise
    (in increasing-noise order), as ``MAEViT.random_masking`` does with its
    own ``torch.rand`` noise.

    Returns:
        tuple: ``x_kept`` (B, L_keep, C), ``mask`` (B, L) with 1 at removed
        tokens, ``ids_restore`` (B, L).
    """
    num, length, dims = x.shape
    if noise.shape != (num, length):
        raise ValueError(f'noise {tuple(noise.shape)} must be (batch, tokens)'
                         f' = {(num, length)}')
    len_keep = int(length * (1 - mask_ratio))
    ids_shuffle = torch.argsort(noise, dim=1)
    ids_restore = torch.argsort(ids_shuffle, dim=1)
    ids_keep = ids_shuffle[:, :len_keep]
    x_kept = torch.gather(x, 1, ids_keep.unsqueeze(-1).expand(-1, -1, dims))
    mask = torch.ones(num, length, device=x.device, dtype=x.dtype)
    mask[:, :len_keep] = 0
    mask = torch.gather(mask, 1, ids_restore)
    return x_kept, mask, ids_restore


@contextmanager
def shared_noise(encoder: nn.Module, noise: torch.Tensor):
    """Make an ``MAEViT``-like encoder mask with the given noise.

    The encoder's own ``forward(x, mask=True)`` is used unchanged; only its
    ``random_masking(x, mask_ratio)`` is bound to :func:`masking_from_noise`
    for the duration of the block.
    """
    if not hasattr(encoder, 'random_masking'):
        raise TypeError(f'{type(encoder).__name__} has no random_masking(); '
                        'G2SD needs MAE-style encoders (e.g. MAEViT) for the '
                        'student and the teacher')

    def random_masking(x, mask_ratio=0.75):
        return masking_from_noise(x, mask_ratio, noise)

    encoder.random_masking = random_masking
    try:
        yield encoder
    finally:
        del encoder.random_masking


def decoder_hidden_states(decoder: nn.Module, latent: torch.Tensor,
                          ids_restore: torch.Tensor,
                          num_layers: Optional[int] = None) -> torch.Tensor:
    """Hidden states of an ``MAEPretrainDecoder`` after ``num_layers`` blocks.

    Embeds the visible tokens (cls first), inserts the mask tokens, restores
    the patch order, adds the decoder position embedding and applies the
    first ``num_layers`` blocks (all when None). The decoder norm and the
    pixel projection are not applied (as the official ``forward_decoder``).

    Returns:
        Tensor: (B, 1 + L, C_dec), cls token first.
    """
    blocks = decoder.decoder_blocks
    if num_layers is not None and not 1 <= num_layers <= len(blocks):
        raise ValueError(f'target layer {num_layers} is outside the '
                         f'decoder\'s 1..{len(blocks)} blocks')
    x = decoder.decoder_embed(latent)
    num_mask = ids_restore.shape[1] + 1 - x.shape[1]
    mask_tokens = decoder.mask_token.expand(x.shape[0], num_mask, -1)
    patches = torch.cat([x[:, 1:], mask_tokens.to(x.dtype)], dim=1)
    patches = torch.gather(
        patches, 1, ids_restore.unsqueeze(-1).expand(-1, -1, x.shape[2]))
    x = torch.cat([x[:, :1], patches], dim=1) + decoder.decoder_pos_embed
    for block in blocks[:num_layers]:
        x = block(x)
    return x


@MODELS.register_module()
class G2SDTeacher(BaseModule):
    """A frozen MAE (``backbone`` encoder + ``neck`` decoder) as G2SD teacher.

    Its keys match mmpretrain's ``MAE`` checkpoints (``backbone.*``,
    ``neck.*``), so ``init_cfg=dict(type='Pretrained', checkpoint=...)``
    with an mmpretrain MAE pre-training checkpoint loads it directly.
    """

    def __init__(self, backbone: dict, neck: dict,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.backbone = MODELS.build(backbone)
        self.neck = MODELS.build(neck)


@MODELS.register_module()
class G2SDHead(BaseModule):
    """Decoder-feature predictor of the G2SD student and its loss.

    ``Linear(in, hidden)-GELU-Linear(hidden, out)`` (the official ``Mlp``
    with ``hidden = out = teacher decoder width``), then Smooth-L1 against
    the targets: over every token (``supervise_all=True``, official) or over
    the masked patch tokens only.

    Args:
        in_channels (int): Student decoder width.
        out_channels (int): Teacher decoder width.
        hidden_channels (int, optional): Defaults to ``out_channels``.
        beta (float): Smooth-L1 threshold. Defaults to 2.0.
        supervise_all (bool): Supervise all tokens (cls included) instead of
            the masked patches only. Defaults to True.
        init_cfg (dict, optional): Defaults to Xavier-uniform Linear layers
            with zero bias (the official initialisation).
    """

    def __init__(self, in_channels: int, out_channels: int,
                 hidden_channels: Optional[int] = None, beta: float = 2.0,
                 supervise_all: bool = True,
                 init_cfg=dict(type='Xavier', layer='Linear',
                               distribution='uniform')) -> None:
        super().__init__(init_cfg=init_cfg)
        if beta <= 0:
            raise ValueError(f'beta must be > 0, got {beta}')
        hidden = hidden_channels or out_channels
        self.mlp = nn.Sequential(nn.Linear(in_channels, hidden), nn.GELU(),
                                 nn.Linear(hidden, out_channels))
        self.beta = beta
        self.supervise_all = supervise_all

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.mlp(hidden)

    def loss(self, hidden: torch.Tensor, target: torch.Tensor,
             mask: torch.Tensor) -> torch.Tensor:
        """Smooth-L1 of ``mlp(hidden)`` (B, 1 + L, C) against ``target``.

        ``mask`` (B, L) marks the removed patches (used when
        ``supervise_all=False``).
        """
        pred = self(hidden)
        if pred.shape != target.shape:
            raise ValueError(f'student prediction {tuple(pred.shape)} and '
                             f'teacher target {tuple(target.shape)} differ; '
                             'set head.out_channels to the teacher decoder '
                             'width and give both the same patch grid')
        if self.supervise_all:
            return F.smooth_l1_loss(pred, target, beta=self.beta)
        return masked_smooth_l1(pred[:, 1:], target[:, 1:], mask, self.beta)


@MODELS.register_module()
class G2SD(FrozenTeacherMixin, BaseSelfSupervisor):
    """G2SD generic distillation as an mmpretrain self-supervised algorithm.

    Args:
        backbone (dict): Student MAE encoder (``MAEViT``); its
            ``mask_ratio`` is used for student and teacher.
        neck (dict): Student MAE decoder (``MAEPretrainDecoder``). Its
            pixel projection and final norm are not used and are removed.
        head (dict): ``G2SDHead``.
        teacher (dict | nn.Module): Frozen MAE teacher with ``backbone``
            (MAE-style encoder with ``random_masking``) and ``neck``
            (``MAEPretrainDecoder``), e.g. ``G2SDTeacher`` loading an
            mmpretrain MAE checkpoint through its ``init_cfg``.
        target_layer (int): Teacher decoder block whose output is the
            target (1-based). Defaults to 4.
        target_eps (float): LayerNorm epsilon of the target. Defaults to
            1e-6.
        save_teacher (bool): Keep the teacher in checkpoints. Defaults to
            False.
        data_preprocessor (dict, optional): Defaults to
            ``SelfSupDataPreprocessor``.
        init_cfg (dict, optional): Initialization config.
    """

    def __init__(self,
                 backbone: dict,
                 neck: dict,
                 head: dict,
                 teacher: Union[dict, nn.Module],
                 target_layer: int = 4,
                 target_eps: float = 1e-6,
                 save_teacher: bool = False,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(backbone=backbone, neck=neck, head=head,
                         data_preprocessor=data_preprocessor,
                         init_cfg=init_cfg)
        self._setup_teacher(teacher, MODELS, save_teacher)
        for part in ('backbone', 'neck'):
            if not hasattr(self.teacher, part):
                raise ValueError(f'the G2SD teacher needs a `{part}` (MAE '
                                 'encoder + decoder, e.g. G2SDTeacher)')
        depth = len(self.teacher.neck.decoder_blocks)
        if not 1 <= target_layer <= depth:
            raise ValueError(f'target_layer={target_layer} is outside the '
                             f'teacher decoder\'s 1..{depth} blocks')
        self.target_layer = target_layer
        self.target_eps = target_eps
        # the student's pixel head is not part of G2SD: drop it so that no
        # parameter is left without gradient (DDP)
        self.neck.decoder_pred = nn.Identity()
        setattr(self.neck, self.neck.decoder_norm_name, nn.Identity())

    def extract_feat(self, inputs: torch.Tensor):
        """Student encoder features of unmasked images."""
        return self.backbone(inputs, mask=None)

    def student_hidden(self, img: torch.Tensor, noise: torch.Tensor
                       ) -> Tuple[torch.Tensor, torch.Tensor]:
        """Student decoder output (B, 1 + L, C_s) and its mask (B, L)."""
        with shared_noise(self.backbone, noise):
            latent, mask, ids_restore = self.backbone(img)
        return decoder_hidden_states(self.neck, latent, ids_restore), mask

    @torch.no_grad()
    def teacher_target(self, img: torch.Tensor, noise: torch.Tensor
                       ) -> Tuple[torch.Tensor, torch.Tensor]:
        """LN'ed teacher decoder states (B, 1 + L, C_t) and the mask."""
        encoder = self.teacher.backbone
        ratio = self.backbone.mask_ratio
        with shared_noise(encoder, noise):
            saved, encoder.mask_ratio = encoder.mask_ratio, ratio
            try:
                latent, mask, ids_restore = encoder(img)
            finally:
                encoder.mask_ratio = saved
        hidden = decoder_hidden_states(self.teacher.neck, latent,
                                       ids_restore, self.target_layer)
        return layer_norm_target(hidden, self.target_eps), mask

    def loss(self, inputs: Union[torch.Tensor, List[torch.Tensor]],
             data_samples: List[DataSample],
             **kwargs) -> Dict[str, torch.Tensor]:
        """Generic distillation loss of a batch of normalised images."""
        img = inputs[0] if isinstance(inputs, (list, tuple)) else inputs
        num_patches = self.backbone.num_patches
        if tuple(img.shape[-2:]) != _input_size(self.backbone):
            raise ValueError(f'input {tuple(img.shape[-2:])} does not match '
                             'the student img_size '
                             f'{_input_size(self.backbone)}')
        noise = torch.rand(img.shape[0], num_patches, device=img.device)
        hidden, mask = self.student_hidden(img, noise)
        target, teacher_mask = self.teacher_target(img, noise)
        if not torch.equal(mask, teacher_mask):
            raise RuntimeError('student and teacher masks differ')
        loss = self.head.loss(hidden, target.detach(), mask)
        return dict(loss=loss)


def _patch_size(vit: nn.Module) -> Tuple[int, int]:
    proj = vit.patch_embed.projection
    return tuple(proj.kernel_size)


def _input_size(vit: nn.Module) -> Tuple[int, int]:
    return tuple(s * p for s, p in zip(vit.patch_resolution, _patch_size(vit)))
