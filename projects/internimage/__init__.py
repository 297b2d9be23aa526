"""InternImage (Wang et al., CVPR 2023): DCNv3 backbone and its pure-PyTorch
core, registered in the root MODELS registry; the official classification
head for mmpretrain; the official layer-wise lr decay constructor."""
from .dcnv3_core import (compiled_extension, dcnv3_core, dcnv3_core_pytorch,
                         kernel_grid, output_size)
from .dcnv3 import DCNv3
from .internimage import ARCH_SETTINGS, InternImage
from .cls_head import InternImageClsHead
from .complexity import count_dcnv3_cores, count_params, internimage_flops
from .layer_decay import (InternImageLayerDecayOptimizerConstructor,
                          internimage_layer_id, no_weight_decay)

__all__ = ['dcnv3_core', 'dcnv3_core_pytorch', 'compiled_extension',
           'kernel_grid', 'output_size', 'DCNv3', 'ARCH_SETTINGS',
           'InternImage', 'InternImageClsHead', 'count_params', 'count_dcnv3_cores',
           'internimage_flops', 'InternImageLayerDecayOptimizerConstructor',
           'internimage_layer_id', 'no_weight_decay']
