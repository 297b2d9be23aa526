"""3D boxes in the current lidar frame, without mmdet3d.

Convention (projects/bevformer_v2/README.md): tensor ``(N, 9)`` =
``(x, y, z_bottom, l, w, h, yaw, vx, vy)``; ``l`` along the heading, ``yaw``
counter-clockwise from +x about +z, wrapped to ``[-pi, pi)``; velocity in m/s in
the same frame. This is mmdet3d >= 1.0's ``LiDARInstance3DBoxes`` convention.

Every geometric operation (``rotate``, ``flip``, ``scale``, ``translate``)
returns the 4x4 matrix ``M`` that it applied to points (``p' = M @ [p, 1]``),
so that a BEV augmentation can record one ``bda_mat`` and :meth:`transform`
applies any such (similarity, possibly mirroring) matrix.
"""
import math

import numpy as np
import torch

# Corner order of :attr:`LiDARBoxes3D.corners` in the box frame, in units of
# (l, w, h) around the bottom centre: bottom face 0-3, then top face 4-7, both
# counter-clockwise seen from above starting at (+l/2, +w/2).
CORNER_SIGNS = ((0.5, 0.5, 0), (-0.5, 0.5, 0), (-0.5, -0.5, 0), (0.5, -0.5, 0),
                (0.5, 0.5, 1), (-0.5, 0.5, 1), (-0.5, -0.5, 1), (0.5, -0.5, 1))


def limit_period(val, offset=0.5, period=2 * math.pi):
    """``val - floor(val / period + offset) * period``: ``[-pi, pi)`` by default."""
    return val - torch.floor(val / period + offset) * period


def rotation_z(angle):
    """4x4 float64 matrix of a counter-clockwise rotation by ``angle`` about +z."""
    c, s = math.cos(angle), math.sin(angle)
    mat = np.eye(4)
    mat[:2, :2] = [[c, -s], [s, c]]
    return mat


class LiDARBoxes3D:
    """A set of 3D boxes in the lidar frame (see the module docstring).

    Args:
        tensor (Tensor | ndarray | list): ``(N, 9)``, or ``(N, 7)`` (zero
            velocity is appended). Stored as float32 unless a float64 tensor is
            given.
    """

    box_dim = 9

    def __init__(self, tensor):
        if isinstance(tensor, LiDARBoxes3D):
            tensor = tensor.tensor
        if not isinstance(tensor, torch.Tensor):
            tensor = torch.as_tensor(np.asarray(tensor, dtype=np.float64),
                                     dtype=torch.float32)
        elif not tensor.is_floating_point():
            tensor = tensor.float()
        if tensor.numel() == 0:
            tensor = tensor.reshape(0, self.box_dim)
        if tensor.dim() != 2 or tensor.shape[1] not in (7, 9):
            raise ValueError('LiDARBoxes3D expects an (N, 9) tensor '
                             '(x, y, z_bottom, l, w, h, yaw, vx, vy) or (N, 7), '
                             f'got shape {tuple(tensor.shape)}')
        if tensor.shape[1] == 7:
            tensor = torch.cat([tensor, tensor.new_zeros(len(tensor), 2)], 1)
        self.tensor = tensor

    # ------------------------------------------------------------ containers
    def __len__(self):
        return self.tensor.shape[0]

    def __getitem__(self, item):
        if isinstance(item, int):
            return LiDARBoxes3D(self.tensor[item].view(1, -1))
        if isinstance(item, np.ndarray):
            item = torch.from_numpy(item)
        return LiDARBoxes3D(self.tensor[item])

    def __repr__(self):
        return f'LiDARBoxes3D(\n    {self.tensor})'

    @classmethod
    def cat(cls, boxes_list):
        if not boxes_list:
            return cls(torch.zeros(0, 9))
        return cls(torch.cat([b.tensor for b in boxes_list], 0))

    def clone(self):
        return LiDARBoxes3D(self.tensor.clone())

    def to(self, *args, **kwargs):
        return LiDARBoxes3D(self.tensor.to(*args, **kwargs))

    def numpy(self):
        return self.tensor.detach().cpu().numpy()

    @property
    def device(self):
        return self.tensor.device

    # ------------------------------------------------------------ properties
    @property
    def bottom_center(self):
        return self.tensor[:, :3]

    @property
    def gravity_center(self):
        center = self.tensor[:, :3].clone()
        center[:, 2] = center[:, 2] + self.tensor[:, 5] * 0.5
        return center

    @property
    def dims(self):
        """``(N, 3)`` = ``(l, w, h)``."""
        return self.tensor[:, 3:6]

    @property
    def yaw(self):
        return self.tensor[:, 6]

    @property
    def velocity(self):
        return self.tensor[:, 7:9]

    @property
    def bev(self):
        """``(N, 5)`` = ``(x, y, l, w, yaw)``."""
        return self.tensor[:, [0, 1, 3, 4, 6]]

    @property
    def corners(self):
        """``(N, 8, 3)`` corners in the order of :data:`CORNER_SIGNS`."""
        signs = self.tensor.new_tensor(CORNER_SIGNS)
        local = self.dims[:, None, :] * signs[None]
        c, s = torch.cos(self.yaw), torch.sin(self.yaw)
        x = local[..., 0] * c[:, None] - local[..., 1] * s[:, None]
        y = local[..., 0] * s[:, None] + local[..., 1] * c[:, None]
        return torch.stack([x, y, local[..., 2]], -1) + self.bottom_center[:, None]

    # ------------------------------------------------------------ geometry
    def transform(self, mat):
        """Apply ``p' = mat @ [p, 1]`` in place and return ``self``.

        ``mat[:3, :3]`` must be ``s * R`` with ``R`` a rotation about z, possibly
        composed with a mirror of x or y (what BEV augmentation produces), and
        ``mat[2, 2] = s``: the heading, extents and velocity follow exactly.
        """
        mat = torch.as_tensor(np.asarray(mat, dtype=np.float64))
        t = self.tensor.double()
        lin = mat[:3, :3]
        bev = lin[:2, :2]
        scale = math.sqrt(abs(float(torch.det(bev))))
        if not torch.allclose(bev @ bev.T, torch.eye(2, dtype=bev.dtype) * scale**2,
                              atol=1e-6) or abs(float(lin[2, 2]) - scale) > 1e-6 \
                or lin[:2, 2].abs().max() > 1e-9 or lin[2, :2].abs().max() > 1e-9:
            raise ValueError('transform expects a BEV similarity (rotation about '
                             'z, mirror, uniform scale), got\n' f'{mat}')
        out = t.clone()
        out[:, :3] = t[:, :3] @ lin.T + mat[:3, 3]
        out[:, 3:6] = t[:, 3:6] * scale
        heading = torch.stack([torch.cos(t[:, 6]), torch.sin(t[:, 6])], 1) @ bev.T
        out[:, 6] = torch.atan2(heading[:, 1], heading[:, 0])
        out[:, 7:9] = t[:, 7:9] @ bev.T
        self.tensor = out.to(self.tensor.dtype)
        self.limit_yaw()
        return self

    def rotate(self, angle):
        """Rotate counter-clockwise by ``angle`` (rad) about the lidar z axis
        (positions, heading and velocity). Returns the 4x4 matrix applied."""
        mat = rotation_z(float(angle))
        self.transform(mat)
        return mat

    def flip(self, bev_direction='horizontal'):
        """Mirror the BEV. ``'horizontal'``: y -> -y (yaw -> -yaw);
        ``'vertical'``: x -> -x (yaw -> pi - yaw), as mmdet3d >= 1.0.
        Returns the 4x4 matrix applied."""
        if bev_direction not in ('horizontal', 'vertical'):
            raise ValueError("bev_direction must be 'horizontal' or 'vertical', "
                             f'got {bev_direction!r}')
        mat = np.eye(4)
        mat[1 if bev_direction == 'horizontal' else 0, :] *= -1
        self.transform(mat)
        return mat

    def scale(self, factor):
        """Scale positions, extents and velocity by ``factor``; returns the matrix."""
        mat = np.diag([factor, factor, factor, 1.0])
        self.transform(mat)
        return mat

    def translate(self, offset):
        """Shift by ``offset`` (3,) metres; returns the matrix."""
        mat = np.eye(4)
        mat[:3, 3] = np.asarray(offset, dtype=np.float64).reshape(3)
        self.transform(mat)
        return mat

    def in_range_bev(self, bev_range):
        """Mask of boxes whose bottom centre is strictly inside
        ``(x_min, y_min, x_max, y_max)``."""
        x, y = self.tensor[:, 0], self.tensor[:, 1]
        return ((x > bev_range[0]) & (y > bev_range[1]) & (x < bev_range[2])
                & (y < bev_range[3]))

    def limit_yaw(self, offset=0.5, period=2 * math.pi):
        """Wrap yaw in place (``[-pi, pi)`` by default) and return ``self``."""
        self.tensor[:, 6] = limit_period(self.tensor[:, 6], offset, period)
        return self

    # ------------------------------------------------------------ nuScenes
    def to_nusc_boxes(self, lidar2ego=None, ego2global=None, labels=None,
                      scores=None, names=None):
        """nuScenes-devkit ``Box`` objects (gravity centre, ``wlh``, quaternion,
        velocity ``(vx, vy, 0)``), in the lidar frame, or in ego / global when
        ``lidar2ego`` (and ``ego2global``) 4x4 matrices are given."""
        from nuscenes.utils.data_classes import Box
        from pyquaternion import Quaternion
        t = self.tensor.detach().cpu().double().numpy()
        centers = self.gravity_center.detach().cpu().double().numpy()
        boxes = []
        for i in range(len(t)):
            box = Box(centers[i], [t[i, 4], t[i, 3], t[i, 5]],
                      Quaternion(axis=[0, 0, 1], radians=float(t[i, 6])),
                      label=np.nan if labels is None else int(labels[i]),
                      score=np.nan if scores is None else float(scores[i]),
                      velocity=(t[i, 7], t[i, 8], 0.0),
                      name=None if names is None else names[i])
            for mat in (lidar2ego, ego2global):
                if mat is not None:
                    mat = np.asarray(mat, dtype=np.float64)
                    box.rotate(Quaternion(matrix=mat[:3, :3], atol=1e-6))
                    box.translate(mat[:3, 3])
            boxes.append(box)
        return boxes

    @classmethod
    def from_nusc_boxes(cls, boxes, global2ego=None, ego2lidar=None):
        """Inverse of :meth:`to_nusc_boxes`: devkit boxes (in global, ego or
        lidar, as the given 4x4 matrices say) to lidar-frame boxes. The yaw is
        the heading of the box's x axis projected on the lidar xy plane; a NaN
        velocity stays NaN."""
        from pyquaternion import Quaternion
        rows = []
        for box in boxes:
            box = box.copy()
            for mat in (global2ego, ego2lidar):
                if mat is not None:
                    mat = np.asarray(mat, dtype=np.float64)
                    box.rotate(Quaternion(matrix=mat[:3, :3], atol=1e-6))
                    box.translate(mat[:3, 3])
            head = box.rotation_matrix[:, 0]
            w, length, h = box.wlh
            vel = np.asarray(box.velocity, dtype=np.float64)
            rows.append([box.center[0], box.center[1], box.center[2] - h / 2,
                         length, w, h, math.atan2(head[1], head[0]), vel[0], vel[1]])
        tensor = torch.tensor(np.asarray(rows, dtype=np.float64).reshape(-1, 9),
                              dtype=torch.float32)
        return cls(tensor).limit_yaw()


def normalize_bbox(bboxes):
    """Box tensor ``(N, 9)`` (or ``(N, 7)``) to the BEV head's code
    ``(cx, cy, log l, log w, cz, log h, sin yaw, cos yaw[, vx, vy])`` with ``cz``
    the gravity centre."""
    if isinstance(bboxes, LiDARBoxes3D):
        bboxes = bboxes.tensor
    x, y, z = bboxes[:, 0:1], bboxes[:, 1:2], bboxes[:, 2:3]
    log_l, log_w, h = bboxes[:, 3:4].log(), bboxes[:, 4:5].log(), bboxes[:, 5:6]
    yaw = bboxes[:, 6:7]
    parts = [x, y, log_l, log_w, z + h * 0.5, h.log(), yaw.sin(), yaw.cos()]
    if bboxes.shape[1] > 7:
        parts.append(bboxes[:, 7:9])
    return torch.cat(parts, dim=-1)


def denormalize_bbox(codes):
    """Inverse of :func:`normalize_bbox`: ``(N, 10)`` or ``(N, 8)`` codes to box
    tensors ``(N, 9)`` or ``(N, 7)`` with the bottom-centre z."""
    yaw = torch.atan2(codes[:, 6:7], codes[:, 7:8])
    length, w, h = codes[:, 2:3].exp(), codes[:, 3:4].exp(), codes[:, 5:6].exp()
    z = codes[:, 4:5] - h * 0.5
    parts = [codes[:, 0:1], codes[:, 1:2], z, length, w, h, yaw]
    if codes.shape[1] > 8:
        parts.append(codes[:, 8:10])
    return torch.cat(parts, dim=-1)
