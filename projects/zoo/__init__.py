"""The config zoo: metafile metadata, look-up, validation, provenance of
merged configs, semantic diffs and backbone-swapping config derivation."""
from .channels import CHANNEL_TABLE, backbone_channels, register_channels
from .derive import derive_config, resolve_config_path
from .metafile import (ZooEntry, load_entries, normalize_task,
                       parse_quantity)
from .provenance import chain_lines, diff_configs, display_path, provenance
from .query import get_config, get_entry, list_configs, search
from .validation import (ZooProblem, validate_metafiles, validate_zoo,
                         zoo_configs)

__all__ = [
    'ZooEntry', 'load_entries', 'normalize_task', 'parse_quantity',
    'get_config', 'get_entry', 'list_configs', 'search', 'ZooProblem',
    'validate_metafiles', 'validate_zoo', 'zoo_configs', 'provenance',
    'chain_lines', 'diff_configs', 'display_path', 'derive_config',
    'resolve_config_path', 'backbone_channels', 'register_channels',
    'CHANNEL_TABLE'
]
