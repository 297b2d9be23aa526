"""The SSL patterns set: deterministic, ImageNet layout readable by
mmpretrain, class-balanced, colours independent of the class."""
import json

import numpy as np
from mmpretrain.datasets import ImageNet

from projects.synthetic_data import generate_ssl_patterns
from projects.synthetic_data.ssl_patterns import CLASSES, draw_ssl_sample
from projects.synthetic_data.painting import image_rng


def test_deterministic_layout_and_captions(tmp_path):
    a = generate_ssl_patterns(tmp_path / 'a', 20, 10, size=(32, 32), seed=4)
    b = generate_ssl_patterns(tmp_path / 'b', 20, 10, size=(32, 32), seed=4)
    c = generate_ssl_patterns(tmp_path / 'c', 20, 10, size=(32, 32), seed=5)
    files = sorted(p.relative_to(a) for p in a.rglob('*.png'))
    assert len(files) == 30
    assert all((a / f).read_bytes() == (b / f).read_bytes() for f in files)
    assert any((a / f).read_bytes() != (c / f).read_bytes() for f in files)
    ds = ImageNet(data_root=str(a), split='train',
                  classes=str(a / 'meta/classes.txt'), pipeline=[])
    assert len(ds) == 20 and ds.CLASSES == CLASSES
    assert [ds[i]['gt_label'] for i in range(20)] == [i % 10
                                                      for i in range(20)]
    caps = json.loads((a / 'annotations/captions_val.json').read_text())
    assert len(caps['images']) == 10
    first = caps['images'][0]['file_name']
    texts = [x['caption'] for x in caps['annotations']
             if x['image_id'] == 0]
    assert first.startswith('stripes/') and 'a photo of stripes.' in texts


def test_colour_carries_no_class_information():
    """Mean colours of two classes overlap (same distribution): the class
    means differ by far less than the spread within a class."""
    means = {k: np.stack([draw_ssl_sample(image_rng(0, 'train', i), 32, k)
                          .reshape(-1, 3).mean(0) for i in range(60)])
             for k in (0, 9)}
    gap = np.abs(means[0].mean(0) - means[9].mean(0)).max()
    spread = min(means[0].std(0).min(), means[9].std(0).min())
    assert gap < 0.5 * spread, (gap, spread)


def test_palette_colours_are_shared():
    """``palette=2``: the two dominant colours of every image are one of the
    first two pairs of PALETTE (up to the shading and noise)."""
    from projects.synthetic_data.ssl_patterns import PALETTE
    allowed = np.array([c for pair in PALETTE[:2] for c in pair], float)
    for i in range(20):
        img = draw_ssl_sample(image_rng(0, 'train', i), 32, i % 10,
                              palette=2).reshape(-1, 3).astype(float)
        nearest = np.abs(img[:, None] - allowed[None]).max(-1).min(-1)
        assert np.median(nearest) < 30, i
