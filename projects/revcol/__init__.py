"""RevCol: Reversible Column Networks (Cai et al., ICLR 2023)."""
from .revcol import ConvNextBlock, Fusion, Level, RevCol, RevColumn
from .reversible import RevColumnsFunction

__all__ = ['RevCol', 'RevColumn', 'Level', 'Fusion', 'ConvNextBlock',
           'RevColumnsFunction']
