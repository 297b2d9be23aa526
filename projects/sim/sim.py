"""Siamese Image Modeling (SIM) as an mmpretrain self-supervised algorithm."""
import inspect
from typing import Dict, List, Optional, Tuple, Union

import torch
import torch.nn as nn
from mmpretrain.models.selfsup.base import BaseSelfSupervisor
from mmpretrain.models.utils import CosineEMA, resize_pos_embed
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

_VIT_PARTS = ('patch_embed', 'pos_embed', 'layers', 'cls_token',
              'num_extra_tokens', 'drop_after_pos', 'pre_norm', 'final_norm')


def encode_tokens(vit: nn.Module, img: torch.Tensor,
                  mask: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Run an mmpretrain ``VisionTransformer`` (or subclass) on the visible
    patches only.

    Patch embedding + position embedding, drop the masked patches (the same
    number in every sample), prepend the cls token (+ its position
    embedding), then the backbone's pre-norm, layers and final norm. With
    ``mask=None`` this is ``vit(img)`` with ``out_type='raw'``.

    Args:
        vit (nn.Module): A ``VisionTransformer``-style backbone.
        img (Tensor): ``(B, 3, H, W)`` images.
        mask (Tensor, optional): ``(B, gh, gw)`` patch mask, 1 = masked.

    Returns:
        Tensor: ``(B, E + V, C)``: ``E`` extra tokens, then the ``V``
        visible patches in row-major order.
    """
    B = img.shape[0]
    x, hw = vit.patch_embed(img)
    extra = vit.num_extra_tokens
    pos = resize_pos_embed(vit.pos_embed, vit.patch_resolution, hw,
                           mode=vit.interpolate_mode, num_extra_tokens=extra)
    x = x + pos[:, extra:]
    if mask is not None:
        if tuple(mask.shape[-2:]) != tuple(hw):
            raise ValueError(
                f'mask grid {tuple(mask.shape[-2:])} differs from the patch '
                f'grid {tuple(hw)} of the {tuple(img.shape[-2:])} input; set '
                'the mask generator input_size = crop size / patch size')
        keep = ~mask.flatten(1).bool()
        num_vis = keep.sum(1)
        if bool((num_vis != num_vis[0]).any()):
            raise ValueError('every sample must mask the same number of '
                             'patches (use SIMMaskGenerator)')
        x = x[keep].view(B, int(num_vis[0]), x.shape[-1])
    if vit.cls_token is not None:
        cls = vit.cls_token.expand(B, -1, -1) + pos[:, :extra]
        x = torch.cat([cls, x], dim=1)
    x = vit.drop_after_pos(x)
    x = vit.pre_norm(x)
    for layer in vit.layers:
        x = layer(x)
    if vit.final_norm:
        x = vit.ln1(x)
    return x


@MODELS.register_module()
class SIM(BaseSelfSupervisor):
    """Siamese Image Modeling.

    Implementation of `Siamese Image Modeling for Self-Supervised Vision
    Representation Learning <https://arxiv.org/abs/2206.01204>`_ (Tao et
    al., CVPR 2023), following the official code (OpenGVLab/
    Siamese-Image-Modeling).

    The online ``backbone`` (a plain ViT) encodes the cls token and the
    visible patches of block-masked view 1; the ``neck``
    (:class:`SIMProjector`) projects them; the ``head`` (:class:`SIMHead`)
    appends one query per view-2 patch, placed at that patch's position in
    view 1's frame through the relative crop / flip / scale geometry, and
    predicts view 2's dense representation. The target is the momentum
    (:class:`CosineEMA`) copy of backbone + neck on the full view 2, cls
    dropped, LayerNorm-ed without affine; the loss is
    :func:`projects.sim.sim_loss`. The momentum update runs after the
    online forward and before the target forward, every iteration.

    Inputs: two views (``SIMTwoViews``); each data sample carries ``mask``
    (view 1, ``(gh, gw)``, exactly the same count per sample) and
    ``rel_pos`` (6 numbers).

    Official ViT-B/16 settings: 118 of 196 patches masked, decoder width
    768 with 16 heads, 2 projector + 4 predictor layers with BatchNorm,
    ``neg_weight=0.02``, momentum 0.995 -> 1 (cosine, per iteration:
    ``base_momentum=0.005`` in mmengine's convention), frozen random patch
    embedding, fixed 2-D sin-cos position embedding, no final norm.

    Args:
        backbone (dict): A ``VisionTransformer``-style backbone with a cls
            token (e.g. ``MAEViT``, ``VisionTransformer``, ``MagnetoViT``).
        neck (dict): :class:`SIMProjector` config.
        head (dict): :class:`SIMHead` config.
        base_momentum (float): Start momentum of the target, annealed to 0
            (``1 - 0.995``). Defaults to 0.005.
        train_patch_embed (bool): Train the patch embedding. Defaults to
            False (frozen, as the official default).
        own_target_buffers (bool): Let the target keep its own BatchNorm
            running statistics (updated by its forward passes, as the
            official code) instead of copying the online branch's at every
            momentum update (mmpretrain's ``CosineEMA`` convention). Only
            the buffers stored in checkpoints differ; the loss does not
            (the target runs in train mode). Defaults to False.
        pretrained (str, optional): Checkpoint to initialise from.
        data_preprocessor (dict, optional): Defaults to
            ``SelfSupDataPreprocessor``.
        init_cfg (dict | list[dict], optional): Initialisation config.
    """

    def __init__(self,
                 backbone: dict,
                 neck: dict,
                 head: dict,
                 base_momentum: float = 0.005,
                 train_patch_embed: bool = False,
                 own_target_buffers: bool = False,
                 pretrained: Optional[str] = None,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[Union[List[dict], dict]] = None) -> None:
        if neck is None or head is None:
            raise ValueError('SIM needs model.neck (SIMProjector) and '
                             'model.head (SIMHead)')
        if not 0 <= base_momentum <= 1:
            raise ValueError('SIM: base_momentum must be in [0, 1], got '
                             f'{base_momentum}')
        super().__init__(backbone=backbone, neck=neck, head=head,
                         pretrained=pretrained,
                         data_preprocessor=data_preprocessor,
                         init_cfg=init_cfg)
        missing = [k for k in _VIT_PARTS if not hasattr(self.backbone, k)]
        if missing:
            raise ValueError(
                f'SIM: backbone {type(self.backbone).__name__} is not a '
                f'VisionTransformer-style ViT (missing {missing}); use '
                'VisionTransformer, MAEViT or a subclass such as MagnetoViT')
        if self.backbone.cls_token is None:
            raise ValueError('SIM: the backbone needs a cls token '
                             '(with_cls_token=True)')
        embed = self.backbone.embed_dims
        if self.neck.in_channels != embed:
            raise ValueError(f'SIM: neck.in_channels={self.neck.in_channels}'
                             f' differs from the backbone width {embed}')
        if self.neck.embed_dims != self.head.embed_dims:
            raise ValueError('SIM: neck.embed_dims and head.embed_dims '
                             f'differ ({self.neck.embed_dims} vs '
                             f'{self.head.embed_dims})')
        self.train_patch_embed = train_patch_embed
        self.own_target_buffers = own_target_buffers
        if not train_patch_embed:
            self.backbone.patch_embed.requires_grad_(False)
        self.target_net = CosineEMA(self._online(), momentum=base_momentum)

    def _online(self) -> nn.ModuleDict:
        return nn.ModuleDict(dict(backbone=self.backbone, neck=self.neck))

    def extract_feat(self, inputs: torch.Tensor) -> Tuple[torch.Tensor]:
        """Backbone features of unmasked images (downstream use)."""
        params = inspect.signature(self.backbone.forward).parameters
        if 'mask' in params:  # MAEViT masks randomly unless mask=None
            return self.backbone(inputs, mask=None)
        return self.backbone(inputs)

    @staticmethod
    def _stack(data_samples: List[DataSample], key: str,
               device) -> torch.Tensor:
        if not all(key in s for s in data_samples):
            hint = ("SIMTwoViews + PackInputs(algorithm_keys=['rel_pos'])"
                    if key == 'rel_pos' else 'SIMMaskGenerator')
            raise ValueError(f'SIM: data samples carry no `{key}`; the train '
                             f'pipeline needs {hint}')
        return torch.stack([torch.as_tensor(s.get(key))
                            for s in data_samples]).to(device)

    def loss(self, inputs: List[torch.Tensor], data_samples: List[DataSample],
             **kwargs) -> Dict[str, torch.Tensor]:
        """SIM loss of a batch.

        Args:
            inputs (list[Tensor]): The two views ``(B, 3, H, W)``.
            data_samples (list[DataSample]): ``mask`` and ``rel_pos`` each.

        Returns:
            dict[str, Tensor]: ``loss`` and the monitors ``pos_term``,
            ``neg_term`` (detached loss terms).
        """
        if not isinstance(inputs, (list, tuple)) or len(inputs) != 2:
            raise ValueError('SIM expects two views per image (SIMTwoViews '
                             'in the train pipeline)')
        x1, x2 = inputs
        if x1.shape != x2.shape:
            raise ValueError(f'SIM: both views must have the same size, got '
                             f'{tuple(x1.shape)} and {tuple(x2.shape)}')
        mask = self._stack(data_samples, 'mask', x1.device).bool()
        rel_pos = self._stack(data_samples, 'rel_pos', x1.device)

        tokens = self.neck(encode_tokens(self.backbone, x1, mask))
        pred = self.head(tokens, mask, rel_pos)

        with torch.no_grad():
            own = self.own_target_buffers and int(self.target_net.steps) > 0
            buffers = [b.clone() for b in self.target_net.module.buffers()
                       ] if own else []
            self.target_net.update_parameters(self._online())
            for buf, kept in zip(self.target_net.module.buffers(), buffers):
                buf.copy_(kept)
            target_vit = self.target_net.module['backbone']
            target = encode_tokens(target_vit, x2)
            target = self.target_net.module['neck'](target)
            target = target[:, target_vit.num_extra_tokens:]
        return self.head.loss(pred, target)
