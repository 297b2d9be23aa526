"""Config loading shared by ``tools/train.py`` and ``tools/test.py``: the
OpenMMLab command-line flags, overrides, validation, the training strategy
(DDP, FSDP, DeepSpeed) and runner construction."""
from . import ddp, fsdp  # noqa: F401 (strategies and wrap policies)
from .cli import add_common_args, error_exit
from .loading import build_runner, load_config, write_json_atomic
from .strategy import STRATEGIES, apply_strategy

__all__ = ['add_common_args', 'error_exit', 'load_config', 'build_runner',
           'write_json_atomic', 'apply_strategy', 'STRATEGIES']
