"""Hiera (Ryali et al., ICML 2023) as a dense backbone on top of timm."""
from .checkpoint import (detect_layout, hiera_to_visionplug, load_state_dict,
                         visionplug_to_hiera)
from .hiera_dense import (ARCH_ALIASES, ARCH_ZOO, HieraDense,
                          default_img_size, hiera_param_count, resolve_arch)

__all__ = ['HieraDense', 'ARCH_ZOO', 'ARCH_ALIASES', 'resolve_arch',
           'hiera_param_count', 'default_img_size', 'hiera_to_visionplug', 'visionplug_to_hiera',
           'load_state_dict', 'detect_layout']
