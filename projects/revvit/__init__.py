"""Reversible ViT (Mangalam et al., CVPR 2022) on mmpretrain, with local,
reproducible drop-path seeding; dense prediction through SimpleFPN."""
from .checkpoint import (load_state_dict, revvit_to_visionplug,
                         visionplug_to_revvit)
from .revvit import RevViT, SeededRevLayer
from .seeded_rng import preserve_global_rng

__all__ = ['RevViT', 'SeededRevLayer', 'preserve_global_rng',
           'revvit_to_visionplug', 'visionplug_to_revvit', 'load_state_dict']
