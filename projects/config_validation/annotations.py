"""Validation of annotations (every bad record reported): COCO instance
files, and segmentation label maps against their images."""
import json
import numbers
import os
import os.path as osp

from .errors import ConfigError

MAX_REPORTED = 20


def _is_number(v):
    return isinstance(v, numbers.Real) and not isinstance(v, bool)


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


def coco_problems(doc):
    """List of problems of a COCO instances document (empty if valid)."""
    if not isinstance(doc, dict):
        return [f'expected a JSON object at top level, got {type(doc).__name__}']
    problems = [f"missing or non-list key '{k}'"
                for k in ('images', 'annotations', 'categories')
                if not isinstance(doc.get(k), list)]
    if problems:
        return problems
    images = {}
    for img in doc['images']:
        if not (isinstance(img, dict) and all(
                k in img for k in ('id', 'file_name', 'height', 'width'))):
            problems.append(f'image record {img!r:.80}: expected keys id, '
                            'file_name, height, width')
            continue
        images[img['id']] = img
    cat_ids = {c.get('id') for c in doc['categories'] if isinstance(c, dict)}
    for ann in doc['annotations']:
        if not isinstance(ann, dict):
            problems.append(f'annotation record {ann!r:.80}: expected an object')
            continue
        where = f"annotation id {ann.get('id')} (image {ann.get('image_id')})"
        bbox = ann.get('bbox')
        if ann.get('image_id') not in images:
            problems.append(f'{where}: image_id is not in images')
        if ann.get('category_id') not in cat_ids:
            problems.append(f"{where}: category_id {ann.get('category_id')!r} "
                            'is not in categories')
        if not (isinstance(bbox, list) and len(bbox) == 4
                and all(_is_number(v) for v in bbox)):
            problems.append(f'{where}: bbox must be [x, y, w, h] numbers, '
                            f'got {bbox!r}')
        elif not ann.get('iscrowd', 0) and (bbox[2] <= 0 or bbox[3] <= 0):
            problems.append(f'{where}: bbox {bbox} has non-positive size')
        elif ann.get('image_id') in images and _outside(
                bbox, images[ann['image_id']]):
            img = images[ann['image_id']]
            problems.append(f"{where}: bbox {bbox} lies outside its "
                            f"{img['width']}x{img['height']} image")
    return problems


def _outside(bbox, img):
    """No overlap with the image (mmdet would drop the box silently)."""
    x, y, w, h = bbox
    return x >= img['width'] or y >= img['height'] or x + w <= 0 or y + h <= 0


def check_coco_file(path):
    """Raise :class:`ConfigError` listing every problem of a COCO JSON file."""
    doc = load_json(path)
    if not (isinstance(doc, dict) and 'images' in doc
            and 'categories' in doc):
        return  # not COCO instances (e.g. captions): the dataset checks it
    raise_problems(path, coco_problems(doc))


def raise_problems(path, problems):
    """Raise :class:`ConfigError` listing (up to 20 of) ``problems``."""
    if problems:
        shown = '\n  '.join(problems[:MAX_REPORTED])
        more = (f'\n  ... and {len(problems) - MAX_REPORTED} more'
                if len(problems) > MAX_REPORTED else '')
        raise ConfigError(f'annotation file {path} has {len(problems)} '
                          f'invalid record(s):\n  {shown}{more}')


def segmentation_problems(img_dir, seg_dir, img_suffix, seg_suffix):
    """Images without a label map, and label maps whose size differs from
    their image's (sizes read from the file headers only)."""
    from PIL import Image
    problems = []
    for name in sorted(os.listdir(img_dir)):
        if not name.endswith(img_suffix):
            continue
        stem = name[:len(name) - len(img_suffix)]
        seg = osp.join(seg_dir, stem + seg_suffix)
        if not osp.isfile(seg):
            problems.append(f'image {name}: no label map {seg}')
            continue
        with Image.open(osp.join(img_dir, name)) as img, \
                Image.open(seg) as lab:
            if img.size != lab.size:
                problems.append(
                    f'image {name}: label map {stem + seg_suffix} is '
                    f'{lab.size[0]}x{lab.size[1]}, the image '
                    f'{img.size[0]}x{img.size[1]}')
    return problems
