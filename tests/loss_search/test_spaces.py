"""Search spaces: theta <-> parameters against the released tables, the
parameter files the losses load, the injection into configs (including the
PAP box gradient scale reaching the head), the held-out split."""
import json
from pathlib import Path

import pytest
import torch

from projects.auto_seg_loss import AutoSegLoss
from projects.loss_search import (AutoSegLossSpace, PAPSpace,
                                  apply_held_out_split)
from projects.pap_loss import PAPLoss
from projects.run_config import load_config

ROOT = Path(__file__).resolve().parents[2]
PAP_PARAMS = ROOT / 'projects/pap_loss/params'
ASL_PARAMS = ROOT / 'projects/auto_seg_loss/params'
TINY_PAP = ROOT / ('configs/loss_search/retinanet_r18_fpn_pap-loss-search_'
                   'tiny_1xb4-20it_synthetic-coco.py')

FASTER = PAPSpace([dict(name='faster_rcnn_rpn', path='model.rpn_head'),
                   dict(name='faster_rcnn_rcnn',
                        path='model.roi_head.bbox_head')])
RETINA = PAPSpace([dict(name='retinanet', path='model.bbox_head')])


@pytest.mark.parametrize('space', [RETINA, FASTER], ids=['retina', 'faster'])
def test_pap_round_trip_equals_released_tables(space, tmp_path):
    assert space.dim == {1: 41, 2: 82}[len(space.heads)]
    released = {h['name']: json.loads((PAP_PARAMS / f"{h['name']}.json")
                                      .read_text()) for h in space.heads}
    theta = space.encode(released)
    decoded = space.decode(theta)
    for name, doc in released.items():
        for fn, entry in doc['functions'].items():
            got = decoded[name]['functions'][fn]
            assert got['ctrl_points'] == pytest.approx(entry['ctrl_points'],
                                                       abs=1e-12)
            # the released theta (6 digits) is what the inverse gives
            assert got['theta'] == pytest.approx(entry['theta'], abs=1e-6)
        assert decoded[name]['reg_weight'] == pytest.approx(doc['reg_weight'],
                                                            rel=1e-12)
        assert decoded[name]['reg_weight_theta'] == pytest.approx(
            doc['reg_weight_theta'], abs=1e-6)
    # the written files are what PAPLoss(params_file=...) loads
    files = space.write_params(theta, tmp_path)
    for name, path in files.items():
        ours = PAPLoss(params_file=path).functions
        ref = PAPLoss(params_file=str(PAP_PARAMS / f'{name}.json')).functions
        x = torch.linspace(0, 1, 101, dtype=torch.float64)
        for fn in ('H1', 'H2', 'I1', 'I2', 'I3'):
            assert torch.allclose(getattr(ours, fn)(x), getattr(ref, fn)(x),
                                  atol=1e-12)
    # the initial mean is the identity ("linear" AP surrogate), scale 1
    init = space.decode(space.init_mean)[space.heads[0]['name']]
    assert init['functions']['H2']['ctrl_points'] == pytest.approx(
        [0.2, 0.2, 0.4, 0.4, 0.6, 0.6, 0.8, 0.8])
    assert init['reg_weight'] == pytest.approx(1.0)


@pytest.mark.parametrize('name,metric', [
    ('miou', 'mIoU'), ('miou_2020', 'mIoU'), ('fwiou', 'FWIoU'),
    ('biou', 'BIoU'), ('macc', 'mAcc'), ('gacc', 'gAcc'), ('bf1', 'BF1')])
def test_asl_round_trip_equals_released_tables(name, metric, tmp_path):
    doc = json.loads((ASL_PARAMS / f'{name}.json').read_text())
    space = AutoSegLossSpace(metric)
    theta = space.encode(doc)
    got = space.decode(theta)['functions']
    for fn, entry in doc['functions'].items():
        assert got[fn]['ctrl_points'] == pytest.approx(entry['ctrl_points'],
                                                       abs=1e-12)
        assert got[fn]['theta'] == pytest.approx(entry['theta'], abs=1e-6)
    (path, ) = space.write_params(theta, tmp_path).values()
    ours, ref = (AutoSegLoss(target_metric=metric, params_file=p)
                 for p in (path, str(ASL_PARAMS / f'{name}.json')))
    x = torch.linspace(0, 1, 101, dtype=torch.float64)
    for a, b in zip(ours.functions, ref.functions):
        ya, yb = a.evaluate(x), b.evaluate(x)
        assert torch.allclose(ya, yb, atol=1e-9)
    identity = space.decode(space.init_mean)['functions']
    for entry in identity.values():
        pts = entry['ctrl_points']
        assert pts[0::2] == pytest.approx(pts[1::2])  # on the diagonal


def _head_grads(cfg, theta, tmp_path):
    from mmdet.registry import MODELS
    from mmdet.testing import demo_mm_inputs
    from mmengine.registry import init_default_scope
    init_default_scope('mmdet')
    cfg = RETINA.inject(cfg, theta, tmp_path)
    head_cfg = cfg.model.bbox_head.copy()
    head_cfg.update(train_cfg=cfg.model.train_cfg,
                    test_cfg=cfg.model.test_cfg)
    torch.manual_seed(0)
    head = MODELS.build(head_cfg)
    torch.manual_seed(1)
    feats = tuple(torch.randn(1, 128, s, s) for s in (8, 4, 2, 1, 1))
    samples = demo_mm_inputs(1, [(3, 64, 64)], num_items=[3],
                             num_classes=80)['data_samples']
    for sample in samples:
        sample.set_metainfo(dict(pad_shape=(64, 64), batch_input_shape=(64,
                                                                       64)))
    loss = head.loss(feats, samples)['loss_pap']
    loss.backward()
    return (head.loss_pap.functions, head.reg_weight,
            head.retina_reg.weight.grad.clone(),
            head.retina_cls.weight.grad.clone())


def test_injected_grad_scale_reaches_the_head(tmp_path):
    """The official search wrote the sampled scale to an attribute that no
    head read; here it is the head's reg_weight, which scales exactly the
    box-branch gradient."""
    cfg = load_config(str(TINY_PAP))
    released = json.loads((PAP_PARAMS / 'retinanet.json').read_text())
    theta = torch.tensor(RETINA.encode(dict(retinanet=released)))
    lo, hi = theta.clone(), theta.clone()
    lo[-1], hi[-1] = 0.25, 0.75
    f_lo, w_lo, reg_lo, cls_lo = _head_grads(cfg, lo, tmp_path / 'lo')
    f_hi, w_hi, reg_hi, cls_hi = _head_grads(cfg, hi, tmp_path / 'hi')
    assert (w_lo, w_hi) == pytest.approx((10 ** -0.5, 10 ** 0.5))
    assert torch.allclose(reg_hi, 10 * reg_lo, rtol=1e-4,
                          atol=1e-5 * reg_lo.abs().max().item())
    assert reg_lo.abs().sum() > 0
    assert torch.equal(cls_hi, cls_lo)
    # and the loss trains with the sampled functions (golden values of the
    # released RetinaNet H2 and H1(0.5))
    x = torch.tensor([0, .1, .25, .5, .75, .9, 1], dtype=torch.float64)
    assert f_lo.H2(x).tolist() == pytest.approx(
        [0, .007, .017, .220, .483, .833, 1], abs=1.5e-3)
    assert f_lo.H1(torch.tensor(0.5)).item() == pytest.approx(0.581,
                                                               abs=1e-3)


def test_held_out_split_is_carved_from_training_set(coco_root, ade20k_root,
                                                    tmp_path):
    cfg = load_config(str(TINY_PAP))
    cfg.train_dataloader.dataset.data_root = str(coco_root) + '/'
    a, info = apply_held_out_split(cfg, tmp_path / 'a', fraction=0.25, seed=3)
    b, _ = apply_held_out_split(cfg, tmp_path / 'b', fraction=0.25, seed=3)
    train = json.loads(Path(a.train_dataloader.dataset.ann_file).read_text())
    val = json.loads(Path(a.val_dataloader.dataset.ann_file).read_text())
    all_train = json.loads(
        (Path(coco_root) / 'annotations/instances_train2017.json').read_text())
    ids_t = {im['id'] for im in train['images']}
    ids_v = {im['id'] for im in val['images']}
    assert not ids_t & ids_v and ids_t | ids_v == {
        im['id'] for im in all_train['images']}
    assert len(ids_v) == round(0.25 * len(all_train['images']))
    assert a.val_dataloader.dataset.data_prefix == \
        cfg.train_dataloader.dataset.data_prefix  # training images
    assert a.val_evaluator.ann_file == a.val_dataloader.dataset.ann_file
    assert {x['image_id'] for x in val['annotations']} <= ids_v
    assert Path(b.val_dataloader.dataset.ann_file).read_text() == \
        Path(a.val_dataloader.dataset.ann_file).read_text()  # deterministic
    # mmseg: image lists; ADE20K directory layout
    seg = load_config(str(ROOT / 'configs/upernet/upernet_r18_tiny_1xb4-'
                          '200it_synthetic-ade20k.py'))
    seg.train_dataloader.dataset.data_root = str(ade20k_root)
    s, info = apply_held_out_split(seg, tmp_path / 's', num=2, seed=0)
    names_t = Path(s.train_dataloader.dataset.ann_file).read_text().split()
    names_v = Path(s.val_dataloader.dataset.ann_file).read_text().split()
    assert len(names_v) == 2 and not set(names_t) & set(names_v)
    assert len(names_t) + 2 == len(list(
        (Path(ade20k_root) / 'images/training').iterdir()))
    assert s.val_dataloader.dataset.data_prefix.img_path == 'images/training'
    # VOC aug style: a ConcatDataset; held out of the first dataset (all its
    # images), the held-out names removed from every dataset
    (Path(ade20k_root) / 'half.txt').write_text('\n'.join(names_t[:3] +
                                                          names_v) + '\n')
    first = seg.train_dataloader.dataset.copy()
    second = dict(first, ann_file='half.txt')
    seg.train_dataloader.dataset = dict(type='ConcatDataset',
                                        datasets=[first, second])
    c, info = apply_held_out_split(seg, tmp_path / 'c', num=2, seed=0)
    t0, t1 = (Path(d.ann_file).read_text().split()
              for d in c.train_dataloader.dataset.datasets)
    assert t0 == names_t and t1 == names_t[:3]
    assert info['num_train'] == len(names_t) + 3 and info['num_val'] == 2
