"""Data checks on the files a config reads: synthetic datasets copied to a
temp folder and made malformed, checked through real zoo configs."""
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from mmengine.config import Config
from PIL import Image

import projects  # noqa: F401
from projects.config_validation import ConfigError, check_data
from projects.config_validation.data_paths import check_dataset

CONFIGS = Path(__file__).resolve().parents[2] / 'configs'
RETINANET = str(CONFIGS / 'retinanet'
                / 'retinanet_r18_fpn_tiny_1xb4-300it_synthetic-coco.py')
UPERNET = str(CONFIGS / 'upernet'
              / 'upernet_r18_tiny_1xb4-200it_synthetic-ade20k.py')
NUSCENES = str(CONFIGS / '_base_' / 'datasets' / 'synthetic_nuscenes_bev.py')


def _copy(src, tmp_path, monkeypatch, name):
    root = tmp_path / 'data' / name
    shutil.copytree(src, root)
    monkeypatch.chdir(tmp_path)
    return root


def _edit_json(path, edit):
    doc = json.loads(path.read_text())
    edit(doc)
    path.write_text(json.dumps(doc))
    return doc


@pytest.fixture
def coco(coco_root, tmp_path, monkeypatch):
    return _copy(coco_root, tmp_path, monkeypatch, 'synthetic_coco')


def _check_retinanet():
    with pytest.raises(ConfigError) as err:
        check_data(Config.fromfile(RETINANET), ('train', 'val'), RETINANET)
    return str(err.value)


def test_coco_config_passes_on_intact_data(coco):
    check_data(Config.fromfile(RETINANET), ('train', 'val'), RETINANET)


def test_coco_wrongly_typed_and_missing_fields(coco):
    ann = coco / 'annotations/instances_train2017.json'

    def edit(doc):
        doc['images'][0]['height'] = '128'
        del doc['annotations'][0]['area']
        doc['annotations'][1]['iscrowd'] = 'no'
        doc['annotations'][2]['bbox'] = None

    doc = _edit_json(ann, edit)
    msg = _check_retinanet()
    assert msg.startswith('annotation file data/synthetic_coco/annotations/'
                          'instances_train2017.json has 4 invalid record(s)')
    img, anns = doc['images'][0], doc['annotations']
    assert (f"images[0] (id {img['id']}): 'height' must be a positive "
            "integer, got '128' (str)") in msg
    assert (f"annotations[0] (id {anns[0]['id']}): missing 'area' "
            '(expected a finite number >= 0)') in msg
    assert f"annotations[1] (id {anns[1]['id']}): 'iscrowd' must be 0 or 1" \
        in msg
    assert (f"annotations[2] (id {anns[2]['id']}): 'bbox' must be [x, y, w, "
            'h] of 4 finite numbers, got None') in msg


def test_coco_without_categories_is_an_error(coco):
    _edit_json(coco / 'annotations/instances_val2017.json',
               lambda doc: doc.pop('categories'))
    msg = _check_retinanet()
    assert 'instances_val2017.json' in msg
    assert "top level: 'categories' must be a list, got nothing" in msg


def test_coco_missing_image_and_wrong_size(coco):
    doc = json.loads(
        (coco / 'annotations/instances_train2017.json').read_text())
    gone, resized = doc['images'][1], doc['images'][2]
    (coco / 'train2017' / gone['file_name']).unlink()
    path = coco / 'train2017' / resized['file_name']
    Image.open(path).resize((33, 21)).save(path)
    msg = _check_retinanet()
    assert 'has 2 invalid record(s)' in msg
    assert (f"image id {gone['id']}: file data/synthetic_coco/train2017/"
            f"{gone['file_name']} does not exist") in msg
    assert (f"image id {resized['id']}: the JSON says {resized['width']}x"
            f"{resized['height']} (width x height), the file "
            f'data/synthetic_coco/train2017/{resized["file_name"]} is 33x21'
            ) in msg


def test_coco_image_sizes_sampled_and_stated(coco, monkeypatch):
    from projects.config_validation import coco as coco_module
    monkeypatch.setattr(coco_module, 'HEADER_SAMPLE', 3)
    doc = json.loads(
        (coco / 'annotations/instances_train2017.json').read_text())
    n = len(doc['images'])
    # the sample is every (n / 3)th image from the first: resize the first
    first = doc['images'][0]
    path = coco / 'train2017' / first['file_name']
    Image.open(path).resize((10, 10)).save(path)
    msg = _check_retinanet()
    assert f'image sizes: read 3 of {n} files, evenly spaced' in msg
    assert f"image id {first['id']}: the JSON says" in msg


@pytest.fixture
def ade(ade20k_root, tmp_path, monkeypatch):
    return _copy(ade20k_root, tmp_path, monkeypatch, 'synthetic_ade20k')


def _check_upernet():
    with pytest.raises(ConfigError) as err:
        check_data(Config.fromfile(UPERNET), ('train', 'val'), UPERNET)
    return str(err.value)


def test_ade20k_label_out_of_range_names_the_file(ade):
    check_data(Config.fromfile(UPERNET), ('train', 'val'), UPERNET)
    seg = sorted((ade / 'annotations/training').glob('*.png'))[1]
    lab = np.asarray(Image.open(seg)).copy()
    lab[0, :3] = 200     # -> 199 after reduce_zero_label: >= 150 classes
    lab[1, :3] = 151     # -> 150: out of range as well
    lab[2, :3] = 0       # -> 255: ignored
    lab[3, :3] = 150     # -> 149: the last class
    Image.fromarray(lab).save(seg)
    msg = _check_upernet()
    assert msg.startswith(f'{UPERNET}: segmentation data '
                          'data/synthetic_ade20k/images/training')
    assert (f'image {seg.stem}.jpg: label map data/synthetic_ade20k/'
            f'annotations/training/{seg.name} has label(s) 150, 199 after '
            'reduce_zero_label') in msg
    assert 'expected 0..149 or 255 (ignore)' in msg


def test_ade20k_rgb_label_map(ade):
    seg = sorted((ade / 'annotations/validation').glob('*.png'))[0]
    Image.open(seg).convert('RGB').save(seg)
    msg = _check_upernet()
    assert f'{seg.name} has shape' in msg and 'expected one channel' in msg


def _write_pair(img_path, seg_path, labels):
    img_path.parent.mkdir(parents=True, exist_ok=True)
    seg_path.parent.mkdir(parents=True, exist_ok=True)
    h, w = labels.shape
    Image.fromarray(np.zeros((h, w, 3), np.uint8)).save(img_path)
    Image.fromarray(labels.astype(np.uint8)).save(seg_path)


def test_voc_list_and_labels_without_zero_reduction(tmp_path):
    root = tmp_path / 'VOC2012'
    ok = np.array([[0, 20], [255, 3]])
    _write_pair(root / 'JPEGImages/a.jpg', root / 'SegmentationClass/a.png',
                ok)
    _write_pair(root / 'JPEGImages/b.jpg', root / 'SegmentationClass/b.png',
                np.array([[0, 21], [255, 3]]))
    (root / 'ImageSets').mkdir()
    (root / 'ImageSets/train.txt').write_text('a\nb\nc\n')
    ds = dict(type='PascalVOCDataset', data_root=str(root),
              ann_file='ImageSets/train.txt',
              data_prefix=dict(img_path='JPEGImages',
                               seg_map_path='SegmentationClass'))
    with pytest.raises(ConfigError) as err:
        check_dataset(ds, 'train_dataloader.dataset')
    msg = str(err.value)
    assert 'has 2 invalid record(s)' in msg
    assert 'image c.jpg: file' in msg and 'ImageSets/train.txt' in msg
    assert ('image b.jpg: label map ' f'{root}/SegmentationClass/b.png has '
            'label(s) 21; expected 0..20 or 255') in msg


def test_cityscapes_city_folders_are_listed(tmp_path):
    root = tmp_path / 'cityscapes'
    for city, top in (('aachen', 18), ('bremen', 19)):
        _write_pair(
            root / f'leftImg8bit/train/{city}/{city}_0_0_leftImg8bit.png',
            root / f'gtFine/train/{city}/{city}_0_0_gtFine_labelTrainIds.png',
            np.array([[0, top], [255, 1]]))
    ds = dict(type='CityscapesDataset', data_root=str(root),
              data_prefix=dict(img_path='leftImg8bit/train',
                               seg_map_path='gtFine/train'))
    with pytest.raises(ConfigError) as err:
        check_dataset(ds, 'train_dataloader.dataset')
    msg = str(err.value)
    assert 'has 1 invalid record(s)' in msg
    assert ('image bremen/bremen_0_0_leftImg8bit.png: label map '
            f'{root}/gtFine/train/bremen/bremen_0_0_gtFine_labelTrainIds.png'
            ' has label(s) 19; expected 0..18 or 255') in msg


def test_imagenet_list_labels_and_files(imagenet_root, tmp_path):
    root = tmp_path / 'imagenet'
    shutil.copytree(imagenet_root, root)
    ds = dict(type='ImageNet', data_root=str(root), ann_file='meta/train.txt',
              data_prefix='train')
    check_dataset(ds, 'train_dataloader.dataset')
    lines = (root / 'meta/train.txt').read_text().splitlines()
    first = lines[0].rsplit(' ', 1)[0]
    lines[0] = f'{first} 1000'
    lines[1] = lines[1].rsplit(' ', 1)[0]
    lines[2] = 'train/missing.JPEG 3'
    (root / 'meta/train.txt').write_text('\n'.join(lines) + '\n')
    with pytest.raises(ConfigError) as err:
        check_dataset(ds, 'train_dataloader.dataset')
    msg = str(err.value)
    meta = root / 'meta/train.txt'
    assert f'{meta} line 1: label 1000 is out of range (expected 0..999)' \
        in msg
    assert f'{meta} line 2: expected "<file> <label>"' in msg
    assert f'{meta} line 3: image file {root}/train/train/missing.JPEG ' \
        'does not exist' in msg


def test_imagenet_folder_without_classes(tmp_path):
    (tmp_path / 'train').mkdir()
    ds = dict(type='CustomDataset', data_root=str(tmp_path),
              data_prefix='train')
    with pytest.raises(ConfigError, match=r'train: no class sub-folders'):
        check_dataset(ds, 'train_dataloader.dataset')


@pytest.fixture
def nus(nuscenes_root, tmp_path, monkeypatch):
    return _copy(nuscenes_root, tmp_path, monkeypatch, 'synthetic_nuscenes')


def test_nuscenes_infos_files_and_matrices(nus):
    cfg = Config.fromfile(NUSCENES)
    check_data(cfg, ('train', 'val'))
    infos = nus / 'nuscenes_infos_train.json'

    def edit(doc):
        s0, s1 = doc['data_list'][:2]
        s0['cams']['CAM_FRONT']['cam2img'] = [[1, 0, 2], [0, 1, 2]]
        s0['ego2global'][0][0] = float('nan')
        s1['cams']['CAM_BACK']['lidar2cam'] = np.diag([2., 1, 1, 1]).tolist()
        s1['instances'][0]['bbox_3d'] = [1, 2, 3]
        (nus / s1['cams']['CAM_FRONT']['data_path']).unlink()

    doc = _edit_json(infos, edit)
    with pytest.raises(ConfigError) as err:
        check_data(cfg, ('train', ))
    msg = str(err.value)
    t0, t1 = (s['token'] for s in doc['data_list'][:2])
    assert msg.startswith('infos file data/synthetic_nuscenes/'
                          'nuscenes_infos_train.json has 5 invalid record(s)')
    assert (f"data_list[0] (token '{t0}'): cams.CAM_FRONT.cam2img expected "
            'a 3x3 intrinsics matrix, got shape (2, 3)') in msg
    assert f"data_list[0] (token '{t0}'): ego2global has non-finite" in msg
    assert (f"data_list[1] (token '{t1}'): cams.CAM_BACK.lidar2cam rotation "
            'block is not a rotation') in msg
    assert f"data_list[1] (token '{t1}'): instances[0].bbox_3d must be 9" \
        in msg
    assert f"data_list[1] (token '{t1}'): cams.CAM_FRONT.data_path " in msg
