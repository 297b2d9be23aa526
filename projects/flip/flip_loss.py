"""The CLIP/FLIP image-text contrastive loss with a learnable temperature."""
import math

import torch
import torch.distributed as torch_dist
import torch.nn.functional as F
from mmengine.dist import get_rank, get_world_size

# Official FLIP (models_flip.py, ``tau_learnable=True``, as CLIP): the logit
# scale 1/tau is learnt in log space, initialised to log(1/0.07) and clipped
# to [0, log(100)] in the forward pass (so tau >= 0.01, and no gradient
# reaches the parameter while it lies outside the interval).
LOGIT_SCALE_INIT = math.log(1 / 0.07)
LOGIT_SCALE_MAX = math.log(100.)


def clamp_logit_scale(logit_scale: torch.Tensor,
                      max_value: float = LOGIT_SCALE_MAX) -> torch.Tensor:
    """``clip(logit_scale, 0, max_value)`` (zero gradient outside)."""
    return logit_scale.clamp(0., max_value)


def l2_normalize(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """``x / (||x|| + eps)`` as in the official code."""
    return x / (x.norm(dim=-1, keepdim=True) + eps)


def contrastive_loss(img: torch.Tensor, txt: torch.Tensor,
                     logit_scale: torch.Tensor,
                     max_logit_scale: float = LOGIT_SCALE_MAX) -> torch.Tensor:
    """Symmetric InfoNCE of matched rows of ``img`` and ``txt``.

    ``s = exp(clip(logit_scale, 0, max))``, ``S = s * img @ txt^T``;
    ``loss = (CE(S, diag) + CE(S^T, diag)) / 2``, i.e. the mean over
    image->text and text->image of ``-log softmax`` of the positive pair.

    Args:
        img (Tensor): ``[N, D]`` L2-normalised image embeddings.
        txt (Tensor): ``[N, D]`` L2-normalised text embeddings, row i
            pairs with image i.
        logit_scale (Tensor): Scalar, the log of 1/temperature.
    """
    if img.shape != txt.shape or img.dim() != 2:
        raise ValueError(f'contrastive_loss: img {tuple(img.shape)} and txt '
                         f'{tuple(txt.shape)} must both be [N, D]')
    scale = clamp_logit_scale(logit_scale, max_logit_scale).exp()
    logits = scale * img @ txt.t()
    labels = torch.arange(img.shape[0], device=img.device)
    return (F.cross_entropy(logits, labels) +
            F.cross_entropy(logits.t(), labels)) / 2


def gather_features(x: torch.Tensor) -> torch.Tensor:
    """Concatenate ``x`` from all ranks (rank order); the local slice keeps
    its autograd graph, the others are constants. Identity on one process.

    With the global loss computed on every rank, each rank then holds the
    exact gradient for its own features (the global batch's negatives, as
    the official code's global-batch loss)."""
    world = get_world_size()
    if world == 1:
        return x
    parts = [torch.empty_like(x) for _ in range(world)]
    torch_dist.all_gather(parts, x.detach().contiguous())
    parts[get_rank()] = x
    return torch.cat(parts)
