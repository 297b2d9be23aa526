"""BEVFormer v2 evaluation: the nuScenes detection metric (devkit)."""
from .nuscenes_metric import NuScenesMetric, attribute_name

__all__ = ['NuScenesMetric', 'attribute_name']
