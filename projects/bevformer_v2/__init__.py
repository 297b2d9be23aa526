"""BEVFormer v2 without mmdet3d: 3D boxes, the nuScenes dataset, pipeline and
metric, and the two-stage detector (perspective head + BEV head), registered in
mmdet's registries."""
from . import structures  # noqa: F401
from . import datasets  # noqa: F401
from . import evaluation  # noqa: F401
from . import models  # noqa: F401
