"""Shared fixture of the FLIP tests: synthetic COCO with captions."""
from pathlib import Path

import pytest


@pytest.fixture(scope='module')
def captions_root(coco_root, tmp_path_factory):
    """The session's synthetic COCO with captions written beside a copy of
    its annotations (the images are linked, not copied)."""
    from projects.synthetic_data.captions import generate_coco_captions
    root = tmp_path_factory.mktemp('coco_captions')
    (root / 'annotations').mkdir()
    for split in ('train2017', 'val2017'):
        (root / split).symlink_to(Path(coco_root) / split)
        name = f'instances_{split}.json'
        (root / 'annotations' / name).write_bytes(
            (Path(coco_root) / 'annotations' / name).read_bytes())
    return generate_coco_captions(root)
