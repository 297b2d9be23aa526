"""Training that loses nothing: atomic local file writes (checkpoints,
``last_checkpoint``, results), a guard against non-finite losses and a
fault-injection hook to check that a killed run resumes."""
from .atomic_files import atomic_torch_save, atomic_write, install
from .fault_injection import FaultInjectionHook
from .finite_loss import FiniteLossHook, NonFiniteLossError

install()

__all__ = ['atomic_torch_save', 'atomic_write', 'install', 'FaultInjectionHook',
           'FiniteLossHook', 'NonFiniteLossError']
