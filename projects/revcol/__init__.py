"""RevCol: Reversible Column Networks (Cai et al., ICLR 2023)."""
from .revcol import ConvNextBlock, Fusion, Level, RevCol, RevColumn
from .reversible import RevColumnsFunction
from .cls_head import RevColClassifier, RevColClsHead
from .layer_decay import RevColLayerDecayOptimizerConstructor, revcol_layer_id

__all__ = ['RevCol', 'RevColumn', 'Level', 'Fusion', 'ConvNextBlock',
           'RevColumnsFunction', 'RevColClsHead', 'RevColClassifier',
           'RevColLayerDecayOptimizerConstructor', 'revcol_layer_id']
