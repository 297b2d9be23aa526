"""SciPy's removed ``interp2d`` (gridded use) is back after ``import
projects``: it reproduces a cubic exactly, refuses scattered data, and a
BEiT checkpoint with a 5 x 5 relative-position window loads into a 16 x 16
model through mmpretrain's own resize (which calls ``interp2d``)."""
import numpy as np
import pytest
import torch

import projects  # noqa: F401  (installs the stack fixes)
from projects.stack_compat.interp2d import GridInterp2d


def test_cubic_spline_reproduces_a_cubic():
    from scipy import interpolate
    x = np.array([-3., -1.4, 0., 1.7, 3.])
    y = np.array([-2., -0.5, 0., 1., 2.5])
    f = lambda a, b: a ** 3 - 2 * a * b ** 2 + b + 1  # noqa: E731
    xx, yy = np.meshgrid(x, y)
    spline = GridInterp2d(x, y, f(xx, yy), kind='cubic')
    xn, yn = np.linspace(-3, 3, 13), np.linspace(-2, 2.5, 7)
    out = spline(xn, yn)
    assert out.shape == (7, 13)
    np.testing.assert_allclose(out, f(*np.meshgrid(xn, yn)), atol=1e-10)
    # what mmpretrain / mmseg call (SciPy's own interp2d before 1.14)
    np.testing.assert_allclose(
        interpolate.interp2d(x, y, f(xx, yy), kind='cubic')(xn, yn), out,
        atol=1e-10)


def test_outside_the_grid_is_the_nearest_edge_value():
    x = np.array([0., 1., 2., 3.])
    z = np.add.outer(x ** 2, x ** 3)  # z[row y, column x]
    spline = GridInterp2d(x, x, z, kind='cubic')
    np.testing.assert_allclose(spline([-1., 4.], [1.5]),
                               [[1.5 ** 2, 1.5 ** 2 + 27.]], atol=1e-10)
    with pytest.raises(NotImplementedError, match='fill_value=0.0'):
        GridInterp2d(x, x, z, fill_value=0.)


def test_scattered_data_is_refused():
    with pytest.raises(NotImplementedError, match='gridded data only'):
        GridInterp2d([0., 1., 2.], [0., 1., 2.], [0., 1., 2.])
    with pytest.raises(ValueError, match='kind'):
        GridInterp2d([0., 1.], [0., 1.], np.zeros((2, 2)), kind='nearest')


def test_beit_relative_position_table_resizes_on_load():
    from mmengine.registry import init_default_scope
    from mmpretrain.models.utils import resize_relative_position_bias_table
    from mmpretrain.registry import MODELS
    init_default_scope('mmpretrain')
    arch = dict(embed_dims=32, num_layers=1, num_heads=2,
                feedforward_channels=64)

    def beit(img_size):
        return MODELS.build(dict(
            type='BEiTViT', arch=arch, img_size=img_size, patch_size=8,
            use_abs_pos_emb=False, use_rel_pos_bias=False,
            use_shared_rel_pos_bias=True, layer_scale_init_value=0.1))

    torch.manual_seed(0)
    small, large = beit(40), beit(128)  # windows 5 x 5 and 16 x 16
    key = 'rel_pos_bias.relative_position_bias_table'
    with torch.no_grad():
        small.rel_pos_bias.relative_position_bias_table.normal_()
    state = small.state_dict()
    # the index buffer is rebuilt per size (mmengine's load_checkpoint skips
    # the mismatched one with a warning)
    state.pop('rel_pos_bias.relative_position_index')
    missing, unexpected = large.load_state_dict(state, strict=False)
    assert not unexpected and missing == \
        ['rel_pos_bias.relative_position_index']
    table = state[key]
    expected = resize_relative_position_bias_table(9, 31, table[:-3], 2)
    resized = large.rel_pos_bias.relative_position_bias_table
    assert resized.shape == (31 * 31 + 3, 2)
    torch.testing.assert_close(resized[:-3], expected)
    torch.testing.assert_close(resized[-3:], table[-3:])  # cls entries
    # the grid's centre (relative offset 0) keeps its value
    torch.testing.assert_close(resized[15 * 31 + 15], table[4 * 9 + 4])
