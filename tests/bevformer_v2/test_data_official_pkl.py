"""The official BEVFormer infos ``.pkl`` (mmdet3d 0.17 layout, written here
as the official ``tools/data_converter/nuscenes_converter.py`` writes it)
loads into ``NuScenesBEVDataset`` with the same geometry and GT as our JSON
infos, through a restricted unpickler that refuses any other global."""
import os
import pickle

import numpy as np
import pytest
import torch
from mmengine.registry import init_default_scope

from projects.bevformer_v2.datasets import (CAMERAS, NuScenesBEVDataset,
                                            load_infos, safe_load_pickle)
from projects.bevformer_v2.datasets.official_infos import data_path_under_root
from projects.bevformer_v2.evaluation import NuScenesMetric
from projects.config_validation.data_paths import check_dataset
from projects.synthetic_data import generate_nuscenes
from projects.synthetic_data.nuscenes import VERSION


def _sensor2lidar(nusc, token, l2e_t, l2e_r, e2g_t, e2g_r, sensor_type):
    """A camera record as the official ``obtain_sensor2top`` writes it."""
    from pyquaternion import Quaternion
    sd = nusc.get('sample_data', token)
    cs = nusc.get('calibrated_sensor', sd['calibrated_sensor_token'])
    pose = nusc.get('ego_pose', sd['ego_pose_token'])
    rec = dict(data_path=str(nusc.get_sample_data_path(token)), type=sensor_type,
               sample_data_token=token, sensor2ego_translation=cs['translation'],
               sensor2ego_rotation=cs['rotation'],
               ego2global_translation=pose['translation'],
               ego2global_rotation=pose['rotation'], timestamp=sd['timestamp'])
    s2e_r = Quaternion(cs['rotation']).rotation_matrix
    e2g_r_s = Quaternion(pose['rotation']).rotation_matrix
    inv = np.linalg.inv(e2g_r).T @ np.linalg.inv(l2e_r).T
    rot = (s2e_r.T @ e2g_r_s.T) @ inv
    t = (np.asarray(cs['translation']) @ e2g_r_s.T + np.asarray(pose['translation'])) @ inv
    t -= np.asarray(e2g_t) @ inv + np.asarray(l2e_t) @ np.linalg.inv(l2e_r).T
    rec['sensor2lidar_rotation'] = rot.T
    rec['sensor2lidar_translation'] = t
    return rec


def write_official_pkl(nusc, scene_names, path, version):
    """``{'infos', 'metadata'}`` of the official converter (table order,
    numpy arrays, SECOND yaw ``-yaw - pi/2``, wlh), pickled as mmcv.dump
    does (protocol 2)."""
    from nuscenes.eval.detection.utils import category_to_detection_name
    from pyquaternion import Quaternion
    infos, frame_idx = [], 0
    for sample in nusc.sample:
        lidar_token = sample['data']['LIDAR_TOP']
        sd = nusc.get('sample_data', lidar_token)
        cs = nusc.get('calibrated_sensor', sd['calibrated_sensor_token'])
        pose = nusc.get('ego_pose', sd['ego_pose_token'])
        lidar_path, boxes, _ = nusc.get_sample_data(lidar_token)
        info = dict(lidar_path=lidar_path, token=sample['token'], prev=sample['prev'],
                    next=sample['next'], can_bus=np.zeros(18), frame_idx=frame_idx,
                    sweeps=[], cams={}, scene_token=sample['scene_token'],
                    lidar2ego_translation=cs['translation'],
                    lidar2ego_rotation=cs['rotation'],
                    ego2global_translation=pose['translation'],
                    ego2global_rotation=pose['rotation'], timestamp=sample['timestamp'])
        frame_idx = 0 if sample['next'] == '' else frame_idx + 1
        l2e_r = Quaternion(cs['rotation']).rotation_matrix
        e2g_r = Quaternion(pose['rotation']).rotation_matrix
        for cam in CAMERAS:
            _, _, intrinsic = nusc.get_sample_data(sample['data'][cam])
            rec = _sensor2lidar(nusc, sample['data'][cam], cs['translation'], l2e_r,
                                pose['translation'], e2g_r, cam)
            rec.update(cam_intrinsic=intrinsic)
            info['cams'][cam] = rec
        anns = [nusc.get('sample_annotation', t) for t in sample['anns']]
        locs = np.array([b.center for b in boxes]).reshape(-1, 3)
        dims = np.array([b.wlh for b in boxes]).reshape(-1, 3)
        rots = np.array([b.orientation.yaw_pitch_roll[0] for b in boxes]).reshape(-1, 1)
        velocity = np.array([nusc.box_velocity(t)[:2] for t in sample['anns']])
        for i in range(len(boxes)):
            velo = np.array([*velocity[i], 0.0]) @ np.linalg.inv(e2g_r).T @ np.linalg.inv(
                l2e_r).T
            velocity[i] = velo[:2]
        names = np.array([category_to_detection_name(b.name) or b.name for b in boxes])
        info.update(
            gt_boxes=np.concatenate([locs, dims, -rots - np.pi / 2], axis=1),
            gt_names=names, gt_velocity=velocity.reshape(-1, 2),
            num_lidar_pts=np.array([a['num_lidar_pts'] for a in anns]),
            num_radar_pts=np.array([a['num_radar_pts'] for a in anns]),
            valid_flag=np.array([a['num_lidar_pts'] + a['num_radar_pts'] > 0
                                 for a in anns], dtype=bool).reshape(-1))
        if nusc.get('scene', sample['scene_token'])['name'] in scene_names:
            infos.append(info)
    with open(path, 'wb') as f:
        pickle.dump(dict(infos=infos, metadata=dict(version=version)), f, protocol=2)
    return path


@pytest.fixture(scope='module')
def data(tmp_path_factory):
    from nuscenes.nuscenes import NuScenes
    from nuscenes.utils.splits import get_scenes_of_split
    root = generate_nuscenes(tmp_path_factory.mktemp('nuscenes_pkl'), 1, 1, seed=5,
                             samples_per_scene=3)
    nusc = NuScenes(VERSION, str(root), verbose=False)
    scenes = set(get_scenes_of_split('synthetic_val', nusc))
    pkl = write_official_pkl(nusc, scenes, root / 'nuscenes_infos_temporal_val.pkl',
                             VERSION)
    return root, pkl


def _dataset(root, ann_file, pipeline=()):
    init_default_scope('mmdet')
    return NuScenesBEVDataset(ann_file=ann_file, data_root=str(root),
                              pipeline=list(pipeline), frame_offsets=(-1, 0))


def test_official_pkl_matches_json_infos(data):
    root, pkl = data
    assert type(pickle.load(open(pkl, 'rb'))['infos'][0]['gt_boxes']) is np.ndarray
    ours = _dataset(root, 'nuscenes_infos_val.json')
    official = _dataset(root, pkl.name)
    assert len(official) == len(ours) == 3
    stamps = [official.get_data_info(i)['timestamp'] for i in range(3)]
    assert stamps == sorted(stamps)
    by_token = {ours.get_data_info(i)['token']: i for i in range(3)}
    for i in range(3):
        a = official.assemble(official.get_data_info(i))
        b = ours.assemble(ours.get_data_info(by_token[a['token']]))
        assert a['img_paths'] == b['img_paths']
        assert a['frame_valid'].tolist() == b['frame_valid'].tolist()
        for key in ('lidar2ego', 'ego2global', 'cam2img', 'lidar2cam', 'lidar2img'):
            assert np.allclose(a[key], b[key], rtol=1e-9, atol=1e-7), key
        assert a['gt_labels_3d'].tolist() == b['gt_labels_3d'].tolist()
        assert a['gt_num_pts'].tolist() == b['gt_num_pts'].tolist()
        ta, tb = a['gt_bboxes_3d'].tensor.double(), b['gt_bboxes_3d'].tensor.double()
        dyaw = torch.remainder(ta[:, 6] - tb[:, 6] + np.pi, 2 * np.pi) - np.pi
        assert dyaw.abs().max() < 1e-5
        keep = [0, 1, 2, 3, 4, 5, 7, 8]
        torch.testing.assert_close(ta[:, keep], tb[:, keep], atol=1e-5, rtol=0)
        assert np.allclose(a['gt_speeds'], b['gt_speeds'], atol=1e-5)
        # no attributes in the official infos: no attribute target
        assert (a['gt_attr_labels'] == -1).all() and (b['gt_attr_labels'] >= 0).any()
    # and through the pipeline to the packed sample
    pipe = _dataset(root, pkl.name, [
        dict(type='LoadMultiViewImages'),
        dict(type='CropResizeFlipImage', crop=(0, 26, 160, 90), heights=(48, )),
        dict(type='PerspectiveAnnotations'), dict(type='PackBEVInputs')])
    sample = pipe[2]['data_samples']
    assert len(sample.gt_instances_3d) > 0 and len(sample.gt_instances_mono) > 0


def test_official_pkl_metric_and_config_check(data, tmp_path):
    root, pkl = data
    mini = tmp_path / 'nuscenes_infos_temporal_val.pkl'
    raw = pickle.load(open(pkl, 'rb'))
    raw['metadata']['version'] = 'v1.0-mini'
    mini.write_bytes(pickle.dumps(raw, protocol=2))
    metric = NuScenesMetric(ann_file=str(mini))
    assert (metric.version, metric.eval_set) == ('v1.0-mini', 'mini_val')
    assert metric.data_root == str(tmp_path)
    check_dataset(dict(type='NuScenesBEVDataset', data_root=str(root),
                       ann_file=pkl.name, cameras=list(CAMERAS)), 'train_dataloader.dataset')


def test_official_paths_are_rooted_at_samples():
    assert data_path_under_root('./data/nuscenes/samples/CAM_FRONT/a.jpg') == \
        'samples/CAM_FRONT/a.jpg'
    assert data_path_under_root('/abs/nuscenes/sweeps/LIDAR_TOP/b.bin') == \
        'sweeps/LIDAR_TOP/b.bin'
    assert data_path_under_root('other/c.jpg') == 'other/c.jpg'


class _Payload:

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f'touch {self.marker}', ))


@pytest.mark.parametrize('case', ['os_system', 'builtins_eval', 'own_class'])
def test_restricted_unpickler_refuses_other_globals(tmp_path, case):
    marker = tmp_path / 'executed'
    payload = dict(
        os_system=_Payload(marker),
        builtins_eval=dict(infos=[eval]),
        own_class=dict(infos=[], metadata=torch.nn.Identity()))[case]
    path = tmp_path / 'evil.pkl'
    path.write_bytes(pickle.dumps(payload, protocol=2))
    refused = dict(os_system='posix.system', builtins_eval='builtins.eval',
                   own_class='torch.nn.modules.linear.Identity')[case]
    with pytest.raises(pickle.UnpicklingError) as err:
        load_infos(path)
    msg = str(err.value)
    assert '\n' not in msg and str(path) in msg and refused in msg
    assert not marker.exists()
    # plain data and numpy arrays load
    ok = tmp_path / 'ok.pkl'
    value = dict(a=np.arange(3.0), b=[np.array(['car'])], c={1, 2}, d=np.float64(2))
    ok.write_bytes(pickle.dumps(value, protocol=2))
    back = safe_load_pickle(ok)
    assert np.array_equal(back['a'], value['a']) and back['c'] == {1, 2}
    assert back['b'][0].tolist() == ['car'] and back['d'] == 2


BAD_OFFICIAL = {
    'no_cams': (lambda i: i.pop('cams'), ["'cams'"]),
    'bad_rotation': (lambda i: i['cams']['CAM_BACK'].update(
        sensor2lidar_rotation=np.eye(4)), ['cams.CAM_BACK', 'sensor2lidar_rotation', '(3, 3)']),
    'bad_quaternion': (lambda i: i.update(ego2global_rotation=[1.0, 0.0]),
                       ['ego2global', 'quaternion']),
    'short_gt': (lambda i: i.update(num_radar_pts=i['num_radar_pts'][:-1]),
                 ['gt_* arrays', 'num_radar_pts']),
}


@pytest.mark.parametrize('case', sorted(BAD_OFFICIAL))
def test_bad_official_pkl_names_file_sample_and_key(data, tmp_path, case):
    root, pkl = data
    raw = pickle.load(open(pkl, 'rb'))
    edit, words = BAD_OFFICIAL[case]
    edit(raw['infos'][1])
    bad = tmp_path / 'bad.pkl'
    bad.write_bytes(pickle.dumps(raw, protocol=2))
    with pytest.raises(ValueError) as err:
        load_infos(bad)
    msg = str(err.value)
    for word in [str(bad), 'infos[1]', raw['infos'][1]['token']] + words:
        assert word in msg, (word, msg)
