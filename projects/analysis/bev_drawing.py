"""Drawing of BEVFormer v2 samples: 3D boxes projected into every camera
image, and a top-down BEV plot.

Boxes follow ``projects/bevformer_v2/structures`` (``(x, y, z_bottom, l, w,
h, yaw, ...)`` in the current lidar frame, ``yaw`` counter-clockwise from +x,
``l`` along the heading); corners come from :class:`LiDARBoxes3D` (bottom
face 0-3, top face 4-7, corners 0, 3, 4, 7 on the front face). A camera
pixel of lidar point ``p`` is ``(u / d, v / d)`` with ``(u, v, d, 1) =
lidar2img @ (p, 1)``; edges are clipped at ``d = near`` so that boxes behind
or beside a camera draw only their visible part.
"""
import cv2
import numpy as np
import torch

from projects.bevformer_v2.structures import LiDARBoxes3D

EDGES = ((0, 1), (1, 2), (2, 3), (3, 0), (4, 5), (5, 6), (6, 7), (7, 4),
         (0, 4), (1, 5), (2, 6), (3, 7))
FRONT_CROSS = ((0, 7), (3, 4))
GT_COLOR = (0, 200, 0)
PRED_COLOR = (230, 40, 40)


def box_corners(boxes):
    """``(n, 8, 3)`` float64 corners of ``(n, 7 | 9)`` boxes."""
    boxes = torch.as_tensor(np.asarray(boxes, dtype=np.float64))
    if boxes.numel() == 0:
        return np.zeros((0, 8, 3))
    return LiDARBoxes3D(boxes).corners.numpy()


def undo_bev_augmentation(boxes, bda_mat):
    """Boxes in the un-augmented lidar frame (the one ``lidar2img`` maps
    from): ``bda_mat`` (the BEV augmentation applied to the GT) inverted."""
    boxes = np.asarray(boxes, dtype=np.float64)
    if boxes.size == 0:
        return boxes.reshape(0, 9)
    if bda_mat is None or np.allclose(bda_mat, np.eye(4)) or not len(boxes):
        return boxes
    out = LiDARBoxes3D(torch.from_numpy(boxes.copy()))
    out.transform(np.linalg.inv(np.asarray(bda_mat, dtype=np.float64)))
    return out.tensor.numpy()


def project_points(points, lidar2img):
    """``(uv (n, 2), depth (n,))`` of lidar points ``(n, 3)``."""
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    hom = np.concatenate([pts, np.ones((len(pts), 1))], 1) @ np.asarray(
        lidar2img, dtype=np.float64).T
    depth = hom[:, 2]
    with np.errstate(divide='ignore', invalid='ignore'):
        uv = hom[:, :2] / depth[:, None]
    return uv, depth


def projected_edges(corners, lidar2img, near=0.1):
    """Image segments ``[((u0, v0), (u1, v1)), ...]`` of the box edges (and
    the front-face cross) in front of the camera (depth >= ``near``)."""
    mat = np.asarray(lidar2img, dtype=np.float64)
    segments = []
    for box in np.asarray(corners, dtype=np.float64).reshape(-1, 8, 3):
        for i, j in EDGES + FRONT_CROSS:
            p0, p1 = box[i], box[j]
            (d0, d1) = project_points(np.stack([p0, p1]), mat)[1]
            if d0 < near and d1 < near:
                continue
            if d0 < near or d1 < near:  # depth is affine along the edge
                t = (near - d0) / (d1 - d0)
                cut = p0 + t * (p1 - p0)
                p0, p1 = (cut, p1) if d0 < near else (p0, cut)
            uv = project_points(np.stack([p0, p1]), mat)[0]
            segments.append((tuple(uv[0]), tuple(uv[1])))
    return segments


def draw_boxes_on_camera(img, corners, lidar2img, color, thickness=1):
    """A copy of the RGB image ``img`` with the boxes drawn."""
    img = np.ascontiguousarray(img).copy()
    h, w = img.shape[:2]
    for (u0, v0), (u1, v1) in projected_edges(corners, lidar2img):
        pts = np.clip(np.round([u0, v0, u1, v1]), -1e6, 1e6).astype(int)
        ok, a, b = cv2.clipLine((0, 0, w, h), tuple(int(v) for v in pts[:2]),
                                tuple(int(v) for v in pts[2:]))
        if ok:
            cv2.line(img, a, b, color, thickness, cv2.LINE_AA)
    return img


def bev_plot(box_sets, pc_range, size=400, title=None):
    """Top-down RGB image (``size`` x ``size``) of the box sets
    ``[(boxes (n, 9), rgb 0-255, label), ...]`` in the lidar frame (x right,
    y up = forward), each box's bottom rectangle and a heading line from its
    centre to the middle of its front edge; the ego at the origin."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    fig = Figure(figsize=(size / 100, size / 100), dpi=100)
    canvas = FigureCanvasAgg(fig)
    ax = fig.add_axes((0.12, 0.1, 0.85, 0.82))
    for boxes, color, label in box_sets:
        rgb = tuple(c / 255 for c in color)
        corners = box_corners(boxes)
        for k, box in enumerate(corners):
            ring = box[[0, 1, 2, 3, 0], :2]
            ax.plot(ring[:, 0], ring[:, 1], color=rgb, lw=1,
                    label=label if k == 0 else None)
            front = (box[0, :2] + box[3, :2]) / 2
            centre = box[:4, :2].mean(0)
            ax.plot([centre[0], front[0]], [centre[1], front[1]], color=rgb,
                    lw=1)
    ax.plot([0], [0], marker='^', color='k', markersize=6, label='ego')
    ax.set_xlim(pc_range[0], pc_range[3])
    ax.set_ylim(pc_range[1], pc_range[4])
    ax.set_aspect('equal')
    ax.set_xlabel('x (m)')
    ax.set_ylabel('y (m, forward)')
    ax.grid(alpha=0.3)
    ax.legend(fontsize='x-small', loc='upper right')
    if title:
        ax.set_title(title, fontsize='small')
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


def _grid(images, cols=3):
    h, w = images[0].shape[:2]
    rows = [images[i:i + cols] for i in range(0, len(images), cols)]
    blank = np.zeros((h, w, 3), np.uint8)
    return np.concatenate([np.concatenate(r + [blank] * (len(rows[0]) - len(r)),
                                          1) for r in rows], 0)


def draw_bev_sample(imgs, lidar2img, gt_boxes=None, pred_boxes=None,
                    bda_mat=None, pc_range=(-51.2, -51.2, -5, 51.2, 51.2, 3),
                    cam_names=None, bev_size=None):
    """One RGB image: the N cameras (``imgs`` (N, H, W, 3) RGB,
    ``lidar2img`` (N, 4, 4)) with the GT (green) and predicted (red) boxes,
    and the BEV plot on the right. GT boxes are mapped back through
    ``bda_mat`` first (predictions are in the camera's frame already)."""
    gt = undo_bev_augmentation(gt_boxes if gt_boxes is not None
                               else np.zeros((0, 9)), bda_mat)
    pred = np.asarray(pred_boxes if pred_boxes is not None
                      else np.zeros((0, 9)), dtype=np.float64)
    gt_c, pred_c = box_corners(gt), box_corners(pred)
    views = []
    for n, (img, mat) in enumerate(zip(imgs, lidar2img)):
        img = draw_boxes_on_camera(img, gt_c, mat, GT_COLOR)
        img = draw_boxes_on_camera(img, pred_c, mat, PRED_COLOR)
        if cam_names is not None:
            cv2.putText(img, str(cam_names[n]), (3, 12),
                        cv2.FONT_HERSHEY_SIMPLEX, 0.35, (255, 255, 0), 1,
                        cv2.LINE_AA)
        views.append(img)
    cams = _grid(views)
    sets = [(gt, GT_COLOR, f'GT ({len(gt)})')]
    if pred_boxes is not None:
        sets.append((pred, PRED_COLOR, f'pred ({len(pred)})'))
    size = bev_size or max(cams.shape[0], 240)
    bev = bev_plot(sets, pc_range, size)
    if bev.shape[0] != cams.shape[0]:
        pad = np.zeros((max(bev.shape[0], cams.shape[0]) - cams.shape[0],
                        cams.shape[1], 3), np.uint8)
        cams = np.concatenate([cams, pad], 0)
        bev = np.concatenate([bev, np.full((cams.shape[0] - bev.shape[0],
                                            bev.shape[1], 3), 255, np.uint8)], 0)
    return np.concatenate([cams, bev], 1)
