"""Perspective detections -> hybrid object queries (paper §3.5, A.3).

Per-view NMS and top-k happen in :meth:`NuscenesDD3D.predict`; here the
detections of all cameras of a sample go through BEV (rotated) NMS, the
global top-k is kept, and their centres become normalised reference points.
"""
from typing import Dict, List, Sequence

import torch
from mmcv.ops import nms_rotated
from mmengine.structures import InstanceData


def encode_proposals(dets: List[List[InstanceData]], pc_range: Sequence[float],
                     num_proposals: int, bev_nms_iou: float = 0.3,
                     device=None, bda_mat: torch.Tensor = None) -> Dict[str, torch.Tensor]:
    """dets[b][n]: detections of camera n of sample b (``bboxes_3d`` lidar
    frame, ``scores_3d``). Returns ref_points (B, K, 3) in [0, 1] (gravity
    centre), valid (B, K) bool, scores (B, K) and boxes (B, K, 9).
    ``bda_mat`` (B, 4, 4): the BEV augmentation of the GT boxes; the centres
    follow it (the detections come from the un-augmented cameras)."""
    bs = len(dets)
    r = torch.tensor(pc_range, dtype=torch.float32, device=device)
    refs = torch.zeros(bs, num_proposals, 3, device=device)
    valid = torch.zeros(bs, num_proposals, dtype=torch.bool, device=device)
    scores = torch.zeros(bs, num_proposals, device=device)
    boxes = torch.zeros(bs, num_proposals, 9, device=device)
    for b, per_cam in enumerate(dets):
        box = torch.cat([d.bboxes_3d for d in per_cam]).float().to(device)
        sc = torch.cat([d.scores_3d for d in per_cam]).float().to(device)
        centre = box[:, :3].clone()
        centre[:, 2] = centre[:, 2] + box[:, 5] / 2
        if bda_mat is not None:
            m = bda_mat[b].to(centre)
            centre = centre @ m[:3, :3].T + m[:3, 3]
        inside = ((centre >= r[:3]) & (centre <= r[3:])).all(1)
        box, sc, centre = box[inside], sc[inside], centre[inside]
        if box.shape[0] == 0:
            continue
        # BEV rotated boxes (x, y, l, w, yaw); sorted by score inside nms_rotated
        bev = torch.stack([box[:, 0], box[:, 1], box[:, 3], box[:, 4], box[:, 6]], -1)
        _, keep = nms_rotated(bev, sc, bev_nms_iou)
        keep = keep[sc[keep].argsort(descending=True)][:num_proposals]
        k = keep.numel()
        refs[b, :k] = ((centre[keep] - r[:3]) / (r[3:] - r[:3])).clamp(0, 1)
        valid[b, :k] = True
        scores[b, :k] = sc[keep]
        boxes[b, :k] = box[keep]
    return dict(ref_points=refs, valid=valid, scores=scores, boxes=boxes)
