"""The indexed ``pkg::`` look-up resolves to the file mmengine ends up using
(``.mim/configs/<name>``) without reading any metafile."""
import os.path as osp

import pytest
from mmengine.utils import get_installed_path

from projects.stack_compat import config_lookup


@pytest.mark.parametrize('package,name', [
    ('mmdet', 'retinanet/retinanet_r50_fpn_1x_coco.py'),
    ('mmdet', 'deformable_detr/deformable-detr_r50_16xb2-50e_coco.py'),
    ('mmseg', 'upernet/upernet_r50_4xb4-80k_ade20k-512x512.py'),
])
def test_model_configs_resolve_to_the_packaged_file(package, name,
                                                    monkeypatch):
    monkeypatch.setattr(config_lookup, '_INDEXES', {})
    root = get_installed_path(package)
    assert config_lookup.external_cfg_path(root, name) == osp.join(
        root, '.mim', 'configs', name)
    assert config_lookup._INDEXES == {}  # no metafile was read


def test_base_and_unknown_names_raise_value_error_as_mmengine():
    # mmengine catches the ValueError and falls back to .mim/configs/<name>
    root = get_installed_path('mmdet')
    for name in ('_base_/models/retinanet_r50_fpn.py', 'retinanet/nope.py'):
        with pytest.raises(ValueError):
            config_lookup.external_cfg_path(root, name)
