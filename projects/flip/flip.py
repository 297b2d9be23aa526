"""FLIP: CLIP-style image-text pre-training with random patch dropping."""
from functools import partial
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmpretrain.models.selfsup.base import BaseSelfSupervisor
from mmpretrain.registry import MODELS, TOKENIZER
from mmpretrain.structures import DataSample
from open_clip import (IMAGENET_CLASSNAMES, OPENAI_IMAGENET_TEMPLATES,
                       SIMPLE_IMAGENET_TEMPLATES, build_zero_shot_classifier)

from .flip_loss import (LOGIT_SCALE_INIT, LOGIT_SCALE_MAX, clamp_logit_scale,
                        contrastive_loss, gather_features, l2_normalize)

ZERO_SHOT_CLASSES = {'imagenet': IMAGENET_CLASSNAMES}
# CLIP's ImageNet prompt ensemble (80 templates) and its 7-template subset
ZERO_SHOT_TEMPLATES = {'openai_imagenet': OPENAI_IMAGENET_TEMPLATES,
                       'simple_imagenet': SIMPLE_IMAGENET_TEMPLATES}


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
    token and visible patches, after the final LayerNorm) through a bias-free
    linear projection; the text embedding is the text tower's projected
    output (:class:`CausalTextTransformer`); both are L2-normalised; the loss
    is the symmetric InfoNCE over the (globally gathered) batch with a learnt
    logit scale ``exp(clip(logit_scale, 0, log 100))`` initialised to
    ``log(1/0.07)``. Evaluation (and ``mask_ratio=0``, the "unmasked tuning"
    stage) uses all patches.

    Predict mode serves two evaluations in one pass: every sample gets its
    image embedding ``img_feat``; a sample with captions (``text_tokens``)
    also gets ``text_feats`` (image-text retrieval); a sample with a class
    label (``gt_label``) gets ``pred_score``, the cosine similarities to the
    zero-shot classifier (per class: the prompts ``template(class name)``
    encoded, L2-normalised, averaged over the templates and normalised
    again; OpenCLIP's ``build_zero_shot_classifier``), built once per
    evaluation.

    Logged besides ``loss``: ``logit_scale`` (the clipped scale 1/tau) and
    ``kept_patches`` (visible patches per image).

    Args:
        backbone (dict): Image encoder, an :class:`MAEViT` (``out_type`` is
            set to ``'raw'``).
        text_encoder (dict): Text tower with a projection to ``embed_dims``,
            e.g. :class:`CausalTextTransformer` (its ``embed_dims`` defaults
            to this one).
        embed_dims (int): Joint embedding size (official ViT-B: 512).
        mask_ratio (float): Fraction of patches dropped in training
            (official 0.5 or 0.75; 0 for unmasked tuning).
        img_pool (str): ``'avg'`` (official: mean of class + visible
            tokens) or ``'cls'``.
        learnable_scale (bool): Learn the logit scale (official) or keep
            ``logit_scale_init``.
        logit_scale_init (float): Initial log scale. Defaults to log(1/0.07).
        logit_scale_max (float): Upper clip of the log scale (log 100).
        tokenizer (dict): Tokenizer of the zero-shot prompts (TOKENIZER
            registry); it is called with the text tower's context length.
        zero_shot_classes (str | Sequence[str], optional): Class names of
            the zero-shot evaluation, in label order, or ``'imagenet'``
            (OpenAI's ImageNet-1k names).
        zero_shot_templates (str | Sequence[str]): Prompt templates with a
            ``{}`` for the class name, or ``'openai_imagenet'`` (CLIP's 80)
            or ``'simple_imagenet'`` (its 7-template subset).
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
                 tokenizer: dict = dict(type='CLIPBPETokenizer'),
                 zero_shot_classes: Union[str, Sequence[str], None] = None,
                 zero_shot_templates: Union[str, Sequence[str]] = (
                     'openai_imagenet'),
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
        if isinstance(text_encoder, dict):
            text_encoder = MODELS.build(
                dict(dict(embed_dims=embed_dims), **text_encoder))
        if text_encoder.embed_dims != embed_dims:
            raise ValueError(f'FLIP: text_encoder.embed_dims '
                             f'{text_encoder.embed_dims} != embed_dims '
                             f'{embed_dims}')
        self.text_encoder = text_encoder
        self.img_proj = nn.Linear(self.backbone.embed_dims, embed_dims,
                                  bias=False)
        self.tokenizer = TOKENIZER.build(tokenizer) if isinstance(
            tokenizer, dict) else tokenizer
        if isinstance(zero_shot_classes, str):
            zero_shot_classes = self._lookup(ZERO_SHOT_CLASSES,
                                             zero_shot_classes,
                                             'zero_shot_classes')
        if isinstance(zero_shot_templates, str):
            zero_shot_templates = self._lookup(ZERO_SHOT_TEMPLATES,
                                               zero_shot_templates,
                                               'zero_shot_templates')
        for t in zero_shot_templates:
            if isinstance(t, str) and '{}' not in t:
                raise ValueError(f'FLIP: zero_shot_templates entry {t!r} has '
                                 'no {} for the class name')
        self.zero_shot_classes = zero_shot_classes
        self.zero_shot_templates = tuple(zero_shot_templates)
        self._zero_shot_weights = None
        self.logit_scale_max = float(logit_scale_max)
        scale = torch.tensor(float(logit_scale_init))
        if learnable_scale:
            self.logit_scale = nn.Parameter(scale)
        else:
            self.register_buffer('logit_scale', scale)

    def init_weights(self) -> None:
        super().init_weights()
        init_scale = self.logit_scale.detach().clone()
        # official: xavier-uniform projection kernel (mlp_kernel_init)
        nn.init.xavier_uniform_(self.img_proj.weight)
        self.logit_scale.data.copy_(init_scale)

    @staticmethod
    def _lookup(table: dict, name: str, key: str):
        if name not in table:
            raise KeyError(f'FLIP: {key}={name!r} is not one of '
                           f'{sorted(table)} (or give a list)')
        return table[name]

    def train(self, mode: bool = True):
        """Switch mode; the zero-shot classifier is rebuilt at the next
        evaluation (the text tower may have changed)."""
        self._zero_shot_weights = None
        return super().train(mode)

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

    def encode_text(self, tokens: torch.Tensor,
                    normalize: bool = True) -> torch.Tensor:
        """Text embeddings of ``[N, L]`` token ids (L2-normalised)."""
        feat = self.text_encoder(tokens)
        return l2_normalize(feat) if normalize else feat

    def zero_shot_weights(self) -> torch.Tensor:
        """``[embed_dims, num_classes]`` zero-shot classifier (cached until
        the next :meth:`train` call)."""
        if self.zero_shot_classes is None:
            raise ValueError('FLIP: a sample with gt_label reached predict, '
                             'but model.zero_shot_classes is not set')
        if self._zero_shot_weights is None:
            length = self.text_encoder.context_length
            tokenizer = partial(self.tokenizer, context_length=length)
            self._zero_shot_weights = build_zero_shot_classifier(
                self, tokenizer, self.zero_shot_classes,
                self.zero_shot_templates,
                device=self.logit_scale.device)
        return self._zero_shot_weights

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
        """Unmasked embeddings per data sample: ``img_feat`` ``[D]``; with
        captions, ``text_feats`` ``[n_i, D]``; with a ``gt_label``, the
        zero-shot ``pred_score`` ``[num_classes]`` and ``pred_label``."""
        images = self._images(inputs)
        img, _ = self.encode_image(images, masked=False)
        captioned = [i for i, ds in enumerate(data_samples)
                     if 'text_tokens' in ds]
        if captioned:
            tokens = [data_samples[i].text_tokens.reshape(
                -1, data_samples[i].text_tokens.shape[-1]) for i in captioned]
            txt = self.encode_text(torch.cat(tokens).to(images.device))
            for i, t in zip(captioned, txt.split([len(t) for t in tokens])):
                data_samples[i].text_feats = t
        labelled = [i for i, ds in enumerate(data_samples)
                    if 'gt_label' in ds]
        if labelled:
            scores = img[labelled] @ self.zero_shot_weights().to(img.dtype)
            for i, score in zip(labelled, scores):
                data_samples[i].set_pred_score(score)
                data_samples[i].set_pred_label(score.argmax())
        for ds, i in zip(data_samples, img):
            ds.img_feat = i
        return data_samples

    def forward(self, inputs, data_samples=None, mode: str = 'tensor'):
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        return super().forward(inputs, data_samples, mode)
