"""Loss-parameter search for the Parameterized AP Loss and Auto Seg-Loss:
a truncated-normal policy updated by PPO, proxy training on a held-out split
of the training set, resumable and distributed (tools/search_loss.py)."""
from .policy import (CLIP_MODES, Policy, TruncatedNormal, advantages_of,
                     clipped_ratios, ppo_objective, sigma_at)
from .spaces import (AutoSegLossSpace, PAPSpace, grad_scale_to_theta,
                     points_to_theta)
from .split import apply_held_out_split, choose_held_out
from .proxy import SyntheticReward, TrainProxy, proxy_config
from .search import LossSearch, check_search_config
from .metrics import FWIoUMetric

__all__ = ['CLIP_MODES', 'Policy', 'TruncatedNormal', 'advantages_of',
           'clipped_ratios', 'ppo_objective', 'sigma_at', 'PAPSpace',
           'AutoSegLossSpace', 'points_to_theta', 'grad_scale_to_theta',
           'apply_held_out_split', 'choose_held_out', 'SyntheticReward',
           'TrainProxy', 'proxy_config', 'LossSearch', 'check_search_config',
           'FWIoUMetric']
