"""Classification head of De-focus Mamba with the auxiliary loss (mmpretrain).

The backbone (``out_type='raw'``) returns every token after the final norm,
the cls token last. ``head`` classifies the cls token (used for prediction);
``head2`` is the auxiliary classifier on the image tokens. Training loss, as
in the official ``main.py``::

    loss = (CE(head(cls), y) + CE_aux) / 2

logged as ``loss_cls`` and ``loss_aux`` (each already halved). ``CE_aux``:

- ``aux_loss='tokens'`` (official code, default): the mean over image
  tokens of ``CE(head2(token_i), y)``;
- ``aux_loss='avg'`` (the paper's wording, "auxiliary loss on average-pooled
  features"): ``CE(head2(mean_i token_i), y)``;
- ``aux_loss=None``: no ``head2``; the loss is ``CE(head(cls), y)``.

Both forms give the same mean logit (``head2`` is linear) but different
losses; the released checkpoints were trained with ``'tokens'``.
"""
import torch
import torch.nn as nn
from mmengine.model.weight_init import trunc_normal_
from mmpretrain.models.heads import ClsHead
from mmpretrain.registry import MODELS

AUX_MODES = ('tokens', 'avg', None)


def _classifier(in_channels, num_classes, hidden_dims):
    if hidden_dims is None:
        return nn.Linear(in_channels, num_classes)
    # official ImageNet-22k head: Linear-Tanh-Linear (keys .0 and .2)
    return nn.Sequential(nn.Linear(in_channels, hidden_dims), nn.Tanh(),
                         nn.Linear(hidden_dims, num_classes))


@MODELS.register_module()
class DefocusClsHead(ClsHead):
    """cls-token classifier plus the auxiliary token classifier.

    Args:
        num_classes (int): Number of classes.
        in_channels (int): Token width D.
        hidden_dims (int, optional): Hidden width of a Linear-Tanh-Linear
            classifier (official 22k heads: 3 * D); None: one Linear.
        aux_loss (str | None): ``'tokens'``, ``'avg'`` or None (see module
            doc).
        loss (dict): Loss config; soft targets (mixup / cutmix) go through
            it unchanged, e.g. ``CrossEntropyLoss(use_soft=True)`` or
            ``LabelSmoothLoss``.
        init_cfg (dict, optional): Defaults to trunc-normal(0.02) weights and
            zero biases (official).
    """

    def __init__(self, num_classes, in_channels, hidden_dims=None,
                 aux_loss='tokens',
                 loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
                 init_cfg=None, **kwargs):
        super().__init__(loss=loss, init_cfg=init_cfg, **kwargs)
        if aux_loss not in AUX_MODES:
            raise ValueError(f'DefocusClsHead: aux_loss must be one of '
                             f'{AUX_MODES}, got {aux_loss!r}')
        if num_classes <= 0:
            raise ValueError(f'DefocusClsHead: num_classes must be positive, '
                             f'got {num_classes}')
        self.num_classes = num_classes
        self.in_channels = in_channels
        self.aux_loss = aux_loss
        self.head = _classifier(in_channels, num_classes, hidden_dims)
        if aux_loss is not None:
            self.head2 = _classifier(in_channels, num_classes, hidden_dims)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                trunc_normal_(m.weight, std=0.02)
                nn.init.zeros_(m.bias)

    def pre_logits(self, feats):
        """The backbone's raw tokens [b, L + 1, D] (cls last)."""
        tokens = feats[-1]
        if tokens.dim() != 3:
            raise ValueError(
                'DefocusClsHead expects the tokens [b, L + 1, D] of '
                "DefocusMamba(out_type='raw'), got shape "
                f'{tuple(tokens.shape)}')
        return tokens

    def forward(self, feats):
        """cls-token logits [b, num_classes] (prediction)."""
        return self.head(self.pre_logits(feats)[:, -1])

    def aux_logits(self, feats):
        """Auxiliary logits: [b, L, K] (``'tokens'``) or [b, K] (``'avg'``)."""
        image = self.pre_logits(feats)[:, :-1]
        if self.aux_loss == 'avg':
            image = image.mean(1)
        return self.head2(image)

    def loss(self, feats, data_samples, **kwargs):
        if 'gt_score' in data_samples[0]:
            target = torch.stack([s.gt_score for s in data_samples])
        else:
            target = torch.cat([s.gt_label for s in data_samples])
        logits = self(feats)
        loss_cls = self.loss_module(logits, target,
                                    avg_factor=logits.size(0), **kwargs)
        if self.aux_loss is None:
            return dict(loss=loss_cls)
        aux = self.aux_logits(feats)
        if aux.dim() == 3:  # one prediction per token, same target
            b, length, k = aux.shape
            aux = aux.reshape(b * length, k)
            target = target.repeat_interleave(length, dim=0)
        loss_aux = self.loss_module(aux, target, avg_factor=aux.size(0),
                                    **kwargs)
        return dict(loss_cls=loss_cls / 2, loss_aux=loss_aux / 2)
