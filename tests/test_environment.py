"""The pinned stack imports and its compiled ops compute correct values on CPU."""
import numpy as np
import torch


def test_versions():
    import mmcv
    import mmdet
    import mmengine
    import mmpretrain
    import mmseg
    assert torch.__version__.split('+')[0] == '2.13.0'
    assert mmcv.__version__ == '2.1.0'
    assert mmengine.__version__ == '0.10.7'
    assert mmdet.__version__ == '3.3.0'
    assert mmseg.__version__ == '1.2.2'
    assert mmpretrain.__version__ == '1.2.0'
    assert np.__version__.startswith('1.26')


def test_mmcv_compiled_nms_matches_closed_form():
    from mmcv.ops import nms
    boxes = torch.tensor([[0., 0., 10., 10.], [1., 0., 11., 10.],
                          [20., 20., 30., 30.]])
    scores = torch.tensor([0.9, 0.8, 0.7])
    # IoU(box0, box1) = 90 / 110 = 0.818: suppressed at 0.5, kept at 0.9.
    _, keep = nms(boxes, scores, iou_threshold=0.5)
    assert keep.tolist() == [0, 2]
    _, keep = nms(boxes, scores, iou_threshold=0.9)
    assert keep.tolist() == [0, 1, 2]


def test_mmcv_roi_align_on_constant_map():
    from mmcv.ops import roi_align
    feat = torch.arange(16.).reshape(1, 1, 4, 4)
    rois = torch.tensor([[0., 0., 0., 4., 4.]])
    out = roi_align(feat, rois, (2, 2), 1.0, 2, 'avg', True)
    # aligned=True, bins are 2x2 blocks: their means are closed-form.
    expected = torch.tensor([[[[2.5, 4.5], [10.5, 12.5]]]])
    assert torch.allclose(out, expected, atol=1e-5)


def test_deformable_attention_pytorch_path():
    from mmcv.ops.multi_scale_deform_attn import \
        multi_scale_deformable_attn_pytorch
    value = torch.arange(8.).reshape(1, 4, 1, 2).repeat(1, 1, 1, 1)
    shapes = torch.tensor([[2, 2]])
    # Sampling the exact centre of pixel (0, 0) with weight 1 returns it.
    loc = torch.tensor([0.25, 0.25]).reshape(1, 1, 1, 1, 1, 2)
    weights = torch.ones(1, 1, 1, 1, 1)
    out = multi_scale_deformable_attn_pytorch(value, shapes, loc, weights)
    assert torch.allclose(out, value[0, 0].reshape(1, 1, 2))
