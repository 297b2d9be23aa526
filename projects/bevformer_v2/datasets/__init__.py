"""BEVFormer v2 data: the infos converter, the official ``.pkl`` reader,
``NuScenesBEVDataset`` and its multi-frame, multi-view transforms
(registered in mmdet's registries)."""
from .converter import (BOX_CONVENTION, CAMERAS, CLASSES, INFOS_FORMAT,
                        INFOS_FORMAT_VERSION, create_nuscenes_infos)
from .nuscenes_dataset import ATTRIBUTE_IDS, NuScenesBEVDataset
from .official_infos import from_official_infos, load_infos, safe_load_pickle
from .transforms import (CropResizeFlipImage, GlobalRotScaleTrans,
                         LoadMultiViewImages, ObjectNameFilter,
                         ObjectRangeFilter, PackBEVInputs,
                         PerspectiveAnnotations, PhotoMetricDistortionMultiView)

__all__ = ['create_nuscenes_infos', 'NuScenesBEVDataset', 'CLASSES', 'CAMERAS',
           'INFOS_FORMAT', 'INFOS_FORMAT_VERSION', 'BOX_CONVENTION',
           'ATTRIBUTE_IDS', 'load_infos', 'from_official_infos',
           'safe_load_pickle', 'LoadMultiViewImages',
           'PhotoMetricDistortionMultiView', 'CropResizeFlipImage',
           'ObjectRangeFilter', 'ObjectNameFilter', 'GlobalRotScaleTrans',
           'PerspectiveAnnotations', 'PackBEVInputs']
