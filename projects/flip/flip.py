"""FLIP: CLIP-style image-text pre-training with random patch dropping."""
from typing import Dict, List, Optional, Tuple, Union

import torch
import torch.nn as nn
from mmpretrain.models.selfsup.base import BaseSelfSupervisor
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

from .flip_loss import (LOGIT_SCALE_INIT, LOGIT_SCALE_MAX, clamp_logit_scale,
                        contrastive_loss, gather_features, l2_normalize)


@MODELS.register_module()
class FLIP(BaseSelfSupervisor):
    """FLIP.

    Implementation of `Scaling Language-Image Pre-training via Masking
    <https://arxiv.org/abs/2212.00794>`_ (Li et al., CVPR 2023).

    CLIP's image-text contrastive learning in which the image encoder sees
    only a random subset of its patches during training: mmpretrain's
    :class:`MAEViT` drops ``mask_ratio`` of them per image (exactly
    ``L - int(L * (1 - mask_ratio))``, MAE's random masking) before the
    Transformer, which is where the speed-up comes from. As in the official
    code: the image embedding is the mean of all encoder output tokens (class
    token and visible patches, after the final LayerNorm), the text
    embedding the text tower's output; both go through a bias-free linear
    projection and are L2-normalised; the loss is the symmetric InfoNCE over
    the (globally gathered) batch with a learnt logit scale
    ``exp(clip(logit_scale, 0, log 100))`` initialised to ``log(1/0.07)``.
    Evaluation (and ``mask_ratio=0``, the "unmasked tuning" stage) uses all
    patches.

    Logged besides ``loss``: ``logit_scale`` (the clipped scale 1/tau) and
    ``kept_patches`` (visible patches per image).

    Args:
        backbone (dict): Image encoder, an :class:`MAEViT` (``out_type`` is
            set to ``'raw'``).
        text_encoder (dict): Text tower, e.g. :class:`CausalTextTransformer`.
        embed_dims (int): Joint embedding size (official ViT-B: 512).
        mask_ratio (float): Fraction of patches dropped in training
            (official 0.5 or 0.75; 0 for unmasked tuning).
        img_pool (str): ``'avg'`` (official: mean of class + visible
            tokens) or ``'cls'``.
        learnable_scale (bool): Learn the logit scale (official) or keep
            ``logit_scale_init``.
        logit_scale_init (float): Initial log scale. Defaults to log(1/0.07).
        logit_scale_max (float): Upper clip of the log scale (log 100).
        pretrained (str, optional): Checkpoint to initialise from.
        data_preprocessor (dict, optional): Defaults to
            ``SelfSupDataPreprocessor`` (needs ``default_collate``).
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(self,
                 backbone: dict,
                 text_encoder: dict,
                 embed_dims: int = 512,
                 mask_ratio: float = 0.5,
                 img_pool: str = 'avg',
                 learnable_scale: bool = True,
                 logit_scale_init: float = LOGIT_SCALE_INIT,
                 logit_scale_max: float = LOGIT_SCALE_MAX,
                 neck: Optional[dict] = None,
                 head: Optional[dict] = None,
                 pretrained: Optional[str] = None,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[Union[List[dict], dict]] = None) -> None:
        if neck is not None or head is not None:
            raise ValueError('FLIP has no neck/head: the projections are '
                             'built from `embed_dims`; remove `model.neck` '
                             'and `model.head`.')
        if not 0 <= mask_ratio < 1:
            raise ValueError(f'FLIP: mask_ratio must be in [0, 1), got '
                             f'{mask_ratio}')
        if img_pool not in ('avg', 'cls'):
            raise ValueError(f"FLIP: img_pool must be 'avg' or 'cls', got "
                             f'{img_pool!r}')
        if isinstance(backbone, dict):
            backbone = dict(backbone, out_type='raw')
        super().__init__(backbone=backbone, pretrained=pretrained,
                         data_preprocessor=data_preprocessor,
                         init_cfg=init_cfg)
        if not hasattr(self.backbone, 'random_masking'):
            raise TypeError('FLIP: the backbone must drop patches like '
                            "MAEViT (type='MAEViT'), got "
                            f'{type(self.backbone).__name__}')
        self.backbone.mask_ratio = mask_ratio
        self.mask_ratio = mask_ratio
        self.img_pool = img_pool
        self.text_encoder = MODELS.build(text_encoder) if isinstance(
            text_encoder, dict) else text_encoder
        self.img_proj = nn.Linear(self.backbone.embed_dims, embed_dims,
                                  bias=False)
        self.txt_proj = nn.Linear(self.text_encoder.width, embed_dims,
                                  bias=False)
        self.logit_scale_max = float(logit_scale_max)
        scale = torch.tensor(float(logit_scale_init))
        if learnable_scale:
            self.logit_scale = nn.Parameter(scale)
        else:
            self.register_buffer('logit_scale', scale)

    def init_weights(self) -> None:
        super().init_weights()
        init_scale = self.logit_scale.detach().clone()
        # official: xavier-uniform projection kernels (mlp_kernel_init)
        nn.init.xavier_uniform_(self.img_proj.weight)
        nn.init.xavier_uniform_(self.txt_proj.weight)
        self.logit_scale.data.copy_(init_scale)

    @property
    def num_patches(self) -> int:
        return self.backbone.num_patches

    def num_kept(self, mask_ratio: Optional[float] = None) -> int:
        """Visible patches per image: ``int(L * (1 - mask_ratio))``."""
        ratio = self.mask_ratio if mask_ratio is None else mask_ratio
        return int(self.num_patches * (1 - ratio))

    def encode_image(self, images: torch.Tensor, masked: bool = None
                     ) -> Tuple[torch.Tensor, torch.Tensor]:
        """L2-normalised image embeddings ``[N, embed_dims]`` and the patch
        mask ``[N, L]`` (1 = dropped). ``masked`` defaults to
        ``self.training and mask_ratio > 0``."""
        if masked is None:
            masked = self.training and self.mask_ratio > 0
        if masked:
            tokens, mask, _ = self.backbone(images, mask=True)
        else:
            tokens = self.backbone(images, mask=None)[-1]
            mask = tokens.new_zeros(tokens.shape[0], self.num_patches)
        feat = tokens.mean(1) if self.img_pool == 'avg' else tokens[:, 0]
        return l2_normalize(self.img_proj(feat)), mask

    def encode_text(self, tokens: torch.Tensor) -> torch.Tensor:
        """L2-normalised text embeddings of ``[N, L]`` token ids."""
        return l2_normalize(self.txt_proj(self.text_encoder(tokens)))

    def clamped_logit_scale(self) -> torch.Tensor:
        return clamp_logit_scale(self.logit_scale, self.logit_scale_max)

    @staticmethod
    def _images(inputs) -> torch.Tensor:
        if isinstance(inputs, (list, tuple)):
            if len(inputs) != 1:
                raise ValueError('FLIP takes one view per image, got '
                                 f'{len(inputs)}')
            inputs = inputs[0]
        return inputs

    def _tokens(self, data_samples: List[DataSample], device) -> torch.Tensor:
        if not data_samples or 'text_tokens' not in data_samples[0]:
            raise ValueError(
                'FLIP: data samples carry no `text_tokens`; add '
                "dict(type='TokenizeCaption', ...) and "
                "dict(type='PackInputs', algorithm_keys=('text_tokens',)) "
                'to the pipeline')
        return torch.stack([ds.text_tokens for ds in data_samples]).to(device)

    def extract_feat(self, inputs: torch.Tensor):
        """Unmasked backbone features (for transfer)."""
        return self.backbone(self._images(inputs), mask=None)

    def loss(self, inputs: torch.Tensor, data_samples: List[DataSample],
             **kwargs) -> Dict[str, torch.Tensor]:
        images = self._images(inputs)
        tokens = self._tokens(data_samples, images.device)
        img, mask = self.encode_image(images)
        txt = self.encode_text(tokens)
        img, txt = gather_features(img), gather_features(txt)
        with torch.autocast(device_type=img.device.type, enabled=False):
            loss = contrastive_loss(img.float(), txt.float(),
                                    self.logit_scale, self.logit_scale_max)
        kept = (mask == 0).sum(1).float().mean()
        return dict(loss=loss,
                    logit_scale=self.clamped_logit_scale().exp().detach(),
                    kept_patches=kept.detach())

    def predict(self, inputs: torch.Tensor, data_samples: List[DataSample],
                **kwargs) -> List[DataSample]:
        """Unmasked embeddings: ``img_feat`` ``[D]`` and ``text_feats``
        ``[n_i, D]`` (all captions of the image) per data sample."""
        images = self._images(inputs)
        img, _ = self.encode_image(images, masked=False)
        tokens = [ds.text_tokens.reshape(-1, ds.text_tokens.shape[-1])
                  for ds in data_samples]
        txt = self.encode_text(torch.cat(tokens).to(images.device))
        txt = txt.split([len(t) for t in tokens])
        for ds, i, t in zip(data_samples, img, txt):
            ds.img_feat = i
            ds.text_feats = t
        return data_samples

    def forward(self, inputs, data_samples=None, mode: str = 'tensor'):
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        return super().forward(inputs, data_samples, mode)
