"""LAION-400M as the FLIP configs read it: a COCO-captions JSON of the
training images (``annotations/captions_train.json``, ``images/``), next to
COCO 2017 (``val2017`` captions for the zero-shot retrieval validation).

The training part is the synthetic COCO training split under the LAION
names, so that one root serves both of the FLIP configs' datasets.
"""
import shutil
from pathlib import Path

from .coco import generate_coco


def generate_laion(out, num_train, num_val, size=(480, 640), seed=0):
    """Write a synthetic LAION (+ COCO val) captions root; return it."""
    root = Path(generate_coco(out, num_train, num_val, size=size, seed=seed))
    shutil.copytree(root / 'train2017', root / 'images', dirs_exist_ok=True)
    shutil.copyfile(root / 'annotations' / 'captions_train2017.json',
                    root / 'annotations' / 'captions_train.json')
    return root
