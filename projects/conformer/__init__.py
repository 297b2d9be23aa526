"""Conformer (Peng et al., ICCV 2021) with dense outputs on mmpretrain."""
from .checkpoint import (conformer_to_visionplug, load_state_dict,
                         visionplug_to_conformer)
from .conformer_dense import ConformerDense

__all__ = ['ConformerDense', 'conformer_to_visionplug',
           'visionplug_to_conformer', 'load_state_dict']
