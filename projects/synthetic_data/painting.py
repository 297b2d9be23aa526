"""Deterministic drawing primitives: textured backgrounds, shape masks, shading.

Everything takes an explicit ``numpy.random.Generator`` so that a dataset is a
pure function of its seed.
"""
import cv2
import numpy as np

SHAPES = ('ellipse', 'rectangle', 'triangle', 'star', 'cross', 'hexagon')


def image_rng(seed, split, index):
    """Independent generator for one image of one split (order-free)."""
    split_id = sum(ord(c) * 31**i for i, c in enumerate(split)) % (2**31)
    return np.random.default_rng([seed, split_id, index])


def hsv_color(hue, rng, jitter=12.0):
    """An RGB uint8 colour near ``hue`` (degrees) with random saturation/value."""
    h = (hue + rng.uniform(-jitter, jitter)) % 360.0
    s = rng.uniform(0.55, 0.95)
    v = rng.uniform(0.55, 0.95)
    hsv = np.array([[[h / 2.0, s * 255.0, v * 255.0]]], dtype=np.uint8)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0].astype(np.float32)


def smooth_noise(rng, height, width, cells=6):
    """Low-frequency noise in [-1, 1] from a bicubically upsampled grid."""
    grid = rng.uniform(-1, 1, size=(cells, cells)).astype(np.float32)
    noise = cv2.resize(grid, (width, height), interpolation=cv2.INTER_CUBIC)
    return np.clip(noise, -1, 1)


def texture(rng, height, width, base_rgb, strength=40.0):
    """An RGB float texture: base colour + grating + smooth and fine noise."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    angle = rng.uniform(0, np.pi)
    freq = rng.uniform(0.05, 0.35)
    grating = np.sin(freq * (xx * np.cos(angle) + yy * np.sin(angle)) +
                     rng.uniform(0, 2 * np.pi))
    shade = smooth_noise(rng, height, width, cells=int(rng.integers(2, 7)))
    fine = rng.normal(0, 1, size=(height, width)).astype(np.float32)
    lum = 0.35 * grating + 0.5 * shade + 0.15 * fine
    return base_rgb[None, None, :] + strength * lum[..., None]


def background(rng, height, width):
    """A random textured background in a random hue."""
    base = hsv_color(rng.uniform(0, 360), rng, jitter=0) * rng.uniform(0.4, 0.9)
    return texture(rng, height, width, base, strength=rng.uniform(20, 55))


def shape_mask(shape, rng, height, width, min_frac=0.15, max_frac=0.55):
    """Boolean mask of one filled ``shape`` with random scale, aspect and pose.

    The shape's extent is ``min_frac``..``max_frac`` of the shorter image side
    and its centre may lie near the border, so shapes can be truncated.
    """
    side = min(height, width)
    size = rng.uniform(min_frac, max_frac) * side
    aspect = rng.uniform(0.6, 1.6)
    rx, ry = size * np.sqrt(aspect) / 2, size / np.sqrt(aspect) / 2
    cx, cy = rng.uniform(0.1, 0.9) * width, rng.uniform(0.1, 0.9) * height
    rot = rng.uniform(0, 2 * np.pi)
    mask = np.zeros((height, width), np.uint8)
    if shape == 'ellipse':
        cv2.ellipse(mask, (int(round(cx)), int(round(cy))),
                    (max(int(rx), 2), max(int(ry), 2)), np.degrees(rot), 0, 360,
                    1, thickness=-1)
        return mask.astype(bool)
    if shape == 'rectangle':
        pts = [(-1, -1), (1, -1), (1, 1), (-1, 1)]
    elif shape == 'triangle':
        pts = [(0, -1), (0.95, 0.8), (-0.95, 0.8)]
    elif shape == 'star':
        pts = [(np.sin(a) * r, -np.cos(a) * r) for a, r in zip(
            np.linspace(0, 2 * np.pi, 10, endpoint=False), [1, 0.45] * 5)]
    elif shape == 'cross':
        t = 0.35
        pts = [(-t, -1), (t, -1), (t, -t), (1, -t), (1, t), (t, t), (t, 1),
               (-t, 1), (-t, t), (-1, t), (-1, -t), (-t, -t)]
    elif shape == 'hexagon':
        pts = [(np.cos(a), np.sin(a))
               for a in np.linspace(0, 2 * np.pi, 6, endpoint=False)]
    else:
        raise ValueError(f'unknown shape {shape!r}; expected one of {SHAPES}')
    pts = np.asarray(pts, np.float64) * (rx, ry)
    c, s = np.cos(rot), np.sin(rot)
    pts = pts @ np.array([[c, s], [-s, c]]) + (cx, cy)
    cv2.fillPoly(mask, [np.round(pts).astype(np.int32)], 1)
    return mask.astype(bool)


def paste(canvas, mask, layer):
    """Write ``layer`` into ``canvas`` where ``mask`` is set (in place)."""
    canvas[mask] = layer[mask]


def to_uint8(image):
    return np.clip(np.round(image), 0, 255).astype(np.uint8)


def write_image(path, rgb, quality=95):
    """Write an RGB uint8 image as JPEG (or PNG by suffix) deterministically."""
    bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    params = [cv2.IMWRITE_JPEG_QUALITY, quality] if str(path).lower().endswith(
        ('.jpg', '.jpeg')) else []
    if not cv2.imwrite(str(path), bgr, params):
        raise OSError(f'could not write image {path}')
