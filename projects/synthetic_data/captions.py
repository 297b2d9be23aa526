"""COCO captions for a COCO instances set, derived from its annotations.

Writes, next to ``annotations/instances_{train,val}2017.json``::

    annotations/captions_train2017.json  annotations/captions_val2017.json

in the official COCO captions format (``info``, ``licenses``, ``images``,
``annotations`` with ``id``, ``image_id``, ``caption``; no categories). Each
image gets ``captions_per_image`` (default 5, as COCO) captions describing
what is drawn: the object categories and their counts, the colour where it
follows from the category (each synthetic class has its own hue, see
``coco.DRAWN``), and the rough position (3 x 3 grid of the box centre) and
size (visible area) of each object. Captions are a pure function of the
instances file, so the output is deterministic. Example::

    two red people and a green car.
    there are three objects: two people and a car.
    a large red person at the top left of the image.
    a large red person at the top left, a small green car in the center
    and a medium red person on the right.
    people at the top left and on the right, a car in the center.
"""
import json
from collections import Counter
from pathlib import Path

from .coco import DRAWN, SPLITS

NUMBERS = ('zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven',
           'eight', 'nine', 'ten')
PLURALS = {'person': 'people', 'bus': 'buses', 'bench': 'benches',
           'sheep': 'sheep', 'skis': 'skis', 'scissors': 'scissors',
           'mouse': 'mice', 'knife': 'knives', 'wine glass': 'wine glasses',
           'glass': 'glasses', 'couch': 'couches', 'sandwich': 'sandwiches'}
# hue (degrees) -> colour word, for the hues of coco.DRAWN
HUE_NAMES = ((15, 'red'), (45, 'orange'), (70, 'yellow'), (150, 'green'),
             (195, 'cyan'), (255, 'blue'), (320, 'purple'), (360, 'red'))
POSITIONS = (('at the top left', 'at the top', 'at the top right'),
             ('on the left', 'in the center', 'on the right'),
             ('at the bottom left', 'at the bottom', 'at the bottom right'))
SMALL, LARGE = 0.03, 0.10  # visible area / image area thresholds


def hue_name(hue):
    """Colour word of a hue in degrees."""
    return next(name for limit, name in HUE_NAMES if hue % 360 < limit)


CATEGORY_COLOURS = {name: hue_name(hue) for name, _, hue in DRAWN}


def plural(name):
    return PLURALS.get(name, name + 's')


def article(word):
    return 'an' if word[0] in 'aeiou' else 'a'


def count_phrase(name, count, colour=True):
    """'a red person', 'two green cars' (colour only for drawn classes)."""
    col = CATEGORY_COLOURS.get(name) if colour else None
    noun = name if count == 1 else plural(name)
    words = f'{col} {noun}' if col else noun
    num = article(words) if count == 1 else (
        NUMBERS[count] if count < len(NUMBERS) else str(count))
    return f'{num} {words}'


def join(items):
    """'a', 'a and b', 'a, b and c'."""
    return items[0] if len(items) == 1 else \
        ', '.join(items[:-1]) + ' and ' + items[-1]


def position(bbox, width, height):
    x, y, w, h = bbox
    col = min(int(3 * (x + w / 2) / width), 2)
    row = min(int(3 * (y + h / 2) / height), 2)
    return POSITIONS[row][col]


def size_word(area, width, height):
    frac = area / float(width * height)
    return 'small' if frac < SMALL else 'large' if frac >= LARGE else 'medium'


def describe(objects, width, height, max_listed=4):
    """Five captions for one image.

    Args:
        objects (list[tuple]): ``(category name, area, bbox)`` per instance,
            in annotation order.
    """
    counts = Counter(name for name, _, _ in objects)
    # categories by decreasing count, then first appearance
    order = sorted(counts, key=lambda n: (-counts[n],
                                          [o[0] for o in objects].index(n)))
    by_size = sorted(objects, key=lambda o: -o[1])  # stable on ties

    def obj_phrase(obj):
        name, area, bbox = obj
        col = CATEGORY_COLOURS.get(name)
        words = ' '.join(w for w in (size_word(area, width, height), col,
                                     name) if w)
        return f'{article(words)} {words} {position(bbox, width, height)}'

    total = len(objects)
    caps = [
        join([count_phrase(n, counts[n]) for n in order]),
        f'there {"is" if total == 1 else "are"} '
        f'{NUMBERS[total] if total < len(NUMBERS) else total} '
        f'{"object" if total == 1 else "objects"}: '
        + join([count_phrase(n, counts[n], colour=False) for n in order]),
        obj_phrase(by_size[0]) + ' of the image',
        join([obj_phrase(o) for o in by_size[:max_listed]]),
    ]
    places = []
    for n in order:
        where = []
        for o in objects:
            p = position(o[2], width, height)
            if o[0] == n and p not in where:
                where.append(p)
        noun = plural(n) if counts[n] > 1 else f'{article(n)} {n}'
        places.append(f'{noun} {join(where)}')
    caps.append(', '.join(places))
    return [c + '.' for c in caps]


def captions_document(instances, captions_per_image=5):
    """The COCO captions dict of a COCO instances dict."""
    if not 1 <= captions_per_image <= 5:
        raise ValueError('captions_per_image must be in [1, 5], got '
                         f'{captions_per_image}')
    names = {c['id']: c['name'] for c in instances['categories']}
    per_image = {img['id']: [] for img in instances['images']}
    for ann in sorted(instances['annotations'], key=lambda a: a['id']):
        if not ann.get('iscrowd', 0):
            per_image[ann['image_id']].append(
                (names[ann['category_id']], ann['area'], ann['bbox']))
    annotations = []
    for img in instances['images']:
        objects = per_image[img['id']]
        if not objects:
            continue
        caps = describe(objects, img['width'], img['height'])
        for cap in caps[:captions_per_image]:
            annotations.append(dict(image_id=img['id'],
                                    id=len(annotations) + 1,
                                    caption=cap))
    info = dict(instances.get('info', {}))
    info['description'] = (info.get('description', 'COCO') +
                           ' captions (generated from the instances)')
    return dict(info=info, licenses=instances.get('licenses', []),
                images=instances['images'], annotations=annotations)


def generate_coco_captions(root, captions_per_image=5):
    """Write captions files for the COCO instances set at ``root``;
    return ``root``."""
    root = Path(root)
    for split in ('train', 'val'):
        folder = SPLITS[split][0]
        src = root / 'annotations' / f'instances_{folder}.json'
        if not src.is_file():
            raise FileNotFoundError(f'{src} not found: generate the COCO '
                                    'instances first (make_synthetic.py coco)')
        doc = captions_document(json.loads(src.read_text()),
                                captions_per_image)
        out = root / 'annotations' / f'captions_{folder}.json'
        tmp = out.with_suffix('.json.tmp')
        tmp.write_text(json.dumps(doc))
        tmp.replace(out)
    return root
