"""Bad configs, paths and annotation files fail fast with precise messages."""
import json
import shutil

import pytest
from mmengine.config import Config

import projects  # noqa: F401
from projects.config_validation import (ConfigError, check_coco_file,
                                        check_data, check_types,
                                        validate_config)
from projects.config_validation.data_paths import check_dataset

RETINANET = ('configs/retinanet/'
             'retinanet_r18_fpn_tiny_1xb4-300it_synthetic-coco.py')


@pytest.fixture(scope='module')
def det_cfg():
    return Config.fromfile(RETINANET)


def test_zoo_config_passes_type_checks(det_cfg):
    check_types(det_cfg, RETINANET)


def test_unknown_type_names_key_and_suggests(det_cfg):
    cfg = det_cfg.copy()
    cfg.merge_from_dict({'model.backbone.type': 'ResNt'})
    with pytest.raises(ConfigError) as err:
        check_types(cfg, RETINANET)
    msg = str(err.value)
    assert "key 'model.backbone.type'" in msg and "'ResNt'" in msg
    assert "'ResNet'" in msg and RETINANET in msg


def test_unknown_argument_names_key_and_suggests(det_cfg):
    cfg = det_cfg.copy()
    cfg.merge_from_dict({'train_cfg.max_iter': 10})
    with pytest.raises(ConfigError, match=r"key 'train_cfg.max_iter'.*"
                       r"IterBasedTrainLoop.*Did you mean 'max_iters'"):
        check_types(cfg)
    cfg = det_cfg.copy()
    cfg.merge_from_dict({'model.neck.num_out': 5})
    with pytest.raises(ConfigError, match="'num_outs'"):
        check_types(cfg)


def test_missing_data_root_names_path_and_generator(det_cfg, tmp_path,
                                                    monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as err:
        check_data(det_cfg, ('train',), RETINANET)
    msg = str(err.value)
    assert "data_root 'data/synthetic_coco/'" in msg
    assert "'train_dataloader.dataset.data_root'" in msg
    assert 'make_synthetic.py' in msg


def test_missing_image_folder(det_cfg, coco_root, tmp_path, monkeypatch):
    root = tmp_path / 'data' / 'synthetic_coco'
    shutil.copytree(coco_root, root)
    monkeypatch.chdir(tmp_path)
    validate_config(det_cfg, ('train', 'val'))
    shutil.rmtree(root / 'val2017')
    with pytest.raises(ConfigError, match=r"folder '.*val2017/?' of "
                       r"'val_dataloader.dataset.data_prefix.img'"):
        check_data(det_cfg, ('train', 'val'))


def test_malformed_json_names_file_and_position(tmp_path):
    path = tmp_path / 'instances.json'
    path.write_text('{"images": [\n  {"id": 1,}\n]}')
    with pytest.raises(ConfigError, match=rf'{path} is not valid JSON.*'
                       r'line 2 column 12'):
        check_coco_file(str(path))


def test_bad_records_are_all_reported(coco_root, tmp_path):
    doc = json.loads(
        (coco_root / 'annotations/instances_val2017.json').read_text())
    doc['annotations'][0]['bbox'] = [1, 2, 0, 5]
    doc['annotations'][1]['category_id'] = 999
    doc['annotations'][2]['bbox'] = [1, 2, 3]
    del doc['images'][-1]['file_name']
    path = tmp_path / 'bad.json'
    path.write_text(json.dumps(doc))
    with pytest.raises(ConfigError) as err:
        check_coco_file(str(path))
    msg = str(err.value)
    ids = [a['id'] for a in doc['annotations'][:3]]
    assert f'annotations[0] (id {ids[0]}): bbox [1, 2, 0, 5] has ' \
        'non-positive size' in msg
    assert f'annotations[1] (id {ids[1]}): category_id 999 is not in ' \
        'categories' in msg
    assert f"annotations[2] (id {ids[2]}): 'bbox' must be [x, y, w, h]" in msg
    last = len(doc['images']) - 1
    assert (f"images[{last}] (id {doc['images'][-1]['id']}): missing "
            "'file_name' (expected a non-empty string)") in msg
    assert msg.startswith(f'annotation file {path} has 4 invalid record(s)')


def test_box_outside_its_image_is_reported(coco_root, tmp_path):
    doc = json.loads(
        (coco_root / 'annotations/instances_val2017.json').read_text())
    ann = doc['annotations'][0]
    img = next(i for i in doc['images'] if i['id'] == ann['image_id'])
    ann['bbox'] = [img['width'] + 3, 2, 5, 5]
    path = tmp_path / 'outside.json'
    path.write_text(json.dumps(doc))
    with pytest.raises(ConfigError, match=rf"annotations\[0\] \(id "
                       rf"{ann['id']}\): .*lies outside its "
                       rf"{img['width']}x{img['height']}"):
        check_coco_file(str(path))


def test_label_maps_must_exist_and_match_their_images(ade20k_root, tmp_path):
    from PIL import Image
    root = tmp_path / 'ade'
    shutil.copytree(ade20k_root, root)
    imgs = sorted((root / 'images/validation').glob('*.jpg'))
    (root / 'annotations/validation' / (imgs[0].stem + '.png')).unlink()
    small = root / 'annotations/validation' / (imgs[1].stem + '.png')
    Image.open(small).resize((7, 5)).save(small)
    ds = dict(type='ADE20KDataset', data_root=str(root),
              data_prefix=dict(img_path='images/validation',
                               seg_map_path='annotations/validation'))
    with pytest.raises(ConfigError) as err:
        check_dataset(ds, 'val_dataloader.dataset')
    msg = str(err.value)
    assert 'has 2 invalid record(s)' in msg
    assert f'image {imgs[0].name}: no label map' in msg
    assert f'image {imgs[1].name}: label map {small.name} is 7x5' in msg
