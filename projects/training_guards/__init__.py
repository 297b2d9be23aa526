"""Training that loses nothing: atomic local file writes (checkpoints,
``last_checkpoint``, results) and a guard against non-finite losses."""
from .atomic_files import atomic_write, install
from .finite_loss import FiniteLossHook, NonFiniteLossError

install()

__all__ = ['atomic_write', 'install', 'FiniteLossHook', 'NonFiniteLossError']
