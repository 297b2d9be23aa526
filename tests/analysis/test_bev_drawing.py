"""3D box projection: a known box seen by a known pinhole camera lands on
the closed-form pixels; edges behind the camera are clipped; drawing
changes exactly the pixels on the projected edges."""
import math

import numpy as np
import pytest

from projects.analysis.bev_drawing import (GT_COLOR, box_corners,
                                           draw_boxes_on_camera,
                                           project_points, projected_edges,
                                           undo_bev_augmentation)

FX, CX, CY = 100.0, 80.0, 32.0


def front_camera():
    """Camera at the lidar origin looking along +y: camera (x, y, z) =
    lidar (x, -z, y); K = [[FX, 0, CX], [0, FX, CY], [0, 0, 1]]."""
    lidar2cam = np.eye(4)
    lidar2cam[:3, :3] = [[1, 0, 0], [0, 0, -1], [0, 1, 0]]
    cam2img = np.eye(4)
    cam2img[0, 0] = cam2img[1, 1] = FX
    cam2img[0, 2], cam2img[1, 2] = CX, CY
    return cam2img @ lidar2cam


def expected_pixel(x, y, z):
    return CX + FX * x / y, CY - FX * z / y


@pytest.mark.parametrize('yaw', [0.0, math.pi / 2, -2.0])
def test_corners_project_to_closed_form_pixels(yaw):
    # bottom centre (1, 10, -1), l=4 along the heading, w=2, h=1.5
    box = np.array([[1.0, 10.0, -1.0, 4.0, 2.0, 1.5, yaw, 0, 0]])
    corners = box_corners(box)[0]
    c, s = math.cos(yaw), math.sin(yaw)
    signs = [(.5, .5, 0), (-.5, .5, 0), (-.5, -.5, 0), (.5, -.5, 0),
             (.5, .5, 1), (-.5, .5, 1), (-.5, -.5, 1), (.5, -.5, 1)]
    uv, depth = project_points(corners, front_camera())
    for k, (sl, sw, sh) in enumerate(signs):
        lx, ly = sl * 4.0, sw * 2.0  # box frame, then rotate by yaw
        x, y, z = 1 + c * lx - s * ly, 10 + s * lx + c * ly, -1 + sh * 1.5
        np.testing.assert_allclose(corners[k], [x, y, z], atol=1e-6)
        np.testing.assert_allclose(uv[k], expected_pixel(x, y, z), atol=1e-6)
        assert depth[k] == pytest.approx(y)
    if yaw == 0.0:  # heading +x: the front face (corners 0, 3) at x = 3
        assert uv[0][0] == pytest.approx(CX + FX * 3 / 11)
        assert uv[3][0] == pytest.approx(CX + FX * 3 / 9)


def test_edges_behind_the_camera_are_clipped():
    # a box straddling the camera plane y = 0
    box = np.array([[0.0, 0.0, -1.0, 2.0, 4.0, 1.0, math.pi / 2, 0, 0]])
    segments = projected_edges(box_corners(box), front_camera(), near=0.5)
    assert segments  # its front half is visible
    pts = np.array(segments).reshape(-1, 2)
    assert np.isfinite(pts).all()
    # every endpoint is the projection of a point at depth >= 0.5
    assert np.abs(pts[:, 1] - CY).max() <= FX * 1.0 / 0.5 + 1e-6
    behind = np.array([[0.0, -10.0, -1.0, 4.0, 2.0, 1.5, 0, 0, 0]])
    assert projected_edges(box_corners(behind), front_camera()) == []


def test_drawing_changes_pixels_on_the_edges_only():
    img = np.full((64, 160, 3), 30, np.uint8)
    box = np.array([[0.0, 10.0, -1.0, 4.0, 2.0, 1.5, 0.0, 0, 0]])
    drawn = draw_boxes_on_camera(img, box_corners(box), front_camera(),
                                 GT_COLOR)
    for (u0, v0), (u1, v1) in projected_edges(box_corners(box),
                                              front_camera()):
        u, v = round((u0 + u1) / 2), round((v0 + v1) / 2)
        if 1 <= u < 159 and 1 <= v < 63:  # anti-aliased: the 3x3 around it
            assert drawn[v - 1:v + 2, u - 1:u + 2, 1].max() > 150  # green
    assert (drawn[:5, :5] == 30).all()  # far from the box: unchanged


def test_undo_bev_augmentation_inverts_the_recorded_matrix():
    from projects.bevformer_v2.structures import LiDARBoxes3D
    import torch
    boxes = np.array([[5.0, 3.0, -1.0, 4.0, 2.0, 1.5, 0.3, 1.0, 0.0]])
    aug = LiDARBoxes3D(torch.from_numpy(boxes.copy()))
    mat = aug.rotate(0.7) @ np.eye(4)
    mat = aug.flip('horizontal') @ mat
    back = undo_bev_augmentation(aug.tensor.numpy(), mat)
    np.testing.assert_allclose(back, boxes, atol=1e-5)
