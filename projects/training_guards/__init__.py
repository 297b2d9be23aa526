"""Training that loses nothing: atomic local file writes (checkpoints,
``last_checkpoint``, results), a guard against non-finite losses, a
one-line report of a work dir that can not be written, a check that a
checkpoint fits the model it is evaluated with, and a fault-injection hook
to check that a killed run resumes."""
from .atomic_files import atomic_torch_save, atomic_write, install
from .checkpoint_match import (CheckpointMismatchError, KeyMatch,
                               check_checkpoint, match_checkpoint)
from .fault_injection import FaultInjectionHook
from .finite_loss import FiniteLossHook, NonFiniteLossError
from .storage_errors import storage_error_message

install()

__all__ = ['atomic_torch_save', 'atomic_write', 'install',
           'FaultInjectionHook', 'FiniteLossHook', 'NonFiniteLossError',
           'CheckpointMismatchError', 'KeyMatch', 'check_checkpoint',
           'match_checkpoint', 'storage_error_message']
