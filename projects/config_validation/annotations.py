"""Validation of COCO-format annotation files (every bad record reported)."""
import json
import numbers

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
    return problems


def check_coco_file(path):
    """Raise :class:`ConfigError` listing every problem of a COCO JSON file."""
    doc = load_json(path)
    if not (isinstance(doc, dict) and 'images' in doc):
        return  # not a COCO instances file: the dataset class checks it
    problems = coco_problems(doc)
    if problems:
        shown = '\n  '.join(problems[:MAX_REPORTED])
        more = (f'\n  ... and {len(problems) - MAX_REPORTED} more'
                if len(problems) > MAX_REPORTED else '')
        raise ConfigError(f'annotation file {path} has {len(problems)} '
                          f'invalid record(s):\n  {shown}{more}')
