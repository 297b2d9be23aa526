"""BEVFormer v2 attentions: MSDA against a naive bilinear loop, camera
selection of the spatial cross-attention, batch independence, projection."""
import math

import pytest
import torch

from projects.bevformer_v2.models.attention import (SpatialCrossAttention,
                                                    TemporalSelfAttention, ms_deform_attn)
from projects.bevformer_v2.models.encoder import bev_grid_3d, point_sampling


def _bilinear(img, x, y):
    """img (C, H, W); x, y in [0, 1] (align_corners=False, zero padding)."""
    c, h, w = img.shape
    px, py = x * w - 0.5, y * h - 0.5
    x0, y0 = math.floor(px), math.floor(py)
    out = img.new_zeros(c)
    for dx in (0, 1):
        for dy in (0, 1):
            xi, yi = x0 + dx, y0 + dy
            wgt = (1 - abs(px - xi)) * (1 - abs(py - yi))
            if 0 <= xi < w and 0 <= yi < h:
                out += wgt * img[:, yi, xi]
    return out


def test_msda_matches_naive_bilinear_loop():
    g = torch.Generator().manual_seed(0)
    bs, nh, d, nq, npnt = 2, 2, 3, 4, 3
    shapes = torch.tensor([[3, 5], [2, 2]])
    start = torch.tensor([0, 15])
    value = torch.randn(bs, 19, nh, d, generator=g, dtype=torch.float64)
    loc = torch.rand(bs, nq, nh, 2, npnt, 2, generator=g, dtype=torch.float64) * 1.4 - 0.2
    w = torch.rand(bs, nq, nh, 2, npnt, generator=g, dtype=torch.float64)
    out = ms_deform_attn(value, shapes, start, loc, w)
    ref = torch.zeros(bs, nq, nh, d, dtype=torch.float64)
    for b in range(bs):
        for q in range(nq):
            for h in range(nh):
                for lvl, (hh, ww) in enumerate(shapes.tolist()):
                    s = start[lvl]
                    img = value[b, s:s + hh * ww, h].T.reshape(d, hh, ww)
                    for p in range(npnt):
                        x, y = loc[b, q, h, lvl, p].tolist()
                        ref[b, q, h] += w[b, q, h, lvl, p] * _bilinear(img, x, y)
    torch.testing.assert_close(out, ref.view(bs, nq, nh * d), atol=1e-10, rtol=0)


def _sca(seed=0):
    torch.manual_seed(seed)
    sca = SpatialCrossAttention(embed_dims=8, num_cams=2, dropout=0.0,
                                deformable_attention=dict(num_heads=2, num_levels=1,
                                                          num_points=2))
    for p in sca.parameters():  # non-trivial offsets and weights
        torch.nn.init.normal_(p, std=0.3)
    return sca.double().eval()


def test_sca_samples_only_the_cameras_that_see_the_query():
    sca = _sca()
    bs, nq, c, d = 1, 4, 8, 2
    shapes, start = torch.tensor([[3, 4]]), torch.tensor([0])
    query = torch.randn(bs, nq, c, dtype=torch.float64)
    value = torch.randn(bs, 2, 12, c, dtype=torch.float64)
    ref = torch.rand(bs, 2, nq, d, 2, dtype=torch.float64)
    mask = torch.tensor([[[[1, 0], [0, 0], [1, 1], [0, 0]],     # camera 0
                          [[0, 0], [1, 0], [0, 1], [0, 0]]]],   # camera 1
                        dtype=torch.bool)
    out = sca(query, value, ref, mask, shapes, start)
    # query 3 is seen by no camera: only its residual comes back
    torch.testing.assert_close(out[:, 3], query[:, 3])
    # query 0 is seen by camera 0 only: camera 1's features do not matter
    value2 = value.clone()
    value2[:, 1] = torch.randn_like(value2[:, 1]) * 100
    out2 = sca(query, value2, ref, mask, shapes, start)
    torch.testing.assert_close(out2[:, 0], out[:, 0])
    assert not torch.allclose(out2[:, 1], out[:, 1])
    # query 2 is seen by both cameras: the average of the two one-camera results
    m0, m1 = mask.clone(), mask.clone()
    m0[:, 1] = False
    m1[:, 0] = False
    o0, o1 = sca(query, value, ref, m0, shapes, start), sca(query, value, ref, m1, shapes, start)
    torch.testing.assert_close(out[:, 2] - query[:, 2],
                               ((o0 + o1)[:, 2] - 2 * query[:, 2]) / 2)


@pytest.mark.parametrize('module', ['sca', 'tsa'])
def test_batch_items_are_independent(module):
    """bs > 1 equals each item alone (the official SCA used item 0's mask for
    all items and TSA's ``value[:bs]`` mixed items)."""
    torch.manual_seed(1)
    bs, nq, c = 2, 6, 8
    query = torch.randn(bs, nq, c, dtype=torch.float64)
    if module == 'sca':
        sca = _sca(1)
        value = torch.randn(bs, 2, 12, c, dtype=torch.float64)
        ref = torch.rand(bs, 2, nq, 2, 2, dtype=torch.float64)
        mask = torch.rand(bs, 2, nq, 2) > 0.5
        args = (torch.tensor([[3, 4]]), torch.tensor([0]))
        run = lambda i: sca(query[i], value[i], ref[i], mask[i], *args)  # noqa: E731
    else:
        tsa = TemporalSelfAttention(embed_dims=c, num_heads=2, num_points=2, dropout=0.0)
        for p in tsa.parameters():
            torch.nn.init.normal_(p, std=0.3)
        tsa = tsa.double()
        pos = torch.randn(bs, nq, c, dtype=torch.float64)
        ref = torch.rand(bs, nq, 1, 2, dtype=torch.float64)
        args = (torch.tensor([[2, 3]]), torch.tensor([0]))
        run = lambda i: tsa(query[i], pos[i], ref[i], *args)  # noqa: E731
    full = run(slice(None))
    for i in range(bs):
        torch.testing.assert_close(full[i:i + 1], run(slice(i, i + 1)))


def test_point_sampling_projects_and_masks():
    """A pillar point in front of the camera lands on K [R|t] p; points behind
    it or outside the image are masked; coordinates are normalised by the
    padded shape."""
    pc = [-10., -10., -2., 10., 10., 2.]
    k = torch.tensor([[50., 0, 40, 0], [0, 50., 16, 0], [0, 0, 1, 0], [0, 0, 0, 1]])
    l2c = torch.tensor([[1., 0, 0, 0], [0, 0, -1, 0], [0, 1, 0, 0], [0, 0, 0, 1]])
    lidar2img = (k @ l2c)[None, None]
    ref = bev_grid_3d(4, 4, 2, 1, 'cpu')
    uv, mask = point_sampling(ref, pc, lidar2img, (32, 80), (64, 96))
    pts = ref[0] * 20 - 10
    pts[..., 2] = ref[0, ..., 2] * 4 - 2
    cam = (l2c[:3, :3] @ pts.reshape(-1, 3).T).T
    expect_u = 50 * cam[:, 0] / cam[:, 2] + 40
    expect_v = 50 * cam[:, 1] / cam[:, 2] + 16
    vis = (cam[:, 2] > 0) & (expect_u > 0) & (expect_u < 80) & (expect_v > 0) & (expect_v < 32)
    got = uv[0, 0].permute(1, 0, 2).reshape(-1, 2)
    torch.testing.assert_close(mask[0, 0].permute(1, 0).reshape(-1), vis)
    torch.testing.assert_close(got[vis, 0] * 96, expect_u[vis])
    torch.testing.assert_close(got[vis, 1] * 64, expect_v[vis])
    assert vis.any() and (~vis).any() and not mask[0, 0][pts.permute(1, 0, 2)[..., 1] < 0].any()


@pytest.mark.parametrize('aug', ['flip_x', 'flip_y', 'rot90', 'scale'])
def test_bev_warp_follows_the_box_augmentation(aug):
    """A blob at a GT centre moves to the augmented GT centre."""
    from projects.bevformer_v2.models.transformer import warp_bev
    pc = [-8., -8., -5., 8., 8., 3.]
    mat = torch.eye(4)
    if aug == 'flip_x':
        mat[0, 0] = -1
    elif aug == 'flip_y':
        mat[1, 1] = -1
    elif aug == 'rot90':
        mat[:2, :2] = torch.tensor([[0., -1.], [1., 0.]])
    else:
        mat[:3, :3] *= 3.0
    bev = torch.zeros(1, 1, 16, 16)
    centre = torch.tensor([0.5, -0.5, 0., 1.])  # cell (row 7, col 8)
    bev[0, 0, 7, 8] = 1.0
    out = warp_bev(bev, mat[None], pc)
    new = mat @ centre
    row, col = int((new[1] + 8) // 1), int((new[0] + 8) // 1)
    assert out[0, 0, row, col] == pytest.approx(1.0)
    assert out.sum() > 0.99 and out[0, 0].flatten().argmax() == row * 16 + col


def test_group_attention_equals_per_group_multihead_attention():
    """Training: each group is plain nn.MultiheadAttention over its own queries
    (perturbing one group leaves the others unchanged); eval: one group."""
    from projects.bevformer_v2.models.attention import GroupMultiheadAttention
    torch.manual_seed(0)
    m = GroupMultiheadAttention(embed_dims=8, num_heads=2, dropout=0.0, group=3).double()
    q, pos = torch.randn(2, 12, 8, dtype=torch.float64), torch.randn(2, 12, 8,
                                                                      dtype=torch.float64)
    out = m.train()(q, pos)
    for g in range(3):
        sl = slice(4 * g, 4 * g + 4)
        ref = m.attn(q[:, sl] + pos[:, sl], q[:, sl] + pos[:, sl], q[:, sl],
                     need_weights=False)[0] + q[:, sl]
        torch.testing.assert_close(out[:, sl], ref)
    ref = m.attn(q + pos, q + pos, q, need_weights=False)[0] + q
    torch.testing.assert_close(m.eval()(q, pos), ref)
