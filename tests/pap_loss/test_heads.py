"""PAP heads (RetinaNet, RPN, Shared2FC RCNN, Deformable DETR): one PAP loss
replacing classification and regression, scaled box gradients, the
localisation quality of positives and the sigmoid RCNN scores."""
import pytest
import torch
from mmdet.testing import demo_mm_inputs
from mmengine.config import Config
from mmengine.hub import get_config
from mmengine.registry import init_default_scope

import projects.pap_loss  # noqa: F401
from projects.pap_loss import (localization_quality, one_hot_targets,
                               pap_loss, prior_frame_boxes)

RETINANET = ('configs/retinanet/'
             'retinanet_r18_fpn_tiny_1xb4-300it_synthetic-coco.py')
FASTER_RCNN = 'mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py'
# (config, head key, PAP head type, loss key, cls layer, reg layer)
HEADS = {
    'retina': (RETINANET, 'bbox_head', 'PAPRetinaHead', 'loss_pap',
               'retina_cls', 'retina_reg'),
    'rpn': (FASTER_RCNN, 'rpn_head', 'PAPRPNHead', 'loss_rpn_pap',
            'rpn_cls', 'rpn_reg'),
    'rcnn': (FASTER_RCNN, 'roi_head.bbox_head', 'PAPShared2FCBBoxHead',
             'loss_pap', 'fc_cls', 'fc_reg'),
}


def grads(kind, reg_weight):
    from mmdet.registry import MODELS
    config, key, head_type, loss_key, cls_name, reg_name = HEADS[kind]
    init_default_scope('mmdet')
    cfg = get_config(config) if '::' in config else Config.fromfile(config)
    cfg.model.backbone.update(depth=18, init_cfg=None)
    cfg.model.neck.update(in_channels=[64, 128, 256, 512], out_channels=32)
    if kind == 'retina':
        cfg.model.bbox_head.update(in_channels=32, feat_channels=32)
    else:  # a narrow Faster R-CNN: the gradient property needs no width
        cfg.model.rpn_head.update(in_channels=32, feat_channels=32)
        cfg.model.roi_head.bbox_roi_extractor.out_channels = 32
        cfg.model.roi_head.bbox_head.update(in_channels=32,
                                            fc_out_channels=64)
    head_cfg = cfg.model
    for part in key.split('.'):
        head_cfg = head_cfg[part]
    head_cfg.update(type=head_type, reg_weight=reg_weight,
                    loss_pap=dict(type='PAPLoss', form='linear'))
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    packed = demo_mm_inputs(2, [[3, 128, 128]] * 2, num_items=[3, 2],
                            num_classes=4)
    data = model.data_preprocessor(packed, True)
    losses = model.loss(data['inputs'], data['data_samples'])
    if kind == 'retina':
        assert set(losses) == {'loss_pap'}
    elif kind == 'rpn':  # the RPN's CE/L1 terms are gone, the RCNN's kept
        assert {'loss_rpn_pap', 'loss_cls', 'loss_bbox'} <= set(losses)
        assert not {'loss_rpn_cls', 'loss_rpn_bbox'} & set(losses)
    else:  # the RCNN's CE/L1 terms are gone, the RPN's kept
        assert {'loss_pap', 'loss_rpn_cls', 'loss_rpn_bbox'} <= set(losses)
        assert not {'loss_cls', 'loss_bbox', 'acc'} & set(losses)
    model.parse_losses(losses)[0].backward()
    head = model
    for part in key.split('.'):
        head = getattr(head, part)
    return (float(losses[loss_key]), getattr(head, cls_name).weight.grad,
            getattr(head, reg_name).weight.grad)


@pytest.mark.parametrize('kind', sorted(HEADS))
def test_box_gradient_scaled_classification_unchanged(kind):
    loss1, cls1, reg1 = grads(kind, 1.0)
    loss4, cls4, reg4 = grads(kind, 4.1231)
    assert 0 < loss1 < 2 and loss1 == pytest.approx(loss4)
    torch.testing.assert_close(cls4, cls1)
    torch.testing.assert_close(reg4, 4.1231 * reg1, rtol=1e-4, atol=1e-9)
    assert reg1.abs().sum() > 0 and cls1.abs().sum() > 0


def test_one_hot_targets():
    labels = torch.tensor([2, 5, 0, 5])  # 5 = background for 5 classes
    weights = torch.tensor([1., 1., 1., 0.])
    targets = one_hot_targets(labels, weights, 5)
    assert targets.tolist() == [[0, 0, 1, 0, 0], [0] * 5, [1, 0, 0, 0, 0],
                                [-1] * 5]


@pytest.mark.parametrize('config', [
    'configs/pap_loss/retinanet_r18_fpn_pap-loss_tiny_1xb4-300it_'
    'synthetic-coco.py',
    'configs/pap_loss/retinanet_r50_fpn_pap-loss_8xb8-100e_coco.py'])
def test_zoo_configs_build_released_head(config):
    from mmdet.registry import MODELS

    from projects.config_validation import check_types
    init_default_scope('mmdet')
    cfg = Config.fromfile(config)
    check_types(cfg, config)
    cfg.model.backbone.init_cfg = None
    head = MODELS.build(cfg.model).bbox_head
    assert type(head).__name__ == 'PAPRetinaHead'
    assert head.reg_weight == pytest.approx(4.1231)
    x = torch.tensor([0.1, 0.5, 0.9])
    torch.testing.assert_close(head.loss_pap.functions.H2(x),
                               torch.tensor([0.007, 0.220, 0.833]),
                               atol=1e-3, rtol=0)


def test_quality_frames():
    """IoU/GIoU in the prior frame equal image-space IoU/GIoU; L1 is the
    closed form 1 - |d|_1 of prior-frame boxes, clamped to [0, 1]."""
    from mmdet.models.task_modules.coders import DeltaXYWHBBoxCoder
    coder = DeltaXYWHBBoxCoder(target_stds=(0.1, 0.1, 0.2, 0.2))
    g = torch.Generator().manual_seed(0)
    xy = torch.rand(50, 2, generator=g) * 100
    priors = torch.cat([xy, xy + 5 + 50 * torch.rand(50, 2, generator=g)], 1)
    pred, target = torch.randn(2, 50, 4, generator=g).mul(2).unbind()
    for mode in ('iou', 'giou'):
        image = localization_quality(coder.decode(priors, pred),
                                     coder.decode(priors, target), mode)
        frame = localization_quality(prior_frame_boxes(coder, pred),
                                     prior_frame_boxes(coder, target), mode)
        torch.testing.assert_close(frame, image, rtol=1e-4, atol=1e-5)
    unit = prior_frame_boxes(coder, torch.zeros(1, 4))
    assert unit.tolist() == [[-0.5, -0.5, 0.5, 0.5]]
    shift = torch.tensor([[0.5, 0., 0., 0.], [0., 0., 0., 0.], [9, 0, 0, 0]])
    l1 = localization_quality(prior_frame_boxes(coder, shift),
                              prior_frame_boxes(coder, torch.zeros(3, 4)),
                              'l1')
    # dx = 0.5 * std 0.1 moves x1 and x2 by 0.05 each: 1 - 0.1
    torch.testing.assert_close(l1, torch.tensor([0.9, 1.0, 0.0]))
    with pytest.raises(ValueError, match="reg_input must be one of"):
        localization_quality(pred, target, 'l2')


def rcnn_head(**kwargs):
    from mmdet.registry import MODELS
    init_default_scope('mmdet')
    torch.manual_seed(0)
    return MODELS.build(dict(
        type='PAPShared2FCBBoxHead', in_channels=4, fc_out_channels=8,
        roi_feat_size=2, num_classes=3,
        bbox_coder=dict(type='DeltaXYWHBBoxCoder',
                        target_means=[0.] * 4, target_stds=[0.1, 0.1, .2, .2]),
        loss_pap=dict(type='PAPLoss', form='linear'), **kwargs))


def test_rcnn_head_loss_uses_box_of_gt_class():
    head = rcnn_head(reg_input='l1')
    assert head.fc_cls.out_features == 3  # sigmoid: no background logit
    cls_score = torch.randn(4, 3, dtype=torch.float64)
    bbox_pred = torch.randn(4, 12, dtype=torch.float64) * 0.1
    labels = torch.tensor([2, 0, 3, 3])  # two positives, two background
    label_weights = torch.tensor([1., 1., 1., 0.], dtype=torch.float64)
    targets = torch.zeros(4, 4, dtype=torch.float64)
    targets[0] = bbox_pred[0, 8:]  # perfect box for class 2 of RoI 0
    targets[1] = bbox_pred[1, :4] + torch.tensor([0.5, 0., 0., 0.])
    loss = head.loss(cls_score, bbox_pred, None, labels, label_weights,
                     targets, None)['loss_pap']
    expected = pap_loss(
        cls_score, torch.tensor([[0, 0, 1], [1, 0, 0], [0, 0, 0],
                                 [-1, -1, -1]]),
        torch.tensor([1.0, 0.9, 0., 0.], dtype=torch.float64),
        head.loss_pap.functions, 100000)
    torch.testing.assert_close(loss, expected)


def test_rcnn_head_predicts_sigmoid_scores():
    from mmengine.config import ConfigDict
    head = rcnn_head().eval()
    rois = torch.tensor([[0, 10., 10., 50., 60.], [0, 20., 5., 40., 30.]])
    cls_score = torch.tensor([[2.0, -1.0, 0.0], [-3.0, 1.0, -2.0]])
    scores = head.loss_cls.get_activation(cls_score)
    torch.testing.assert_close(scores[:, :3], cls_score.sigmoid())
    assert scores[:, 3].eq(0).all()  # background column, dropped by NMS
    results = head.predict_by_feat(
        (rois, ), (cls_score, ), (torch.zeros(2, 12), ),
        [dict(img_shape=(100, 100), scale_factor=(1., 1.))],
        rcnn_test_cfg=ConfigDict(score_thr=0.4, nms=dict(type='nms',
                                 iou_threshold=0.5), max_per_img=10))[0]
    order = results.labels.argsort()
    assert results.labels[order].tolist() == [0, 1, 2]
    torch.testing.assert_close(results.scores[order],
                               torch.tensor([2., 1., 0.]).sigmoid())
    with pytest.raises(ValueError, match='reg_decoded_bbox=False'):
        rcnn_head(reg_decoded_bbox=True)


def test_detr_head_positives_from_hungarian_matching():
    """Two GTs, four queries: queries 1 and 3 sit exactly on the GTs with
    the right classes, so the matching picks them; the loss equals the PAP
    loss with those two positives (quality 1) and all else negative."""
    from mmdet.registry import MODELS
    from mmengine.structures import InstanceData
    init_default_scope('mmdet')
    head = MODELS.build(dict(
        type='PAPDeformableDETRHead', num_classes=3, embed_dims=8,
        loss_cls=dict(type='FocalLoss', use_sigmoid=True),
        train_cfg=dict(assigner=dict(type='HungarianAssigner', match_costs=[
            dict(type='FocalLossCost', weight=2.0),
            dict(type='BBoxL1Cost', weight=5.0, box_format='xywh'),
            dict(type='IoUCost', iou_mode='giou', weight=2.0)])),
        loss_pap=dict(type='PAPLoss', form='linear'), reg_weight=3.0))
    gt = InstanceData(bboxes=torch.tensor([[10., 10., 30., 50.],
                                           [60., 20., 90., 80.]]),
                      labels=torch.tensor([2, 0]))
    meta = dict(img_shape=(100, 100))
    boxes = torch.tensor([[.5, .5, .2, .2], [.2, .3, .2, .4],
                          [.1, .9, .1, .1], [.75, .5, .3, .6]],
                         requires_grad=True)
    scores = torch.tensor([[0., -1, 1], [-1, 0, 1], [1, 1, 1],
                           [2, 0, -1]], requires_grad=True)
    loss = head.loss_by_feat_single(scores[None], boxes[None], [gt], [meta])
    targets = torch.zeros(4, 3, dtype=torch.long)
    targets[1, 2] = targets[3, 0] = 1
    quality = torch.tensor([0., 1., 0., 1.])
    torch.testing.assert_close(loss, pap_loss(
        scores.detach(), targets, quality, head.loss_pap.functions, 100000))
    loss.backward()
    assert boxes.grad[[0, 2]].eq(0).all()  # unmatched boxes get no gradient
    losses = head.loss_by_feat(scores[None, None].expand(2, 1, 4, 3),
                               boxes[None, None].expand(2, 1, 4, 4), None,
                               None, [gt], [meta])
    assert set(losses) == {'loss_pap', 'd0.loss_pap'}
