"""``scipy.interpolate.interp2d`` on SciPy >= 1.14, for gridded data.

SciPy 1.14 removed ``interp2d`` (calling it raises ``NotImplementedError``),
but mmpretrain (``resize_relative_position_bias_table``: BEiT / BEiT v2 /
Swin checkpoints loaded at another resolution) and mmseg (``BEiT`` /
``MAE`` backbones' relative position tables) still call
``interp2d(x, y, z, kind='cubic')(xn, yn)`` on a regular grid. On a grid,
``interp2d`` fitted an interpolating (``s=0``) tensor-product spline,
which is what :class:`scipy.interpolate.RectBivariateSpline` computes;
:func:`install` puts this equivalent in place where ``interp2d`` is the
removed stub. Outside the grid both give the nearest edge value
(interp2d's default); scattered data, ``bounds_error`` and ``fill_value``
are refused in one line.
"""
import numpy as np
from scipy import interpolate

DEGREE = {'linear': 1, 'cubic': 3, 'quintic': 5}


class GridInterp2d:
    """``interp2d(x, y, z, kind)`` for 1-D ``x`` (columns), ``y`` (rows) and
    ``z`` of shape ``(len(y), len(x))``; calling it with 1-D ``xn``, ``yn``
    returns the ``(len(yn), len(xn))`` values, as ``interp2d`` did."""

    def __init__(self, x, y, z, kind='linear', copy=True,
                 bounds_error=False, fill_value=None):
        if bounds_error or fill_value is not None:
            raise NotImplementedError(
                'interp2d (removed in SciPy 1.14) is replaced with its '
                'default outside the grid only (nearest edge value): '
                f'got bounds_error={bounds_error}, fill_value={fill_value}')
        if kind not in DEGREE:
            raise ValueError(f'interp2d: kind must be one of '
                             f'{sorted(DEGREE)}, got {kind!r}')
        x, y, z = (np.asarray(a, dtype=float) for a in (x, y, z))
        if x.ndim != 1 or y.ndim != 1 or z.shape != (len(y), len(x)):
            raise NotImplementedError(
                'interp2d (removed in SciPy 1.14) is replaced for gridded '
                'data only: 1-D x, y and z of shape (len(y), len(x)); got '
                f'x {x.shape}, y {y.shape}, z {z.shape}')
        ky = kx = DEGREE[kind]
        self._spline = interpolate.RectBivariateSpline(y, x, z, kx=kx,
                                                       ky=ky, s=0)

    def __call__(self, xn, yn):
        xn, yn = np.atleast_1d(xn).astype(float), \
            np.atleast_1d(yn).astype(float)
        return self._spline(np.sort(yn), np.sort(xn))


def _interp2d_removed():
    try:
        interpolate.interp2d([0., 1.], [0., 1.], [[0., 0.], [0., 0.]])
    except NotImplementedError:
        return True
    return False


def install():
    """Replace ``scipy.interpolate.interp2d`` when it is SciPy's stub."""
    if isinstance(interpolate.interp2d, type) and \
            issubclass(interpolate.interp2d, GridInterp2d):
        return
    if _interp2d_removed():
        interpolate.interp2d = GridInterp2d
