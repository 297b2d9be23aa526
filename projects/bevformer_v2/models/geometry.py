"""Rotation and box geometry for the perspective head (camera frame)."""
import torch
from torch import Tensor

EPS = 1e-7


def quat_to_matrix(q: Tensor) -> Tensor:
    """(n, 4) quaternions (w, x, y, z), normalised here -> (n, 3, 3)."""
    q = q / q.norm(dim=-1, keepdim=True).clamp(min=EPS)
    w, x, y, z = q.unbind(-1)
    return torch.stack([
        1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w),
        2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w),
        2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)], -1).view(-1, 3, 3)


def matrix_to_quat(m: Tensor) -> Tensor:
    """(n, 3, 3) rotations -> (n, 4) unit quaternions (w, x, y, z), w >= 0."""
    m00, m11, m22 = m[:, 0, 0], m[:, 1, 1], m[:, 2, 2]
    qs = torch.stack([
        1 + m00 + m11 + m22, 1 + m00 - m11 - m22, 1 - m00 + m11 - m22,
        1 - m00 - m11 + m22], -1).clamp(min=0)
    k = qs.argmax(-1)
    out = torch.empty(m.shape[0], 4, dtype=m.dtype, device=m.device)
    # four numerically stable branches (Shepperd)
    r = 0.5 / qs.clamp(min=EPS).sqrt()
    cand = torch.stack([
        torch.stack([0.25 / r[:, 0], (m[:, 2, 1] - m[:, 1, 2]) * r[:, 0],
                     (m[:, 0, 2] - m[:, 2, 0]) * r[:, 0], (m[:, 1, 0] - m[:, 0, 1]) * r[:, 0]], -1),
        torch.stack([(m[:, 2, 1] - m[:, 1, 2]) * r[:, 1], 0.25 / r[:, 1],
                     (m[:, 0, 1] + m[:, 1, 0]) * r[:, 1], (m[:, 0, 2] + m[:, 2, 0]) * r[:, 1]], -1),
        torch.stack([(m[:, 0, 2] - m[:, 2, 0]) * r[:, 2], (m[:, 0, 1] + m[:, 1, 0]) * r[:, 2],
                     0.25 / r[:, 2], (m[:, 1, 2] + m[:, 2, 1]) * r[:, 2]], -1),
        torch.stack([(m[:, 1, 0] - m[:, 0, 1]) * r[:, 3], (m[:, 0, 2] + m[:, 2, 0]) * r[:, 3],
                     (m[:, 1, 2] + m[:, 2, 1]) * r[:, 3], 0.25 / r[:, 3]], -1)], 1)
    out = cand[torch.arange(m.shape[0], device=m.device), k]
    out = out * torch.where(out[:, :1] < 0, -1.0, 1.0)
    return out / out.norm(dim=-1, keepdim=True)


def rot_z(yaw: Tensor) -> Tensor:
    c, s = yaw.cos(), yaw.sin()
    z, o = torch.zeros_like(c), torch.ones_like(c)
    return torch.stack([c, -s, z, s, c, z, z, z, o], -1).view(-1, 3, 3)


def unproject(uv: Tensor, inv_k: Tensor) -> Tensor:
    """(n, 2) pixels, (n, 3, 3) inverse intrinsics -> (n, 3) rays with z = 1."""
    p = torch.cat([uv, torch.ones_like(uv[:, :1])], -1)
    return torch.einsum('nij,nj->ni', inv_k, p)


def ray_rotation(uv: Tensor, inv_k: Tensor) -> Tensor:
    """Allocentric -> egocentric rotation of DD3D, (n, 3, 3): the local frame
    whose z axis is the viewing ray of uv and whose y axis is the camera's y
    made orthogonal to it (Gram-Schmidt), x = y cross z. Identity on the
    optical axis."""
    ray = unproject(uv, inv_k)
    z = ray / ray.norm(dim=-1, keepdim=True)
    y = -z[:, 1:2] * z
    y[:, 1] += 1.0
    y = y / y.norm(dim=-1, keepdim=True)
    x = torch.cross(y, z, dim=-1)
    return torch.stack([x, y, z], -1)


def box_corners(rot: Tensor, center: Tensor, size: Tensor) -> Tensor:
    """rot (n, 3, 3) object->camera, center (n, 3) gravity centre, size (n, 3)
    as (l, w, h) along the object's (x, y, z) -> corners (n, 8, 3)."""
    signs = torch.tensor([[sx, sy, sz] for sx in (-.5, .5) for sy in (-.5, .5)
                          for sz in (-.5, .5)], dtype=size.dtype, device=size.device)
    local = signs[None] * size[:, None, :]
    return torch.einsum('nij,nkj->nki', rot, local) + center[:, None, :]
