"""Fail-fast validation of configs before any work starts: unknown types and
arguments (with suggestions), missing data roots, annotation files and image
folders, and bad records of COCO, segmentation, classification and nuScenes
data."""
from .coco import check_coco_file, coco_problems
from .data_paths import check_data
from .errors import ConfigError
from .nuscenes_infos import infos_problems
from .type_check import check_types


def validate_config(cfg, splits=('train', 'val'), source=''):
    """Run every check on a loaded config; raise :class:`ConfigError`.

    Args:
        cfg (mmengine.Config): the merged config (custom imports done).
        splits (tuple[str]): dataloaders whose data must exist.
        source (str): the config file, named in messages.
    """
    check_types(cfg, source)
    check_data(cfg, splits, source)


__all__ = ['ConfigError', 'validate_config', 'check_types', 'check_data',
           'check_coco_file', 'coco_problems', 'infos_problems']
