"""mmdet, mmseg and mmpretrain dataset classes read the generated data as-is."""
import numpy as np
from mmengine.registry import init_default_scope


def test_mmdet_coco_dataset(coco_root):
    init_default_scope('mmdet')
    from mmdet.datasets import CocoDataset
    ds = CocoDataset(
        data_root=str(coco_root), ann_file='annotations/instances_train2017.json',
        data_prefix=dict(img='train2017/'),
        pipeline=[dict(type='LoadImageFromFile'),
                  dict(type='LoadAnnotations', with_bbox=True, with_mask=True)])
    assert len(ds) == 12
    assert len(ds.metainfo['classes']) == 80
    sample = ds[0]
    h, w = sample['img'].shape[:2]
    assert sample['gt_bboxes'].tensor.shape[0] == len(sample['gt_bboxes_labels'])
    assert set(sample['gt_bboxes_labels'].tolist()) <= {0, 2, 16, 39}
    masks = sample['gt_masks'].to_ndarray()
    assert masks.shape[1:] == (h, w)
    for box, m in zip(sample['gt_bboxes'].tensor.numpy(), masks):
        ys, xs = np.nonzero(m)
        assert abs(box[0] - xs.min()) <= 1 and abs(box[3] - ys.max() - 1) <= 1


def test_mmseg_ade20k_dataset_reduce_zero_label(ade20k_root):
    init_default_scope('mmseg')
    from mmseg.datasets import ADE20KDataset
    ds = ADE20KDataset(
        data_root=str(ade20k_root),
        data_prefix=dict(img_path='images/validation',
                         seg_map_path='annotations/validation'),
        pipeline=[dict(type='LoadImageFromFile'),
                  dict(type='LoadAnnotations', reduce_zero_label=True)])
    assert len(ds) == 4
    raw = ds.get_data_info(0)['seg_map_path']
    import cv2
    png = cv2.imread(raw, cv2.IMREAD_UNCHANGED)
    seg = ds[0]['gt_seg_map']
    # reduce_zero_label: 0 -> 255 (ignored), k -> k - 1
    assert np.array_equal(seg == 255, png == 0)
    assert np.array_equal(seg[png > 0], png[png > 0] - 1)


def test_mmpretrain_imagenet_and_custom_dataset(imagenet_root):
    init_default_scope('mmpretrain')
    from mmpretrain.datasets import CustomDataset, ImageNet
    ds = ImageNet(data_root=str(imagenet_root), split='val')
    assert len(ds) == 10 and len(ds.CLASSES) == 1000
    assert ds.get_gt_labels().tolist() == [0, 200, 400, 600, 800] * 2
    folders = CustomDataset(data_root=str(imagenet_root), data_prefix='train')
    assert len(folders) == 20 and len(folders.CLASSES) == 5
