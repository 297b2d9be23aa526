"""NuScenesMetric through the real nuscenes-devkit DetectionEval: the GT of the
synthetic val split, as predictions, is a perfect detector (box-convention
oracle); the mmdet3d 0.17 convention is not."""
import json
import math

import pytest
import torch

from projects.bevformer_v2.datasets import CLASSES
from projects.bevformer_v2.evaluation import NuScenesMetric, attribute_name
from projects.synthetic_data import generate_nuscenes


@pytest.fixture(scope='module')
def root(tmp_path_factory):
    return generate_nuscenes(tmp_path_factory.mktemp('nuscenes_metric'), 1, 2,
                             size=(32, 64), seed=1, samples_per_scene=3)


def gt_predictions(root, convert=None):
    """Data samples whose predictions are the val GT (label-mapped, lidar
    frame, infos velocity), optionally passed through ``convert``."""
    infos = json.loads((root / 'nuscenes_infos_val.json').read_text())
    samples = []
    for info in infos['data_list']:
        inst = [i for i in info['instances'] if i['detection_name'] in CLASSES]
        boxes = torch.tensor([i['bbox_3d'] for i in inst], dtype=torch.float32)
        if convert is not None:
            boxes = convert(boxes)
        samples.append(dict(
            token=info['token'], lidar2ego=info['lidar2ego'],
            ego2global=info['ego2global'],
            pred_instances_3d=dict(
                bboxes_3d=boxes, scores_3d=torch.linspace(1, 0.5, len(inst)),
                labels_3d=torch.tensor([CLASSES.index(i['detection_name'])
                                        for i in inst]))))
    return samples


def evaluate(root, samples, **kwargs):
    metric = NuScenesMetric(str(root), ann_file=str(
        root / 'nuscenes_infos_val.json'), **kwargs)
    metric.process({}, samples)
    return metric.compute_metrics(metric.results)


def to_mmdet3d_v017(boxes):
    """The official BEVFormer infos convention: (w, l) order and
    yaw = -yaw - pi/2 (what a model trained on those infos outputs)."""
    out = boxes.clone()
    out[:, 3], out[:, 4] = boxes[:, 4], boxes[:, 3]
    out[:, 6] = -boxes[:, 6] - math.pi / 2
    return out


def test_gt_oracle_scores_perfectly_in_devkit(root, tmp_path):
    """Asserted: every one of the 10 classes is present in the val GT and
    gets AP >= 0.999; NDS and mAP >= 0.999; mATE < 1e-3 m, mASE, mAOE (rad),
    mAVE (m/s) < 1e-3 and mAAE == 0 (the generator gives each object the
    attribute that the official rule predicts from its speed)."""
    samples = gt_predictions(root)
    metrics = evaluate(root, samples, jsonfile_prefix=str(tmp_path))
    for name in CLASSES:
        assert metrics[f'{name}_AP'] >= 0.999, (name, metrics)
    assert metrics['NDS'] >= 0.999 and metrics['mAP'] >= 0.999
    for key in ('mATE', 'mASE', 'mAOE', 'mAVE'):
        assert metrics[key] < 1e-3, (key, metrics)
    assert metrics['mAAE'] == 0
    # the official results JSON: every val sample, wlh sizes, wxyz rotations
    doc = json.loads((tmp_path / 'results_nusc.json').read_text())
    assert set(doc['results']) == {s['token'] for s in samples}
    assert doc['meta']['use_camera'] and not doc['meta']['use_lidar']
    det = doc['results'][samples[0]['token']][0]
    assert set(det) == {'sample_token', 'translation', 'size', 'rotation',
                        'velocity', 'detection_name', 'detection_score',
                        'attribute_name'}
    assert not list(tmp_path.glob('*.tmp'))


def test_mmdet3d_v017_convention_is_caught(root):
    """The classic mix-up (w/l swapped, yaw -> -yaw - pi/2) keeps most centres
    but ruins orientation and scale, so the oracle test above would catch it."""
    metrics = evaluate(root, gt_predictions(root, to_mmdet3d_v017))
    assert metrics['mAOE'] > 0.5 and metrics['mASE'] > 0.1
    assert metrics['NDS'] < 0.9


def test_class_range_and_missing_samples(root):
    samples = gt_predictions(root)
    metric = NuScenesMetric(str(root), ann_file=str(
        root / 'nuscenes_infos_val.json'))
    far = dict(samples[0])
    # a car 45 m away is kept (range 50 m), a cone 35 m away is dropped (30 m)
    far['pred_instances_3d'] = dict(
        bboxes_3d=torch.tensor([[0.0, 45.0, -1.8, 4, 2, 1.5, 0, 0, 0],
                                [0.0, 35.0, -1.8, .4, .4, 1, 0, 0, 0]]),
        scores_3d=torch.tensor([0.9, 0.8]),
        labels_3d=torch.tensor([CLASSES.index('car'),
                                CLASSES.index('traffic_cone')]))
    # lidar2ego of the synthetic set puts the lidar 0.94 m ahead of ego
    metric.process({}, [far])
    doc = metric.format_results(metric.results)
    names = [d['detection_name'] for d in doc['results'][far['token']]]
    assert names == ['car']
    with pytest.raises(ValueError, match='have none'):
        metric.compute_metrics(metric.results)


@pytest.mark.parametrize('name,speed,expected', [
    ('car', 1.0, 'vehicle.moving'), ('car', 0.1, 'vehicle.parked'),
    ('bus', 0.1, 'vehicle.stopped'), ('bus', 3.0, 'vehicle.moving'),
    ('bicycle', 1.0, 'cycle.with_rider'), ('motorcycle', 0.0,
                                           'cycle.without_rider'),
    ('pedestrian', 1.0, 'pedestrian.moving'),
    ('pedestrian', 0.1, 'pedestrian.standing'), ('barrier', 2.0, ''),
    ('traffic_cone', 0.0, '')])
def test_attribute_rule(name, speed, expected):
    assert attribute_name(name, (speed * 0.6, speed * 0.8)) == expected


def test_results_json_is_replaced_atomically(root, tmp_path):
    """format_only writes the JSON through projects.run_config's atomic
    writer: a failing dump leaves the previous file whole and no temporary."""
    metric = NuScenesMetric(str(root), ann_file=str(
        root / 'nuscenes_infos_val.json'), jsonfile_prefix=str(tmp_path),
        format_only=True)
    samples = gt_predictions(root)
    metric.process({}, samples)
    assert metric.compute_metrics(metric.results) == {}
    path = tmp_path / 'results_nusc.json'
    before = path.read_bytes()
    assert set(json.loads(before)['results']) == {s['token'] for s in samples}
    bad = dict(metric.results[0], token=object())  # not JSON-serialisable
    with pytest.raises(TypeError):
        metric.compute_metrics([bad])
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ['results_nusc.json']
