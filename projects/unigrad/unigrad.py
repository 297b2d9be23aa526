"""UniGrad self-supervised algorithm for mmpretrain."""
from typing import Dict, List, Optional, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmpretrain.models.selfsup.base import BaseSelfSupervisor
from mmpretrain.models.utils import CosineEMA
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

from .unigrad_loss import batch_correlation, ema_correlation, unigrad_loss


@MODELS.register_module()
class UniGrad(BaseSelfSupervisor):
    """UniGrad.

    Implementation of `Exploring the Equivalence of Siamese Self-Supervised
    Learning via A Unified Gradient Framework
    <https://arxiv.org/abs/2112.05141>`_ (Tao et al., CVPR 2022).

    An online branch (backbone + projector neck) and a momentum branch
    (:class:`CosineEMA` copy of both) embed two augmented views; with
    L2-normalised features ``u1`` (online, view 1) and ``u2m`` (momentum,
    view 2) the gradient injected at ``u1`` is ``-u2m + lambd * F u1``
    (and symmetrically for view 2), where ``F`` is the moving average
    (coefficient ``rho``) of the momentum features' correlation matrix
    ``(z1m^T z1m + z2m^T z2m) / (2N)``. ``F`` is the buffer
    ``correlation`` (saved in checkpoints, so resuming continues the
    average); ``correlation_initialized`` marks whether it holds one yet.

    The logged ``loss`` is the objective
    ``E[-cos(u1, u2m) + lambd / 2 * u1^T F u1]`` averaged over both views;
    its gradient is the closed form above (see
    :func:`projects.unigrad.unigrad_loss`). Also logged: ``pos_sim``, the
    mean cosine between online and momentum features of the other view
    (the official code's monitor), and ``corr_norm``, the Frobenius norm
    of ``F`` (``1/sqrt(D)`` for perfectly whitened features, 1 for a
    collapse to one direction).

    Official hyper-parameters (ResNet-50, 100 epochs, batch 1024):
    projector 2048-2048-2048 (3 layers, BN on the hidden layers, no
    predictor), ``lambd=100``, ``rho=0.99``, momentum 0.996 -> 1 with a
    cosine schedule (``base_momentum=0.004`` in mmengine's convention),
    SGD lr 0.2 (0.05 x bs / 256), momentum 0.9, weight decay 1e-4.

    Args:
        backbone (dict): Config of the backbone.
        neck (dict): Config of the projector (e.g. ``NonLinearNeck``).
        head (dict, optional): Unused; UniGrad has no head. Must be None.
        feat_dim (int, optional): Dimension of the projector output (size
            of ``F``). Defaults to ``neck['out_channels']``.
        lambd (float): Weight of the negative gradient. Defaults to 100.
        rho (float): EMA coefficient of ``F``. Defaults to 0.99.
        base_momentum (float): Start momentum of the :class:`CosineEMA`
            target (``1 - 0.996``), annealed to 0 over training.
            Defaults to 0.004.
        pretrained (str, optional): Checkpoint to initialise from.
        data_preprocessor (dict, optional): Defaults to
            ``SelfSupDataPreprocessor``.
        init_cfg (dict | list[dict], optional): Initialisation config.
    """

    def __init__(self,
                 backbone: dict,
                 neck: dict,
                 head: Optional[dict] = None,
                 feat_dim: Optional[int] = None,
                 lambd: float = 100.,
                 rho: float = 0.99,
                 base_momentum: float = 0.004,
                 pretrained: Optional[str] = None,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[Union[List[dict], dict]] = None) -> None:
        if head is not None:
            raise ValueError('UniGrad has no head (the loss is computed on '
                             'the projector output); remove `model.head`.')
        if neck is None:
            raise ValueError('UniGrad needs a projector: set `model.neck`.')
        if feat_dim is None:
            feat_dim = neck.get('out_channels') if isinstance(neck,
                                                               dict) else None
            if feat_dim is None:
                raise ValueError('UniGrad: set `model.feat_dim` (the '
                                 'projector output size); `model.neck` has '
                                 'no `out_channels`.')
        if not 0 <= rho < 1:
            raise ValueError(f'UniGrad: `rho` must be in [0, 1), got {rho}')
        if not 0 <= base_momentum <= 1:
            raise ValueError('UniGrad: `base_momentum` must be in [0, 1], '
                             f'got {base_momentum}')
        super().__init__(
            backbone=backbone,
            neck=neck,
            pretrained=pretrained,
            data_preprocessor=data_preprocessor,
            init_cfg=init_cfg)
        self.feat_dim = int(feat_dim)
        self.lambd = float(lambd)
        self.rho = float(rho)
        self.target_net = CosineEMA(
            nn.Sequential(self.backbone, self.neck), momentum=base_momentum)
        self.register_buffer('correlation',
                             torch.zeros(self.feat_dim, self.feat_dim))
        self.register_buffer('correlation_initialized', torch.tensor(False))

    def _project(self, net: nn.Module, img: torch.Tensor) -> torch.Tensor:
        z = net(img)[0].float()
        if z.dim() != 2 or z.shape[1] != self.feat_dim:
            raise ValueError(f'UniGrad: projector output has shape '
                             f'{tuple(z.shape)}, expected (N, {self.feat_dim})'
                             ' (check `model.feat_dim` / neck out_channels)')
        return F.normalize(z, dim=1)

    @torch.no_grad()
    def update_correlation(self, z1m: torch.Tensor,
                           z2m: torch.Tensor) -> None:
        """Fold this batch's momentum-feature correlation into ``F``."""
        new = ema_correlation(self.correlation, batch_correlation(z1m, z2m),
                              self.rho, bool(self.correlation_initialized))
        self.correlation.copy_(new)
        self.correlation_initialized.fill_(True)

    def loss(self, inputs: List[torch.Tensor], data_samples: List[DataSample],
             **kwargs) -> Dict[str, torch.Tensor]:
        """Compute the UniGrad loss of two views.

        Args:
            inputs (list[Tensor]): The two views, each ``(N, C, H, W)``.
            data_samples (list[DataSample]): Unused.

        Returns:
            dict[str, Tensor]: ``loss`` (objective value, surrogate
            gradient), ``pos_sim`` and ``corr_norm`` (monitors).
        """
        if not isinstance(inputs, (list, tuple)) or len(inputs) != 2:
            raise ValueError('UniGrad expects two views per image (use '
                             "`dict(type='MultiView', num_views=[1, 1], ...)`"
                             ' in the train pipeline)')
        online = nn.Sequential(self.backbone, self.neck)
        z1 = self._project(online, inputs[0])
        z2 = self._project(online, inputs[1])
        with torch.no_grad():
            # momentum update before the target forward, as in the paper
            self.target_net.update_parameters(online)
            z1m = self._project(self.target_net, inputs[0])
            z2m = self._project(self.target_net, inputs[1])
        # F, the gradient and the objective in fp32 even under AMP
        with torch.autocast(device_type=z1.device.type, enabled=False):
            self.update_correlation(z1m, z2m)
            loss, pos_sim = unigrad_loss(z1, z2, z1m, z2m, self.correlation,
                                         self.lambd)
        return dict(
            loss=loss,
            pos_sim=pos_sim,
            corr_norm=torch.linalg.matrix_norm(self.correlation).detach())
