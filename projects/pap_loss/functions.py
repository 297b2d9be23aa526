"""The five functions of the Parameterized AP Loss and their parameterisation.

A function maps [0, 1] to [0, 1] with f(0) = 0 and f(1) = 1. The searched
functions are piecewise linear through (0, 0), four monotone control points
and (1, 1); the hand-crafted ``square`` form is one quadratic piece. Both are
stored as piecewise polynomials ``c0 + c1 x + c2 x^2`` on segments
``[b_k, b_k+1)``, which is what the exact ranking sums need.
"""
import torch

# Order of the rows of the official ``ctrl_points`` (5 rows of 12 numbers).
OFFICIAL_ROW_ORDER = ('H2', 'I2', 'I3', 'I1', 'H1')
FUNCTION_NAMES = ('H1', 'H2', 'I1', 'I2', 'I3')


class PiecewisePoly:
    """A continuous piecewise polynomial (degree <= 2) on [0, 1].

    Args:
        breaks (list[float]): ``0 = b_0 <= ... <= b_S = 1``.
        coeffs (list[tuple]): ``(c0, c1, c2)`` of each of the S segments.
    """

    def __init__(self, breaks, coeffs):
        if len(breaks) != len(coeffs) + 1:
            raise ValueError(f'{len(breaks)} breaks need {len(breaks) - 1} '
                             f'segments, got {len(coeffs)}')
        if breaks[0] != 0 or breaks[-1] != 1 or any(
                a > b for a, b in zip(breaks, breaks[1:])):
            raise ValueError(f'breaks must rise from 0 to 1, got {breaks}')
        self.breaks = [float(b) for b in breaks]
        self.coeffs = [tuple(float(c) for c in cs) for cs in coeffs]

    @classmethod
    def from_points(cls, points):
        """Piecewise linear through (0, 0), ``points`` and (1, 1).

        Args:
            points: inner control points as ``[(x, y), ...]`` or a flat
                ``[x1, y1, x2, y2, ...]`` list (the official layout).
        """
        flat = torch.as_tensor(points, dtype=torch.float64).reshape(-1, 2)
        xs = [0.0] + flat[:, 0].tolist() + [1.0]
        ys = [0.0] + flat[:, 1].tolist() + [1.0]
        if any(a > b for a, b in zip(xs, xs[1:])) or any(
                a > b for a, b in zip(ys, ys[1:])):
            raise ValueError(
                f'control points must be non-decreasing in x and y within '
                f'[0, 1], got {flat.tolist()}')
        coeffs = []
        for x0, x1, y0, y1 in zip(xs, xs[1:], ys, ys[1:]):
            slope = (y1 - y0) / (x1 - x0) if x1 > x0 else 0.0
            coeffs.append((y0 - slope * x0, slope, 0.0))
        return cls(xs, coeffs)

    @classmethod
    def linear(cls):
        return cls([0.0, 1.0], [(0.0, 1.0, 0.0)])

    @classmethod
    def square(cls):
        return cls([0.0, 1.0], [(0.0, 0.0, 1.0)])

    def __call__(self, x):
        """Evaluate on a tensor (clipped to [0, 1]); differentiable in x."""
        x = x.clamp(0, 1)
        inner = torch.tensor(self.breaks[1:-1], dtype=x.dtype, device=x.device)
        seg = torch.bucketize(x.detach(), inner, right=True)
        c = torch.tensor(self.coeffs, dtype=x.dtype, device=x.device)[seg]
        return c[..., 0] + c[..., 1] * x + c[..., 2] * x * x

    def __repr__(self):
        return f'PiecewisePoly(breaks={self.breaks}, coeffs={self.coeffs})'


def theta_to_points(theta):
    """Map theta in [0, 1]^8 to 4 monotone control points (official map).

    ``point_k = theta_k * (1 - point_{k-1}) + point_{k-1}``, ``point_0 =
    theta_0``, applied to x and y jointly, so both rise within [0, 1].

    Returns:
        torch.Tensor: ``[4, 2]`` control points.
    """
    theta = torch.as_tensor(theta, dtype=torch.float64).reshape(-1, 2)
    if ((theta < 0) | (theta > 1)).any():
        raise ValueError(f'theta must lie in [0, 1], got {theta.tolist()}')
    points, prev = [], torch.zeros(2, dtype=torch.float64)
    for t in theta:
        prev = t * (1 - prev) + prev
        points.append(prev)
    return torch.stack(points)


def grad_scale_from_theta(theta):
    """The searched box-branch gradient scale ``10 ** (2 theta - 1)``."""
    return 10.0 ** (2.0 * float(theta) - 1.0)
