"""BEVFormer v2 detector: history BEVs (no grad, eval mode, restored), scene
start, one camera, the official-checkpoint converter, a short training of
the tiny config on synthetic nuScenes evaluated by the real devkit."""
import importlib.util
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.structures import InstanceData

from mmdet.registry import MODELS
from mmdet.structures import DetDataSample
from mmdet.utils import register_all_modules
from projects.bevformer_v2.models import denormalize_bbox
from projects.run_config import load_config

ROOT = Path(__file__).resolve().parents[2]
TINY = 'configs/bevformer_v2/bevformer-v2_r18_tiny_1xb2-600it_synthetic-nuscenes.py'


def _converter():
    path = ROOT / 'tools/model_converters/bevformer_v2_to_visionplug.py'
    spec = importlib.util.spec_from_file_location('bevformer_v2_to_visionplug', path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _tiny_model(hybrid=True, **head):
    register_all_modules()
    cfg = load_config(str(ROOT / TINY)).model
    cfg.pts_bbox_head.update(head)
    cfg.use_hybrid_queries = hybrid
    torch.manual_seed(0)
    return MODELS.build(cfg)


def _sample(num_cams=2, frames=2, valid=(False, True), h=64, w=160):
    k = np.array([[100., 0, w / 2, 0], [0, 100., h / 2, 0], [0, 0, 1, 0], [0, 0, 0, 1]])
    l2c = []
    for yaw in (0.0, math.pi)[:num_cams]:  # front (+y) and back (-y) cameras
        c, s = math.cos(yaw), math.sin(yaw)
        m = np.eye(4)
        m[:3, :3] = np.array([[1., 0, 0], [0, 0, -1], [0, 1, 0]]) @ np.array(
            [[c, s, 0], [-s, c, 0], [0, 0, 1]])
        l2c.append(m)
    l2c = np.stack(l2c)
    cam2img = np.stack([k] * num_cams)
    rep = lambda a: np.stack([a] * frames)  # noqa: E731
    ds = DetDataSample(metainfo=dict(
        lidar2img=rep(cam2img @ l2c), cam2img=rep(cam2img), lidar2cam=rep(l2c),
        img_shape=(h, w), frame_valid=np.array(valid), bda_mat=np.eye(4)))
    boxes = torch.tensor([[1.0, 10.0, -1.0, 4.0, 2.0, 1.6, 0.3, 1.0, 0.0]])
    ds.gt_instances_3d = InstanceData(bboxes_3d=boxes, labels_3d=torch.tensor([3]))
    ds.gt_instances_mono = InstanceData(
        cam_ids=torch.tensor([0]), bboxes=torch.tensor([[60., 20, 100, 40]]),
        labels=torch.tensor([3]), bboxes_3d=boxes, centers_2d=torch.tensor([[80., 30]]),
        depths=torch.tensor([10.]), attr_labels=torch.tensor([0]),
        speeds=torch.tensor([1.0]))
    imgs = torch.randint(0, 255, (frames, num_cams, 3, h, w), dtype=torch.uint8)
    return dict(inputs=dict(imgs=[imgs]), data_samples=[ds])


def test_history_bev_no_grad_eval_mode_restored_and_scene_start():
    model = _tiny_model()
    calls, fused = [], []
    orig_get_bev, orig_fuse = model.pts_bbox_head.get_bev, model.pts_bbox_head.transformer.fuse

    def get_bev(*a, **k):
        calls.append((torch.is_grad_enabled(), model.training, model.img_backbone.training))
        return orig_get_bev(*a, **k)

    def fuse(bevs, *a):
        fused.append([b.detach().clone() for b in bevs])
        return orig_fuse(bevs, *a)

    model.pts_bbox_head.get_bev = get_bev
    model.pts_bbox_head.transformer.fuse = fuse
    model.train()
    bn = model.img_backbone.bn1
    before = int(bn.num_batches_tracked)
    data = model.data_preprocessor(_sample(), True)
    losses = model(**data, mode='loss')
    # history frame: no grad, eval mode; current frame: grad, train mode
    assert calls == [(False, False, False), (True, True, True)]
    assert model.training and model.img_backbone.training
    assert int(bn.num_batches_tracked) == before + 1  # history did not touch BN stats
    # frame -1 is flagged invalid (scene start): its slot is the current BEV
    torch.testing.assert_close(fused[0][0], fused[0][1])
    total = sum(losses.values())
    assert torch.isfinite(total)
    total.backward()
    # eval: the mode stays eval
    model.eval()
    calls.clear()
    with torch.no_grad():
        model(**model.data_preprocessor(_sample(valid=(True, True)), False), mode='predict')
    assert [c[1] for c in calls] == [False, False] and not model.training
    assert not torch.allclose(fused[-1][0], fused[-1][1])  # a real history frame


def test_one_camera_and_batch_of_two():
    """N == 1 (the official squeeze_ dropped the camera axis) and B == 2."""
    model = _tiny_model().eval()
    one = model.data_preprocessor(_sample(num_cams=1), False)
    assert one['inputs']['imgs'].shape == (1, 2, 1, 3, 64, 160)
    with torch.no_grad():
        out = model(**one, mode='predict')
    assert out[0].pred_instances_3d.bboxes_3d.shape[1] == 9
    a, b = _sample(), _sample(valid=(True, True))
    both = dict(inputs=dict(imgs=a['inputs']['imgs'] + b['inputs']['imgs']),
                data_samples=a['data_samples'] + b['data_samples'])
    with torch.no_grad():
        cls2, reg2 = model(**model.data_preprocessor(both, False), mode='tensor')
        cls1, reg1 = model(**model.data_preprocessor(b, False), mode='tensor')
    torch.testing.assert_close(cls2[:, 1:], cls1, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(reg2[:, 1:], reg1, atol=1e-4, rtol=1e-5)


def _official_layout(ours: dict, conv) -> dict:
    """Our state dict written back in the official layout (inverse mapping),
    plus the official-only keys."""
    inv = [conv.PERM.index(i) for i in range(10)]
    last = conv._last_reg_index(ours.keys())
    off = {}
    for k, v in ours.items():
        if k.startswith('pts_bbox_head.proposal_'):
            continue
        m = conv.REG_LAST.match(k)
        if m and int(m.group(1)) == last:
            sign = torch.tensor(conv.SIGN, dtype=v.dtype).view(-1, *([1] * (v.dim() - 1)))
            v = (v * sign)[inv]
        elif k == 'pts_bbox_head.code_weights':
            v = v[inv]
        elif conv.SIZE_KEY.match(k):  # ours (l, w, h) x C -> DD3D's (w, l, h) x C
            length, w, h = v.chunk(3, 0)
            v = torch.cat([w, length, h])
        off[k] = v.clone()
    off['pts_bbox_head.transformer.can_bus_mlp.0.weight'] = torch.zeros(4, 18)
    return dict(state_dict=off, meta=dict())


def test_converter_maps_official_keys_and_box_rows():
    conv = _converter()
    model = _tiny_model(hybrid=False, num_proposals=0)
    ours = {k: v for k, v in model.state_dict().items()}
    for k in ours:  # distinguishable regression rows
        if conv.REG_LAST.match(k):
            ours[k] = torch.randn_like(ours[k])
    ours['pts_bbox_head.code_weights'] = torch.arange(10.)
    official = _official_layout(ours, conv)
    converted, dropped = conv.convert(official)
    assert dropped == ['pts_bbox_head.transformer.can_bus_mlp.0.weight']
    missing, unexpected = model.load_state_dict(converted, strict=False)
    assert unexpected == [] and missing == []
    for k, v in converted.items():
        torch.testing.assert_close(v, ours[k], msg=k)
    # semantics: the official head's box (mmdet3d 0.17: w, l, yaw0 = -yaw - pi/2)
    # equals our decoded box
    w_key = 'pts_bbox_head.reg_branches.0.4.weight'
    x = torch.randn(5, 32)
    raw_off = x @ official['state_dict'][w_key].T + official['state_dict'][w_key[:-6] + 'bias']
    raw_ours = x @ converted[w_key].T + converted[w_key[:-6] + 'bias']
    ours_box = denormalize_bbox(raw_ours)
    yaw0 = torch.atan2(raw_off[:, 6], raw_off[:, 7])
    torch.testing.assert_close(ours_box[:, 3], raw_off[:, 3].exp())  # l
    torch.testing.assert_close(ours_box[:, 4], raw_off[:, 2].exp())  # w
    d = ours_box[:, 6] - (-yaw0 - math.pi / 2)
    torch.testing.assert_close(torch.atan2(d.sin(), d.cos()), torch.zeros(5), atol=1e-5,
                               rtol=0)
    torch.testing.assert_close(ours_box[:, 7:], raw_off[:, 8:])
    assert conv.convert(official)[0].keys() == converted.keys()


def _train_then_validate(data_root, work_dir, iters=2):
    """The tiny config as tools/train.py loads it, on ``data_root``: train
    ``iters`` iterations (batch 1, losses logged every iteration); the
    iteration loop validates once at its end. Returns the runner."""
    from projects.run_config import build_runner
    cfg = load_config(str(ROOT / TINY), work_dir=str(work_dir))
    object.__setattr__(cfg, '_format_python_code', False)
    for loader in (cfg.train_dataloader, cfg.val_dataloader):
        loader.dataset.data_root = str(data_root)
        loader.update(num_workers=0, persistent_workers=False)
    cfg.train_dataloader.batch_size = 1
    cfg.val_evaluator.update(data_root=str(data_root),
                             ann_file=str(data_root / 'nuscenes_infos_val.json'),
                             jsonfile_prefix=str(work_dir / 'eval'))
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=iters,
                         val_interval=iters + 1)
    cfg.test_cfg = cfg.test_dataloader = cfg.test_evaluator = None
    cfg.param_scheduler = []
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=1)
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=-1,
                                        save_last=False)
    cfg.log_level = 'WARNING'
    runner = build_runner(cfg)
    runner.train()
    return runner


def _gt_val_step(data_root):
    """A val_step that predicts the val ground truth (infos boxes, lidar
    frame) for the samples it is given."""
    import json
    from projects.bevformer_v2.datasets import CLASSES
    infos = json.loads((data_root / 'nuscenes_infos_val.json').read_text())
    gt = {}
    for info in infos['data_list']:
        inst = [i for i in info['instances'] if i['detection_name'] in CLASSES]
        gt[info['token']] = InstanceData(
            bboxes_3d=torch.tensor([i['bbox_3d'] for i in inst]),
            scores_3d=torch.linspace(1, 0.5, len(inst)),
            labels_3d=torch.tensor([CLASSES.index(i['detection_name']) for i in inst]))

    def val_step(data_batch):
        samples = data_batch['data_samples']
        for s in samples:
            s.pred_instances_3d = gt[s.token]
        return samples
    return val_step


def test_tiny_config_trains_and_evaluates_with_devkit(nuscenes_root, tmp_path):
    """Two training iterations, then the val loop through NuScenesMetric and
    the real DetectionEval: the results JSON covers every val sample with
    the official fields, the metrics are finite, in range and consistent
    (NDS = (5 mAP + sum of 1 - min(1, TP error)) / 10), and the val ground
    truth sent through the same loop as predictions scores NDS/mAP ~ 1."""
    import json
    from projects.bevformer_v2.datasets import CLASSES
    from projects.bevformer_v2.evaluation import attribute_name
    runner = _train_then_validate(nuscenes_root, tmp_path)
    (scalars,) = tmp_path.glob('*/vis_data/scalars.json')
    rows = [json.loads(line) for line in scalars.read_text().splitlines()]
    rows, metrics = rows[:-1], rows[-1]  # 2 training rows, then the val row
    assert len(rows) == 2
    assert {'loss_cls', 'loss_bbox', 'loss_cls_mono', 'loss_box2d_reg_mono',
            'loss_box3d_depth_mono', 'loss_conf3d_mono'} <= set(rows[0])
    assert all(math.isfinite(r['loss']) and r['loss'] > 0 for r in rows)

    tokens = {i['token'] for i in json.loads(
        (nuscenes_root / 'nuscenes_infos_val.json').read_text())['data_list']}
    doc = json.loads((tmp_path / 'eval' / 'results_nusc.json').read_text())
    assert doc['meta'] == dict(use_camera=True, use_lidar=False, use_radar=False,
                               use_map=False, use_external=False)
    assert set(doc['results']) == tokens and len(tokens) == 4
    fields = {'sample_token', 'translation', 'size', 'rotation', 'velocity',
              'detection_name', 'detection_score', 'attribute_name'}
    num = 0
    for tok, dets in doc['results'].items():
        assert len(dets) <= 100  # the tiny config's NMSFreeCoder max_num
        for d in dets:
            num += 1
            assert set(d) == fields and d['sample_token'] == tok
            assert d['detection_name'] in CLASSES
            assert 0 <= d['detection_score'] <= 1
            assert len(d['translation']) == 3 and len(d['velocity']) == 2
            assert all(math.isfinite(v) for v in d['translation'] + d['velocity'])
            assert len(d['size']) == 3 and min(d['size']) > 0
            assert math.isclose(np.linalg.norm(d['rotation']), 1, rel_tol=1e-6)
            assert d['attribute_name'] == attribute_name(d['detection_name'],
                                                         d['velocity'])
    assert num > 0
    m = {k.split('/', 1)[1]: v for k, v in metrics.items()
         if k.startswith('nuscenes/')}
    tp = ('mATE', 'mASE', 'mAOE', 'mAVE', 'mAAE')
    assert set(m) == {'NDS', 'mAP', *tp} | {f'{c}_AP' for c in CLASSES}
    assert all(math.isfinite(v) and v >= 0 for v in m.values())
    assert m['NDS'] <= 1 and m['mAP'] <= 1 and m['mASE'] <= 1 and m['mAAE'] <= 1
    assert m['mAOE'] <= math.pi
    assert m['mAP'] == pytest.approx(np.mean([m[f'{c}_AP'] for c in CLASSES]))
    nds = (5 * m['mAP'] + sum(1 - min(1, m[k]) for k in tp)) / 10
    assert m['NDS'] == pytest.approx(nds)

    # the same loop with the val GT as predictions: a perfect detector
    runner.model.val_step = _gt_val_step(nuscenes_root)
    oracle = runner.val_loop.run()
    assert oracle['nuscenes/NDS'] >= 0.999 and oracle['nuscenes/mAP'] >= 0.999
