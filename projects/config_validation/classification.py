"""ImageNet-style classification data (mmpretrain ``CustomDataset``): an
annotation list ``<file> <label>`` per line, or one sub-folder per class."""
import os
import os.path as osp

from .sampling import HEADER_SAMPLE, evenly_spaced

EXTENSIONS = ('.jpg', '.jpeg', '.png', '.ppm', '.bmp', '.pgm', '.tif')


def list_problems(ann_file, img_dir, num_classes=None, with_label=True):
    """Bad lines of an annotation list and the files they name.

    Returns:
        tuple[list[str], list[str]]: the problems and the image paths found.
    """
    problems, paths = [], []
    with open(ann_file, encoding='utf-8') as f:
        lines = f.read().splitlines()
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        where = f'{ann_file} line {lineno}'
        fields = line.strip().rsplit(' ', 1) if with_label else [line.strip()]
        if with_label:
            if len(fields) != 2 or not fields[0].strip():
                problems.append(f'{where}: expected "<file> <label>", got '
                                f'{line!r:.80}')
                continue
            try:
                label = int(fields[1])
            except ValueError:
                problems.append(f'{where}: label {fields[1]!r} is not an '
                                'integer')
                continue
            if label < 0 or (num_classes is not None and label >= num_classes):
                expected = (f'0..{num_classes - 1}' if num_classes
                            else '>= 0')
                problems.append(f'{where}: label {label} is out of range '
                                f'(expected {expected})')
        path = osp.join(img_dir, fields[0].strip())
        if osp.isfile(path):
            paths.append(path)
        else:
            problems.append(f'{where}: image file {path} does not exist')
    if not lines or not any(line.strip() for line in lines):
        problems.append(f'{ann_file}: the list is empty')
    return problems, paths


def folder_problems(img_dir):
    """A class-folder dataset needs class folders with images in them.

    Returns:
        tuple[list[str], list[str]]: the problems and the image paths found.
    """
    classes = sorted(d for d in os.listdir(img_dir)
                     if osp.isdir(osp.join(img_dir, d)))
    if not classes:
        return [f'{img_dir}: no class sub-folders (expected '
                '<class>/<image> files or an ann_file)'], []
    paths = []
    for cls in classes:
        for folder, _, files in os.walk(osp.join(img_dir, cls)):
            paths += [osp.join(folder, n) for n in sorted(files)
                      if n.lower().endswith(EXTENSIONS)]
    if not paths:
        return [f'{img_dir}: no image files ({", ".join(EXTENSIONS)}) in its '
                f'{len(classes)} class folder(s)'], []
    return [], paths


def header_problems(paths):
    """Files of an evenly spaced sample of ``paths`` that are not images.

    Returns:
        tuple[list[str], str]: the problems and the sampling note.
    """
    from PIL import Image
    problems = []
    sample, note = evenly_spaced(paths, HEADER_SAMPLE)
    for path in sample:
        try:
            with Image.open(path):  # parses the header only
                pass
        except (OSError, ValueError) as err:
            problems.append(f'{path} is not a readable image ({err})')
    return problems, note and f'image headers: {note}'


def classification_problems(img_dir, ann_file=None, num_classes=None,
                            with_label=True):
    """Problems of an ImageNet-style dataset and the sampling note."""
    if ann_file:
        problems, paths = list_problems(ann_file, img_dir, num_classes,
                                        with_label)
    else:
        problems, paths = folder_problems(img_dir)
    more, note = header_problems(paths)
    return problems + more, note
