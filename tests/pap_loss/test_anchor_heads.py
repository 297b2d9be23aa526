"""PAP anchor heads: one PAP loss over all levels, scaled box gradients."""
import pytest
import torch
from mmdet.testing import demo_mm_inputs
from mmengine.config import Config
from mmengine.hub import get_config
from mmengine.registry import init_default_scope

import projects.pap_loss  # noqa: F401
from projects.pap_loss import one_hot_targets

RETINANET = ('configs/retinanet/'
             'retinanet_r18_fpn_tiny_1xb4-300it_synthetic-coco.py')
FASTER_RCNN = 'mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py'
# (config, head key, PAP head type, loss key, cls conv, reg conv)
HEADS = {
    'retina': (RETINANET, 'bbox_head', 'PAPRetinaHead', 'loss_pap',
               'retina_cls', 'retina_reg'),
    'rpn': (FASTER_RCNN, 'rpn_head', 'PAPRPNHead', 'loss_rpn_pap',
            'rpn_cls', 'rpn_reg'),
}


def grads(kind, reg_weight):
    from mmdet.registry import MODELS
    config, key, head_type, loss_key, cls_name, reg_name = HEADS[kind]
    init_default_scope('mmdet')
    cfg = get_config(config) if '::' in config else Config.fromfile(config)
    cfg.model.backbone.update(depth=18, init_cfg=None)
    cfg.model.neck.in_channels = [64, 128, 256, 512]
    cfg.model[key].type = head_type
    cfg.model[key].reg_weight = reg_weight
    cfg.model[key].loss_pap = dict(type='PAPLoss', form='linear')
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    packed = demo_mm_inputs(2, [[3, 128, 128]] * 2, num_items=[3, 2],
                            num_classes=4)
    data = model.data_preprocessor(packed, True)
    losses = model.loss(data['inputs'], data['data_samples'])
    if kind == 'retina':
        assert set(losses) == {'loss_pap'}
    else:  # the RPN's focal/L1 terms are gone, the RCNN's are kept
        assert {'loss_rpn_pap', 'loss_cls', 'loss_bbox'} <= set(losses)
        assert not {'loss_rpn_cls', 'loss_rpn_bbox'} & set(losses)
    model.parse_losses(losses)[0].backward()
    head = getattr(model, key)
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
