"""COCO annotation files: every bad record of the JSON and of the images it
lists is reported (file, record, what was expected); no input crashes it."""
import json
import os.path as osp

from .errors import ConfigError, describe, raise_problems
from .sampling import HEADER_SAMPLE, evenly_spaced
from .values import is_int, is_number


def load_json(path):
    """Parse a JSON annotation file, naming the file and position on error."""
    try:
        with open(path, encoding='utf-8') as f:
            return json.load(f)
    except json.JSONDecodeError as err:
        raise ConfigError(
            f'annotation file {path} is not valid JSON: {err.msg} at line '
            f'{err.lineno} column {err.colno}') from None
    except UnicodeDecodeError as err:
        raise ConfigError(f'annotation file {path} is not UTF-8 text: {err}'
                          ) from None


def _field(rec, key, ok, expected, where, problems):
    """Check ``rec[key]`` with ``ok``; add a problem and return False if bad."""
    if key not in rec:
        problems.append(f"{where}: missing '{key}' (expected {expected})")
        return False
    if not ok(rec[key]):
        problems.append(f"{where}: '{key}' must be {expected}, got "
                        f'{describe(rec[key])}')
        return False
    return True


def _where(kind, i, rec):
    rid = rec.get('id') if isinstance(rec, dict) else None
    return f'{kind}[{i}]' + (f' (id {rid!r})' if rid is not None else '')


def _image_problems(images, problems):
    """Fully valid image records by id, and every integer id listed."""
    valid, ids = {}, set()
    for i, img in enumerate(images):
        where = _where('images', i, img)
        if not isinstance(img, dict):
            problems.append(f'{where}: expected an object with id, file_name, '
                            f'height, width, got {describe(img)}')
            continue
        ok = [_field(img, 'id', is_int, 'an integer', where, problems)]
        if ok[0]:
            if img['id'] in ids:
                problems.append(f"{where}: duplicate image id {img['id']}")
            ids.add(img['id'])
        ok += [_field(img, 'file_name', lambda v: isinstance(v, str) and v,
                     'a non-empty string', where, problems)]
        ok += [_field(img, k, lambda v: is_int(v) and v > 0,
                      'a positive integer', where, problems)
               for k in ('height', 'width')]
        if all(ok):
            valid[img['id']] = img
    return valid, ids


def _category_problems(categories, problems):
    """Valid category ids."""
    ids = set()
    for i, cat in enumerate(categories):
        where = _where('categories', i, cat)
        if not isinstance(cat, dict):
            problems.append(f'{where}: expected an object with id, name, got '
                            f'{describe(cat)}')
            continue
        ok = [_field(cat, 'id', is_int, 'an integer', where, problems),
              _field(cat, 'name', lambda v: isinstance(v, str) and v,
                     'a non-empty string', where, problems)]
        if ok[0] and cat['id'] in ids:
            problems.append(f"{where}: duplicate category id {cat['id']}")
        if all(ok):
            ids.add(cat['id'])
    return ids


def _valid_segmentation(seg):
    """Polygons ``[[x, y, ...], ...]`` or an RLE ``{size, counts}``."""
    if isinstance(seg, list):
        return all(isinstance(p, list) and len(p) >= 6 and len(p) % 2 == 0
                   and all(is_number(v) for v in p) for p in seg)
    if isinstance(seg, dict):
        size = seg.get('size')
        return (isinstance(size, list) and len(size) == 2
                and all(is_int(v) and v >= 0 for v in size)
                and isinstance(seg.get('counts'), (str, list)))
    return False


def _annotation_problems(anns, images, image_ids, cat_ids, problems):
    seen = set()
    for i, ann in enumerate(anns):
        where = _where('annotations', i, ann)
        if not isinstance(ann, dict):
            problems.append(f'{where}: expected an object with id, image_id, '
                            f'category_id, bbox, area, iscrowd, got '
                            f'{describe(ann)}')
            continue
        if _field(ann, 'id', is_int, 'an integer', where, problems):
            if ann['id'] in seen:
                problems.append(f"{where}: duplicate annotation id {ann['id']}")
            seen.add(ann['id'])
        img = None
        if _field(ann, 'image_id', is_int, 'an integer', where, problems):
            img = images.get(ann['image_id'])
            if ann['image_id'] not in image_ids:
                problems.append(f"{where}: image_id {ann['image_id']} is not "
                                'in images')
        if (_field(ann, 'category_id', is_int, 'an integer', where, problems)
                and ann['category_id'] not in cat_ids):
            problems.append(f"{where}: category_id {ann['category_id']} is "
                            'not in categories')
        _field(ann, 'area', lambda v: is_number(v) and v >= 0,
               'a finite number >= 0', where, problems)
        crowd = _field(ann, 'iscrowd', lambda v: is_int(v) and v in (0, 1),
                       '0 or 1', where, problems)
        if 'segmentation' in ann and not _valid_segmentation(
                ann['segmentation']):
            problems.append(f"{where}: 'segmentation' must be polygons "
                            '[[x, y, ...], ...] (>= 3 points) or an RLE '
                            f"{{size, counts}}, got {describe(ann['segmentation'])}")
        if not _field(ann, 'bbox', lambda v: isinstance(v, list) and len(v) == 4
                      and all(is_number(x) for x in v),
                      '[x, y, w, h] of 4 finite numbers', where, problems):
            continue
        x, y, w, h = ann['bbox']
        if not (crowd and ann['iscrowd']) and (w <= 0 or h <= 0):
            problems.append(f"{where}: bbox {ann['bbox']} has non-positive "
                            'size')
        elif img is not None and (x >= img['width'] or y >= img['height']
                                  or x + w <= 0 or y + h <= 0):
            # no overlap with the image: mmdet would drop the box silently
            problems.append(f"{where}: bbox {ann['bbox']} lies outside its "
                            f"{img['width']}x{img['height']} image")


def is_captions(doc):
    """Whether ``doc`` is a COCO captions file (checked by its dataset)."""
    anns = doc.get('annotations') if isinstance(doc, dict) else None
    return (isinstance(anns, list) and bool(anns) and 'categories' not in doc
            and all(isinstance(a, dict) and 'caption' in a for a in anns[:10]))


def coco_problems(doc):
    """List of problems of a COCO instances document (empty if valid)."""
    if not isinstance(doc, dict):
        return [f'expected a JSON object with images, annotations, categories '
                f'at top level, got {type(doc).__name__}']
    problems = [f"top level: '{k}' must be a list, got "
                + ('nothing' if k not in doc else describe(doc[k]))
                for k in ('images', 'annotations', 'categories')
                if not isinstance(doc.get(k), list)]
    if problems:
        return problems
    images, image_ids = _image_problems(doc['images'], problems)
    cat_ids = _category_problems(doc['categories'], problems)
    _annotation_problems(doc['annotations'], images, image_ids, cat_ids,
                         problems)
    return problems


def image_file_problems(images, img_dir):
    """Listed images missing under ``img_dir`` (all), and sizes in the JSON
    that differ from the files' headers (an evenly spaced sample).

    Returns:
        tuple[list[str], str]: the problems and the sampling note.
    """
    from PIL import Image
    problems, present = [], []
    for img in images.values():
        path = osp.join(img_dir, img['file_name'])
        if osp.isfile(path):
            present.append((img, path))
        else:
            problems.append(f"image id {img['id']}: file {path} does not exist")
    sample, note = evenly_spaced(present, HEADER_SAMPLE)
    for img, path in sample:
        try:
            with Image.open(path) as f:
                width, height = f.size
        except (OSError, ValueError) as err:
            problems.append(f"image id {img['id']}: {path} is not a readable "
                            f'image ({err})')
            continue
        if (width, height) != (img['width'], img['height']):
            problems.append(
                f"image id {img['id']}: the JSON says {img['width']}x"
                f"{img['height']} (width x height), the file {path} is "
                f'{width}x{height}')
    return problems, note and f'image sizes: {note}'


def check_coco_file(path, img_dir=None, doc=None):
    """Raise :class:`ConfigError` listing every problem of a COCO JSON file.

    Args:
        path (str): the instances JSON.
        img_dir (str, optional): the folder of its images; when given, every
            listed image must exist there and (in a sample of up to
            ``HEADER_SAMPLE``) have the size the JSON gives.
        doc (optional): the parsed file, if already loaded.
    """
    doc = load_json(path) if doc is None else doc
    if is_captions(doc):
        return
    problems = coco_problems(doc)
    note = ''
    if not problems and img_dir is not None:
        problems, note = image_file_problems(
            _image_problems(doc['images'], [])[0], img_dir)
    raise_problems(f'annotation file {path}', problems, note)
