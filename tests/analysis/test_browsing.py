"""browse_dataset / visualize_predictions write images whose pixels differ
from the raw image where the GT (and predicted) boxes and masks are."""
import sys
from pathlib import Path

import mmcv
import numpy as np
import pytest
import torch

from projects.analysis.bev_drawing import (box_corners, projected_edges,
                                           undo_bev_augmentation)
from projects.analysis.browsing import browse_dataset, visualize_predictions
from projects.analysis.samples import build_model, load_analysis_config

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / 'tools' / 'analysis_tools'))
import browse_dataset as browse_cli  # noqa: E402
import visualize_predictions as predict_cli  # noqa: E402

RETINANET = 'configs/retinanet/retinanet_r18_fpn_tiny_1xb4-300it_synthetic-coco.py'
UPERNET = 'configs/upernet/upernet_r18_tiny_1xb4-200it_synthetic-ade20k.py'
LINEAR = 'configs/ssl_eval/resnet18-tiny_fair-pre_1xb32-linear-100it_synthetic-imagenet.py'
BEV = 'configs/bevformer_v2/bevformer-v2_r18_tiny_1xb2-600it_synthetic-nuscenes.py'


def _cfg(config):
    return load_analysis_config(str(ROOT / config))


def _changed(a, b):
    return np.abs(a.astype(int) - b.astype(int)).max(-1) > 20


def _box_edge_changed(raw, drawn, boxes, offset=0):
    """For every box, pixels on its top edge changed in ``drawn`` (the
    panel starting at column ``offset``)."""
    h, w = raw.shape[:2]
    panel = drawn[:h, offset:offset + w]
    changed = _changed(panel, raw)
    hits = []
    for x1, y1, x2, y2 in np.asarray(boxes):
        xs = np.arange(int(np.ceil(x1)) + 1, int(x2) - 1)
        y = min(max(int(round(y1)), 0), h - 1)
        if len(xs):
            hits.append(changed[max(y - 1, 0):y + 2, xs].any(0).mean())
    return hits


@pytest.mark.parametrize('phase', ['train', 'val'])
def test_browse_det_draws_gt_boxes(coco_root, tmp_path, phase):
    res = browse_dataset(_cfg(RETINANET), tmp_path, 2, phase, coco_root)
    assert len(res) == 2
    for r in res:
        assert r['task'] == 'det' and Path(r['out_file']).stat().st_size > 0
        written = mmcv.imread(r['out_file'], channel_order='rgb')
        assert written.shape == r['raw'].shape
        boxes = r['sample']['data_samples'].gt_instances.bboxes
        boxes = boxes.tensor if hasattr(boxes, 'tensor') else boxes
        if phase == 'val':  # GT in the original frame: drawn on the original
            assert r['raw'].shape[:2] == tuple(r['sample']['data_samples'].ori_shape)
        hits = _box_edge_changed(r['raw'], written, boxes.numpy())
        assert hits and min(hits) > 0.8


def test_browse_seg_draws_masks(ade20k_root, tmp_path):
    (r,) = browse_dataset(_cfg(UPERNET), tmp_path, 1, 'train', ade20k_root)
    written = mmcv.imread(r['out_file'], channel_order='rgb')
    seg = r['sample']['data_samples'].gt_sem_seg.data[0].numpy()
    labelled = seg != 255
    assert labelled.mean() > 0.3
    # SegLocalVisualizer: 0.2 * image + 0.8 * mask, mask = palette[label]
    # where labelled, black where ignored. Class-name captions cover a few
    # pixels, which can be most of the ignored ones when the random crop
    # keeps only a few: the ignored pixels are checked as part of the whole.
    palette = np.array(r['meta']['palette'], dtype=float)
    mask = np.where(labelled[..., None], palette[np.where(labelled, seg, 0)], 0)
    close = np.abs(written - (0.2 * r['raw'] + 0.8 * mask)).max(-1) <= 2
    assert close[labelled].mean() > 0.9 and close.mean() > 0.9
    assert _changed(written, r['raw'])[labelled].mean() > 0.5


def test_browse_cls_draws_label(imagenet_root, tmp_path):
    (r,) = browse_dataset(_cfg(LINEAR), tmp_path, 1, 'val', imagenet_root)
    written = mmcv.imread(r['out_file'], channel_order='rgb')
    assert r['task'] == 'cls' and written.shape[0] >= 224  # rescaled to read
    raw = mmcv.imresize(r['raw'], written.shape[1::-1])
    assert _changed(written[:40, :120], raw[:40, :120]).mean() > 0.05


def _bev_edge_pixels(sample, boxes, bda=None):
    """(cam, u, v) of projected edge midpoints inside the images."""
    meta = sample['data_samples'].metainfo
    l2i = np.asarray(meta['lidar2img'])[-1]
    h, w = meta['img_shape']
    boxes = undo_bev_augmentation(boxes, bda)
    pts = []
    for cam, mat in enumerate(l2i):
        for (u0, v0), (u1, v1) in projected_edges(box_corners(boxes), mat):
            u, v = round((u0 + u1) / 2), round((v0 + v1) / 2)
            if 1 <= u < w - 1 and 1 <= v < h - 1:
                pts.append((cam, u, v))
    return pts


def _bev_hits(written, raw, pts, color_channel):
    cams = len(raw)
    h, w = raw[0].shape[:2]
    hits = []
    for cam, u, v in pts:
        col = cam % 3 * w
        row = cam // 3 * h
        patch = written[row + v - 1:row + v + 2, col + u - 1:col + u + 2]
        base = raw[cam][v - 1:v + 2, u - 1:u + 2]
        hits.append(_changed(patch, base).any())
    assert cams and hits
    return np.mean(hits)


def test_browse_bev_projects_gt_into_cameras(nuscenes_root, tmp_path):
    res = browse_dataset(_cfg(BEV), tmp_path, 1, 'train', nuscenes_root)
    r = res[0]
    assert r['task'] == 'bev'
    written = mmcv.imread(r['out_file'], channel_order='rgb')
    h, w = r['raw'][0].shape[:2]
    assert written.shape[1] > 2 * w  # 2 cameras + the BEV plot
    ds = r['sample']['data_samples']
    pts = _bev_edge_pixels(r['sample'], ds.gt_instances_3d.bboxes_3d.numpy(),
                           ds.metainfo['bda_mat'])
    assert len(pts) > 10
    assert _bev_hits(written, r['raw'], pts, 1) > 0.9


def _checkpoint(config, path):
    torch.manual_seed(0)
    model = build_model(_cfg(config))
    torch.save(dict(state_dict=model.state_dict(), meta={}), path)
    return path


def test_predictions_det_side_by_side(coco_root, tmp_path):
    ckpt = _checkpoint(RETINANET, tmp_path / 'det.pth')
    (r,) = visualize_predictions(_cfg(RETINANET), ckpt, tmp_path / 'vis', 1,
                                 score_thr=0.0, data_root=coco_root)
    written = mmcv.imread(r['out_file'], channel_order='rgb')
    h, w = r['raw'].shape[:2]
    assert written.shape[:2] == (h, 2 * w)  # GT left, prediction right
    pred = r['sample'].pred_instances
    assert len(pred) > 0
    top = pred.bboxes[pred.scores.argmax()][None].numpy()
    top = np.clip(top, 0, [w - 1, h - 1, w - 1, h - 1])
    if top[0, 2] - top[0, 0] > 4:
        assert min(_box_edge_changed(r['raw'], written, top, offset=w)) > 0.5
    gt = r['sample'].gt_instances.bboxes
    gt = gt.tensor if hasattr(gt, 'tensor') else gt
    assert min(_box_edge_changed(r['raw'], written, gt.numpy())) > 0.8


def test_predictions_bev_draw_predicted_boxes(nuscenes_root, tmp_path):
    ckpt = _checkpoint(BEV, tmp_path / 'bev.pth')
    (r,) = visualize_predictions(_cfg(BEV), ckpt, tmp_path / 'vis', 1,
                                 score_thr=0.0, data_root=nuscenes_root)
    written = mmcv.imread(r['out_file'], channel_order='rgb')
    packed = dict(inputs=None, data_samples=r['sample'])
    boxes = r['sample'].pred_instances_3d.bboxes_3d
    boxes = (boxes.tensor if hasattr(boxes, 'tensor') else boxes).numpy()
    pts = _bev_edge_pixels(packed, boxes)
    assert pts
    assert _bev_hits(written, r['raw'], pts, 0) > 0.8


def test_cli_missing_paths_exit_2(tmp_path, capsys):
    missing_ckpt = tmp_path / 'none.pth'
    with pytest.raises(SystemExit) as exc:
        predict_cli.main([str(ROOT / RETINANET), str(missing_ckpt),
                          '--out-dir', str(tmp_path)])
    assert exc.value.code == 2
    assert f'checkpoint {missing_ckpt} does not exist' in capsys.readouterr().err
    missing_root = tmp_path / 'no_data'
    with pytest.raises(SystemExit) as exc:
        browse_cli.main([str(ROOT / RETINANET), '--out-dir', str(tmp_path),
                         '--data-root', str(missing_root)])
    assert exc.value.code == 2
    assert f'data root {missing_root} does not exist' in capsys.readouterr().err
