"""Synthetic nuScenes -> converter -> NuScenesBEVDataset -> transforms ->
PackBEVInputs: geometry checked against the rendered pixels and the devkit."""
import copy
import json
import pickle
import shutil

import cv2
import numpy as np
import pytest
import torch
from mmengine.registry import init_default_scope

from projects.bevformer_v2.datasets import (CAMERAS, CLASSES,
                                            CropResizeFlipImage,
                                            NuScenesBEVDataset)
from projects.bevformer_v2.datasets.converter import (create_nuscenes_infos,
                                                      pose_matrix)
from projects.bevformer_v2.structures import LiDARBoxes3D
from projects.synthetic_data import generate_nuscenes
from projects.synthetic_data.nuscenes import CLASSES as DRAWN
from projects.synthetic_data.nuscenes import VERSION

LOAD = [dict(type='LoadMultiViewImages')]


@pytest.fixture(scope='module')
def root(tmp_path_factory):
    return generate_nuscenes(tmp_path_factory.mktemp('nuscenes'), 1, 1,
                             seed=0, samples_per_scene=3)


@pytest.fixture(scope='module')
def nusc(root):
    from nuscenes.nuscenes import NuScenes
    return NuScenes(VERSION, str(root), verbose=False)


def build(root, split='val', pipeline=LOAD, **kwargs):
    init_default_scope('mmdet')
    return NuScenesBEVDataset(ann_file=f'nuscenes_infos_{split}.json',
                              data_root=str(root), pipeline=pipeline, **kwargs)


def test_generator_tables_and_determinism(root, nusc, tmp_path):
    from nuscenes.utils.splits import get_scenes_of_split
    assert len(get_scenes_of_split('synthetic_train', nusc)) == 1
    assert len(get_scenes_of_split('synthetic_val', nusc)) == 1
    assert len(nusc.sample) == 6
    for sample in nusc.sample:
        assert sorted(sample['data']) == sorted(CAMERAS + ('LIDAR_TOP', ))
        assert len(sample['anns']) >= len(CLASSES)
    for ann in nusc.sample_annotation:
        assert ann['num_lidar_pts'] + ann['num_radar_pts'] > 0
        assert ann['prev'] or ann['next']
        assert np.isfinite(nusc.box_velocity(ann['token'])).all()
        if ann['next']:
            nxt = nusc.get('sample_annotation', ann['next'])
            dt = (nusc.get('sample', nxt['sample_token'])['timestamp']
                  - nusc.get('sample', ann['sample_token'])['timestamp'])
            assert dt == 500_000
    poses = [nusc.get('ego_pose', nusc.get('sample_data', s['data']['LIDAR_TOP'])
                      ['ego_pose_token'])['translation'] for s in nusc.sample]
    assert np.linalg.norm(np.diff(poses[:3], axis=0), axis=1).min() > 1.0
    # a pure function of the arguments: same seed, same bytes
    a = generate_nuscenes(tmp_path / 'a', 1, 1, size=(32, 48), seed=5,
                          samples_per_scene=2)
    b = generate_nuscenes(tmp_path / 'b', 1, 1, size=(32, 48), seed=5,
                          samples_per_scene=2)
    files = sorted(p.relative_to(a) for p in a.rglob('*') if p.is_file())
    assert files == sorted(p.relative_to(b) for p in b.rglob('*') if p.is_file())
    assert all((a / f).read_bytes() == (b / f).read_bytes() for f in files)


def hue_distance(a, b):
    """Distance of hues in degrees."""
    d = np.abs(np.asarray(a, float) - b) % 360
    return np.minimum(d, 360 - d)


def class_mask(img_bgr, hue):
    """Pixels of cuboid faces of one class hue (sky/ground are unsaturated)."""
    hsv = cv2.cvtColor(img_bgr, cv2.COLOR_BGR2HSV).astype(float)
    return (hsv[..., 1] > 120) & (hue_distance(hsv[..., 0] * 2, hue) < 12)


def test_lidar2img_lands_on_rendered_cuboids(root):
    """Cuboids entirely inside an image, not overlapped by a nearer cuboid nor
    touching one of a similar colour: the bounding rectangle of the projected
    corners (lidar2img of the infos) equals the rectangle of the rendered
    pixels of the class colour within 1.5 px."""
    errors = []
    samples = [ds.prepare_data(idx) for ds in (
        build(root, 'train', frame_offsets=(0, )),
        build(root, 'val', frame_offsets=(0, ))) for idx in range(len(ds))]
    for res, n in [(res, n) for res in samples for n in range(len(CAMERAS))]:
        corners = res['gt_bboxes_3d'].corners.double().numpy()
        h, w = res['img_shape']
        l2i = res['lidar2img'][0, n]
        pts = corners @ l2i[:3, :3].T + l2i[:3, 3]
        uv = pts[..., :2] / pts[..., 2:3]
        rect = np.concatenate([uv.min(1), uv.max(1)], 1)
        hues = [DRAWN[name][2] for name in res['gt_names']]
        depth = np.linalg.norm(pts.mean(1), axis=1)
        for i in np.flatnonzero((pts[..., 2] > 0.5).all(1)):
            x1, y1, x2, y2 = rect[i]
            if x1 < 1 or y1 < 1 or x2 > w - 1 or y2 > h - 1:
                continue  # not entirely inside this image
            touching = [j for j in range(len(rect)) if j != i and (
                pts[j, :, 2] > 0).any() and rect[j, 0] < x2 + 2 and
                rect[j, 2] > x1 - 2 and rect[j, 1] < y2 + 2 and
                rect[j, 3] > y1 - 2]
            if any(depth[j] < depth[i] or hue_distance(hues[i], hues[j]) < 40
                   for j in touching):
                continue  # may be occluded or merge with another cuboid
            mask = class_mask(res['img'][0, n], hues[i])
            r0, r1 = max(int(y1) - 3, 0), min(int(y2) + 4, h)
            c0, c1 = max(int(x1) - 3, 0), min(int(x2) + 4, w)
            ys, xs = np.nonzero(mask[r0:r1, c0:c1])
            got = np.array([xs.min() + c0, ys.min() + r0,
                            xs.max() + c0 + 1, ys.max() + r0 + 1])
            errors.append(got - rect[i])
    errors = np.abs(np.array(errors))
    # JPEG 4:2:0 chroma blurs colour edges by about a pixel on 160 px images
    assert len(errors) >= 4 and errors.max() <= 2.0 and errors.mean() < 1.0, \
        errors


def test_history_frames_in_current_lidar_frame(root, nusc):
    """A static world point seen from the previous key frame: the history
    lidar2img applied to its CURRENT-lidar coordinates gives the pixel that
    the devkit's own chain (global -> past ego -> past camera -> K) gives."""
    ds = build(root, frame_offsets=(-1, 0))
    res = ds.prepare_data(2)  # third key frame of the val scene
    assert res['frame_valid'].tolist() == [True, True]
    sample = nusc.get('sample', res['token'])
    prev = nusc.get('sample', sample['prev'])
    lidar = nusc.get('sample_data', sample['data']['LIDAR_TOP'])
    cur_l2g = pose_matrix(nusc.get('ego_pose', lidar['ego_pose_token'])) @ \
        pose_matrix(nusc.get('calibrated_sensor',
                             lidar['calibrated_sensor_token']))
    assert np.allclose(cur_l2g, res['ego2global'] @ res['lidar2ego'])
    world = np.array([[520.0, 480.0, 0.5], [503.0, 497.0, 2.0]])
    world = np.concatenate([world, cur_l2g[:3, 3][None] + [[12.0, -3.0, 0.0]]])
    p_cur = (np.linalg.inv(cur_l2g) @ np.c_[world, np.ones(3)].T).T
    for n, cam in enumerate(CAMERAS):
        sd = nusc.get('sample_data', prev['data'][cam])
        cs = nusc.get('calibrated_sensor', sd['calibrated_sensor_token'])
        g2c = np.linalg.inv(pose_matrix(nusc.get('ego_pose', sd['ego_pose_token']))
                            @ pose_matrix(cs))
        cam_pts = (g2c @ np.c_[world, np.ones(3)].T)[:3]
        expected = np.array(cs['camera_intrinsic']) @ cam_pts
        got = (res['lidar2img'][0, n] @ p_cur.T)[:3]
        assert np.allclose(got, expected, rtol=1e-9, atol=1e-6)
    # the current slot is the infos' own calibration
    assert np.allclose(res['lidar2img'][1], ds.prepare_data(2)['lidar2img'][1])


def test_identical_poses_and_scene_start(root, tmp_path):
    infos = json.loads((root / 'nuscenes_infos_val.json').read_text())
    first, second = infos['data_list'][:2]
    stored = np.array([second['cams'][c]['lidar2cam'] for c in CAMERAS])
    # scene start: the history slot repeats the current frame, unchanged
    ds = build(root, frame_offsets=(-2, -1, 0))
    res = ds.prepare_data(0)
    assert res['frame_valid'].tolist() == [False, False, True]
    assert res['frame_tokens'] == [first['token']] * 3
    assert np.array_equal(res['lidar2img'][0], res['lidar2img'][2])
    # identical poses (ego did not move): history lidar2cam is the stored one
    edited = copy.deepcopy(infos)
    edited['data_list'][0]['ego2global'] = second['ego2global']
    edited['data_list'][0]['lidar2ego'] = second['lidar2ego']
    for cam in CAMERAS:
        edited['data_list'][0]['cams'][cam] = second['cams'][cam]
    (tmp_path / 'nuscenes_infos_val.json').write_text(json.dumps(edited))
    (tmp_path / 'samples').symlink_to(root / 'samples')
    res = build(tmp_path, frame_offsets=(-1, 0)).prepare_data(1)
    assert res['frame_valid'].tolist() == [True, True]
    assert np.allclose(res['lidar2cam'][0], stored, atol=1e-12)
    assert np.allclose(res['lidar2img'][0], res['lidar2img'][1], atol=1e-9)


IMAGE_AUGS = {
    'crop': dict(crop=(10, 20, 150, 90)),
    'crop_half': dict(crop=(0, 26, 160, 90), scale=0.5),
    'double': dict(scale=2.0),
    'flip': dict(flip_prob=1.0),
    'crop_resize_flip': dict(crop=(0, 26, 160, 90), heights=(48, ),
                             flip_prob=1.0),
}


@pytest.mark.parametrize('aug', sorted(IMAGE_AUGS))
def test_crop_resize_flip_updates_intrinsics(aug):
    """A bright square drawn around the projection of a 3D point stays, after
    the transform, centred on the projection through the updated lidar2img."""
    h, w = 90, 160
    K = np.array([[120.0, 0, 80], [0, 120, 45], [0, 0, 1]])
    cam2img = np.eye(4)
    cam2img[:3, :3] = K
    lidar2cam = np.eye(4)
    lidar2cam[:3, :3] = [[1, 0, 0], [0, 0, -1], [0, 1, 0]]  # y forward
    point = np.array([-2.0, 12.0, 0.5, 1.0])
    img = np.zeros((h, w, 3), np.uint8)
    u, v = (cam2img @ lidar2cam @ point)[:2] / (lidar2cam @ point)[2]
    img[int(v) - 3:int(v) + 3, int(u) - 3:int(u) + 3] = 255
    centre = np.array([int(u), int(v)], float)  # centre of the 6x6 block
    results = dict(img=img[None, None], img_shape=(h, w), token='t',
                   cam2img=cam2img[None, None], lidar2cam=lidar2cam[None, None],
                   lidar2img=(cam2img @ lidar2cam)[None, None])
    out = CropResizeFlipImage(**IMAGE_AUGS[aug]).transform(results)
    proj = out['lidar2img'][0, 0] @ point
    proj = proj[:2] / proj[2]
    # the analytic ida of the block centre equals the new projection's shift
    ida = out['ida_mat'][:3, :3]
    assert np.allclose(proj, (ida @ np.r_[u, v, 1])[:2])
    assert np.allclose(out['cam2img'][0, 0], out['ida_mat'] @ cam2img)
    assert np.allclose(out['lidar2img'][0, 0], out['cam2img'][0, 0] @ lidar2cam)
    assert (out['cam2img'][0, 0, 0, 0] < 0) == ('flip' in aug)
    gray = out['img'][0, 0, ..., 0].astype(float)
    assert gray.shape == tuple(out['img_shape'])
    ys, xs = np.mgrid[:gray.shape[0], :gray.shape[1]] + 0.5
    got = np.array([(gray * xs).sum(), (gray * ys).sum()]) / gray.sum()
    assert np.allclose(got, (ida @ np.r_[centre, 1])[:2], atol=0.35)


TRAIN = [
    dict(type='LoadMultiViewImages'),
    dict(type='PhotoMetricDistortionMultiView'),
    dict(type='ObjectRangeFilter',
         point_cloud_range=[-15, -15, -5, 15, 15, 3]),
    dict(type='ObjectNameFilter', classes=CLASSES),
    dict(type='CropResizeFlipImage', crop=(0, 26, 160, 90), heights=(48, ),
         flip_prob=0.5),
    dict(type='PerspectiveAnnotations', min_points=3),
    dict(type='GlobalRotScaleTrans', flip_x_prob=0.5, flip_y_prob=0.5),
    dict(type='PackBEVInputs')
]


def test_pack_bev_inputs_interface(root):
    """The README data-sample interface, and the GT/mono targets consistent
    with bda_mat and the final lidar2img."""
    np.random.seed(0)
    cams = ['CAM_FRONT', 'CAM_BACK']
    ds = build(root, 'train', TRAIN, cameras=cams, frame_offsets=(-1, 0))
    raw = build(root, 'train', [], cameras=cams, frame_offsets=(-1, 0))
    for idx in (0, 2):
        out = ds[idx]
        imgs, s = out['inputs']['imgs'], out['data_samples']
        assert imgs.dtype == torch.uint8 and imgs.shape == (2, 2, 3, 48, 120)
        assert s.img_shape == (48, 120) and s.cam_names == cams
        assert s.frame_valid.tolist() == [idx > 0, True]
        assert s.frame_offsets.tolist() == [-1, 0]
        for key in ('lidar2img', 'cam2img', 'lidar2cam'):
            assert getattr(s, key).shape == (2, 2, 4, 4)
            assert getattr(s, key).dtype == np.float64
        assert np.allclose(s.lidar2img, s.cam2img @ s.lidar2cam)
        for key in ('token', 'scene_token', 'sample_idx', 'timestamp',
                    'lidar2ego', 'ego2global', 'bda_mat'):
            assert key in s.metainfo
        gt = s.gt_instances_3d
        assert gt.bboxes_3d.dtype == torch.float32 and gt.bboxes_3d.shape[1] == 9
        assert gt.labels_3d.dtype == torch.long
        # GT = the range/name-filtered raw GT moved by bda_mat
        src = raw.prepare_data(idx)
        keep = src['gt_bboxes_3d'].in_range_bev([-15, -15, 15, 15]).numpy()
        keep &= src['gt_labels_3d'] >= 0
        expect = src['gt_bboxes_3d'][torch.from_numpy(keep)].transform(s.bda_mat)
        assert torch.allclose(gt.bboxes_3d, expect.tensor, atol=1e-4)
        assert gt.labels_3d.tolist() == src['gt_labels_3d'][keep].tolist()
        # mono targets: centre/depth are the current frame's projections of
        # the un-augmented, unfiltered boxes, 2D boxes inside the final image
        mono = s.gt_instances_mono
        assert len(mono) > 0 and set(mono.cam_ids.tolist()) <= {0, 1}
        named = src['gt_bboxes_3d'][torch.from_numpy(src['gt_labels_3d'] >= 0)]
        matched = torch.cdist(mono.bboxes_3d[:, :3], named.tensor[:, :3]).min(1).values
        assert matched.max() < 1e-4
        centres = LiDARBoxes3D(mono.bboxes_3d.double()).gravity_center.numpy()
        for k in range(len(mono)):
            l2i = s.lidar2img[1, mono.cam_ids[k]]
            p = l2i[:3, :3] @ centres[k] + l2i[:3, 3]
            assert np.allclose(mono.centers_2d[k].numpy(), p[:2] / p[2], atol=1e-3)
            assert np.isclose(mono.depths[k].item(), p[2], atol=1e-4)
        b = mono.bboxes
        assert (b[:, 0] >= 0).all() and (b[:, 2] <= 120).all()
        assert (b[:, 1] >= 0).all() and (b[:, 3] <= 48).all()
        assert (b[:, 2] > b[:, 0]).all() and (b[:, 3] > b[:, 1]).all()
        assert mono.attr_labels.min() >= -1 and mono.attr_labels.max() <= 2
        moving = mono.speeds > 0.2
        assert torch.isfinite(mono.speeds).all() and moving.any()


def _edit(root, tmp_path, edit, name='nuscenes_infos_val.json'):
    infos = json.loads((root / 'nuscenes_infos_val.json').read_text())
    edit(infos)
    path = tmp_path / name
    path.write_text(json.dumps(infos))
    return path


BAD_INFOS = {
    'missing_camera': (lambda d: d['data_list'][1]['cams'].pop('CAM_BACK'),
                       ['{token1}', 'CAM_BACK']),
    'no_ego_pose': (lambda d: d['data_list'][1].pop('ego2global'),
                    ['{token1}', 'ego2global']),
    'null_ego_pose': (lambda d: d['data_list'][1].update(ego2global=None),
                      ['{token1}', 'ego2global']),
    'older_version': (lambda d: d['metainfo'].update(format_version=0),
                      ['format_version', 'create_nuscenes_infos']),
    'mmdet3d_v1_layout': (
        lambda d: d.update(
            metainfo=dict(categories={}, dataset='nuscenes', version='v1.0'),
            data_list=[dict(token=d['data_list'][0]['token'], images={},
                            lidar_points={}, instances=[])]),
        ['{token0}', "'cams'", 'ego2global', 'another converter']),
    'official_bevformer_layout': (
        lambda d: [d.clear(), d.update(infos=[], metadata=dict(version='v1.0'))],
        ['metainfo', 'data_list', 'infos']),
}


@pytest.mark.parametrize('case', sorted(BAD_INFOS))
def test_bad_infos_name_sample_and_field(root, tmp_path, case):
    edit, words = BAD_INFOS[case]
    tokens = [d['token'] for d in json.loads(
        (root / 'nuscenes_infos_val.json').read_text())['data_list']]
    path = _edit(root, tmp_path, edit)
    with pytest.raises(ValueError) as err:
        NuScenesBEVDataset(ann_file=str(path), data_root=str(root),
                           pipeline=[])
    for word in words:
        assert word.format(token0=tokens[0], token1=tokens[1]) in str(err.value)


def test_pickle_missing_image_and_broken_tables(root, tmp_path, nusc):
    pkl = tmp_path / 'nuscenes_infos_val.pkl'
    pkl.write_bytes(pickle.dumps([1, 2], protocol=2))
    with pytest.raises(ValueError, match="not an official BEVFormer infos .pkl"):
        NuScenesBEVDataset(ann_file=str(pkl), pipeline=[])
    other = tmp_path / 'nuscenes_infos_val.yaml'
    other.write_text('infos: []')
    with pytest.raises(ValueError, match='expected the JSON infos'):
        NuScenesBEVDataset(ann_file=str(other), pipeline=[])
    # a missing image names the sample, frame and camera
    ds = build(root, frame_offsets=(-1, 0))
    res = ds.assemble(ds.get_data_info(1))
    res['img_paths'][0][3] = str(tmp_path / 'gone.jpg')
    with pytest.raises(FileNotFoundError) as err:
        ds.pipeline(res)
    assert res['token'] in str(err.value) and 'CAM_BACK' in str(err.value)
    # the converter on devkit tables without a camera / without an ego pose
    sample = nusc.sample[1]
    for table, drop, words in (
            ('sample_data', sample['data']['CAM_FRONT_LEFT'],
             ['CAM_FRONT_LEFT']),
            ('ego_pose', nusc.get('sample_data', sample['data']['LIDAR_TOP'])
             ['ego_pose_token'], ['LIDAR_TOP.ego_pose_token'])):
        broken = tmp_path / table
        shutil.copytree(root / VERSION, broken / VERSION)
        shutil.copytree(root / 'maps', broken / 'maps')
        rows = json.loads((broken / VERSION / f'{table}.json').read_text())
        rows = [r for r in rows if r['token'] != drop]
        (broken / VERSION / f'{table}.json').write_text(json.dumps(rows))
        with pytest.raises(ValueError) as err:
            create_nuscenes_infos(broken, VERSION, check_files=False)
        assert sample['token'] in str(err.value)
        assert all(w in str(err.value) for w in words)


def test_converter_boxes_match_devkit_boxes(root, nusc):
    """Infos boxes in the lidar frame, moved with the devkit to global, are
    the devkit's annotation boxes; labels follow the class order."""
    infos = json.loads((root / 'nuscenes_infos_val.json').read_text())
    assert infos['metainfo']['eval_split'] == 'synthetic_val'
    assert infos['metainfo']['classes'] == list(CLASSES)
    info = infos['data_list'][1]
    boxes = LiDARBoxes3D(torch.tensor([i['bbox_3d'] for i in info['instances']],
                                      dtype=torch.float64))
    for box, inst in zip(boxes.to_nusc_boxes(info['lidar2ego'],
                                             info['ego2global']),
                         info['instances']):
        ref = nusc.get_box(inst['token'])
        assert np.allclose(box.center, ref.center, atol=1e-6)
        assert np.allclose(box.wlh, ref.wlh)
        assert np.allclose(box.rotation_matrix, ref.rotation_matrix, atol=1e-6)
        assert np.allclose(box.velocity[:2], nusc.box_velocity(inst['token'])[:2])
        assert inst['detection_name'] in DRAWN




class _MaxRng:
    """uniform() -> 0 (every step fires), uniform(a, b) -> b, no swap."""

    def uniform(self, low=None, high=None):
        return 0.0 if low is None else high

    def permutation(self, n):
        return np.arange(n)


def test_photometric_distortion():
    from projects.bevformer_v2.datasets import PhotoMetricDistortionMultiView
    img = np.random.default_rng(0).integers(60, 190, (2, 3, 8, 10, 3)).astype(
        np.uint8)
    same = PhotoMetricDistortionMultiView(prob=0.0).transform(dict(img=img))
    assert np.array_equal(same['img'], img)
    t = PhotoMetricDistortionMultiView(brightness_delta=30,
                                       contrast_range=(1, 1.5),
                                       saturation_range=(1, 1), hue_delta=0)
    out = t._one(img[0, 0], _MaxRng()).astype(float)
    # brightness +30, contrast x1.5 (drawn first), then the HSV steps
    expected = np.clip((img[0, 0] + 30.0) * 1.5, 0, 255)
    assert np.abs(out - expected).max() <= 3  # HSV round trip of uint8
    np.random.seed(0)
    drawn = PhotoMetricDistortionMultiView().transform(dict(img=img))['img']
    assert drawn.dtype == np.uint8 and drawn.shape == img.shape
    assert not np.array_equal(drawn[0, 0], drawn[0, 1])  # independent draws


def _tool(name):
    import importlib.util
    from pathlib import Path
    path = Path(__file__).resolve().parents[2] / 'tools' / 'dataset_converters' \
        / f'{name}.py'
    spec = importlib.util.spec_from_file_location(f'_tool_{name}', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_command_line_tools(root, tmp_path):
    """The converter CLI on the synthetic root rewrites the generator's infos
    byte for byte; make_synthetic.py knows the nuscenes kind."""
    _tool('create_nuscenes_infos').main([
        '--root', str(root), '--version', VERSION, '--out-dir',
        str(tmp_path / 'infos'), '--splits', 'val=synthetic_val'])
    assert (tmp_path / 'infos' / 'nuscenes_infos_val.json').read_bytes() == \
        (root / 'nuscenes_infos_val.json').read_bytes()
    assert not (tmp_path / 'infos' / 'nuscenes_infos_train.json').exists()
    _tool('make_synthetic').main(['nuscenes', '--out', str(tmp_path / 'gen'),
                                  '--num-train', '1', '--num-val', '1',
                                  '--size', '32', '48'])
    meta = json.loads((tmp_path / 'gen' / 'nuscenes_infos_train.json')
                      .read_text())['metainfo']
    assert meta['eval_split'] == 'synthetic_train' and meta['format_version'] == 1
