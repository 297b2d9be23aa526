"""Read the zoo: ``model-index.yml`` and every ``configs/<project>/metafile.yml``.

The files follow the mim/modelindex format (``Collections`` and ``Models`` with
``Name``, ``In Collection``, ``Config``, ``Metadata``, ``Results``,
``Weights``) plus our fields:

- ``Reproduced`` (bool): ``false`` when ``Results`` quotes the paper's numbers
  and ``true`` when they were measured with this toolbox;
- ``Official`` (same shape as ``Results``): the paper's numbers next to ours;
- ``Downstream`` (list of model names): transfer configs that start from this
  pre-training (as in mmpretrain).
"""
import os.path as osp
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
# bases, transfer-benchmark protocols and loss-search configs are no models
EXCLUDED_CONFIG_DIRS = ('_base_', 'benchmark', 'loss_search')

# canonical task name -> spellings found in metafiles and queries
TASK_ALIASES = {
    'detection': ('object detection', 'detection', 'det', '2d detection'),
    'instance segmentation': ('instance segmentation', 'ins seg'),
    'segmentation': ('semantic segmentation', 'segmentation', 'seg'),
    'classification': ('image classification', 'classification', 'cls'),
    '3d detection': ('3d object detection', '3d detection', 'bev detection',
                     'bev', 'multi-view 3d detection'),
    'pretraining': ('self-supervised learning', 'pretraining', 'pre-training',
                    'pretrain', 'ssl', 'masked image modeling'),
}
_UNITS = {'': 1, 'K': 1e3, 'M': 1e6, 'G': 1e9, 'B': 1e9, 'T': 1e12}


def normalize_task(task):
    """The canonical task name of ``task`` (lower case, aliases resolved)."""
    text = ' '.join(str(task).lower().replace('_', ' ').split())
    for canonical, aliases in TASK_ALIASES.items():
        if text in aliases:
            return canonical
    return text


def normalize_key(text):
    """``'Top 1 Accuracy'`` -> ``'top1accuracy'``: for field and metric names."""
    return re.sub(r'[^a-z0-9]', '', str(text).lower())


def parse_quantity(value):
    """``'37.39M'`` -> 3.739e7, ``'239 GFLOPs'`` -> 2.39e11, 12 -> 12.0.

    Returns None for None; raises ValueError for anything unparsable.
    """
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError(f'not a quantity: {value!r}')
    if isinstance(value, (int, float)):
        return float(value)
    match = re.fullmatch(r'\s*([-+]?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)\s*'
                         r'([KMGBT]?)\s*(?:FLOPs|flops|params)?\s*',
                         str(value))
    if not match:
        raise ValueError(f'not a quantity: {value!r} (expected e.g. 37.4M '
                         'or 239G)')
    return float(match.group(1)) * _UNITS[match.group(2)]


def _as_list(value):
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


@dataclass
class ZooEntry:
    """One ``Models`` entry of a metafile, with its collection's metadata."""
    name: str
    config: str  # repo-relative path, as written in the metafile
    project: str  # the configs/<project> folder of the metafile
    metafile: str  # repo-relative path of the metafile
    collection: str = None
    metadata: dict = field(default_factory=dict)  # collection + own
    results: list = None
    official: list = None
    reproduced: bool = None
    weights: str = None
    downstream: list = field(default_factory=list)
    raw: dict = field(default_factory=dict)
    root: Path = REPO_ROOT

    @property
    def config_path(self):
        return Path(self.root) / self.config

    @property
    def is_tiny(self):
        """Tiny CPU configs carry ``tiny`` or a synthetic dataset name."""
        return 'tiny' in self.name or 'synthetic' in self.name

    @property
    def tasks(self):
        tasks = [normalize_task(r['Task']) for r in self.results or []
                 if isinstance(r, dict) and r.get('Task')]
        if not tasks and self.metadata.get('Task'):
            tasks = [normalize_task(t) for t in _as_list(
                self.metadata['Task'])]
        return tasks or ['pretraining']

    @property
    def datasets(self):
        names = [r['Dataset'] for r in self.results or []
                 if isinstance(r, dict) and r.get('Dataset')]
        names += _as_list(self.metadata.get('Training Data'))
        return list(dict.fromkeys(str(n) for n in names))

    @property
    def architecture(self):
        return [str(a) for a in _as_list(self.metadata.get('Architecture'))]

    @property
    def backbones(self):
        """Backbone candidates: ``Metadata.Backbone``, the architecture list
        and the backbone field of the OpenMMLab config name."""
        names = _as_list(self.metadata.get('Backbone')) + self.architecture
        parts = self.name.split('_')
        if len(parts) > 1:
            names.append(parts[1])
        return [str(n) for n in names]

    @property
    def params(self):
        try:
            return parse_quantity(self.metadata.get('Parameters'))
        except ValueError:
            return None

    @property
    def flops(self):
        try:
            return parse_quantity(self.metadata.get('FLOPs'))
        except ValueError:
            return None

    @property
    def metrics(self):
        """``{metric name: value}`` over all results (first wins)."""
        out = {}
        for result in self.results or []:
            if isinstance(result, dict) and isinstance(
                    result.get('Metrics'), dict):
                for key, value in result['Metrics'].items():
                    out.setdefault(key, value)
        return out

    def summary(self):
        """One line: name, tasks, datasets, params, main metric."""
        params = f'{self.params / 1e6:.1f}M' if self.params else '-'
        metrics = ', '.join(f'{k} {v}' for k, v in self.metrics.items())
        tag = '' if self.reproduced is None else (
            ' (ours)' if self.reproduced else ' (official)')
        return (f'{self.name}  [{"/".join(self.tasks)}; '
                f'{"/".join(self.datasets) or "-"}; params {params}]'
                f'{"  " + metrics + tag if metrics else ""}')


def load_yaml(path):
    with open(path, encoding='utf-8') as f:
        return yaml.load(f, Loader=getattr(yaml, 'CSafeLoader', yaml.SafeLoader))


def model_index_imports(root=REPO_ROOT):
    """The metafiles imported by ``<root>/model-index.yml`` (repo-relative)."""
    path = Path(root) / 'model-index.yml'
    if not path.is_file():
        return []
    data = load_yaml(path) or {}
    return [str(p) for p in _as_list(data.get('Import'))]


def discover_metafiles(root=REPO_ROOT):
    """Every ``configs/<project>/metafile.y(a)ml`` on disk (repo-relative),
    whether or not model-index.yml imports it yet."""
    root = Path(root)
    found = []
    for pattern in ('configs/*/metafile.yml', 'configs/*/metafile.yaml'):
        found += [p.relative_to(root).as_posix() for p in root.glob(pattern)
                  if p.parent.name not in EXCLUDED_CONFIG_DIRS]
    return sorted(found)


def metafile_paths(root=REPO_ROOT):
    """Imported metafiles first (model-index order), then discovered ones."""
    paths = [osp.normpath(p).replace(osp.sep, '/')
             for p in model_index_imports(root)]
    paths += [p for p in discover_metafiles(root) if p not in paths]
    return [p for p in paths if (Path(root) / p).is_file()]


def entries_from_metafile(path, root=REPO_ROOT, collections=None):
    """The :class:`ZooEntry` list of one metafile.

    ``collections`` maps collection names to their dicts (from all metafiles)
    so an entry may name a collection defined elsewhere.
    """
    root = Path(root)
    rel = Path(path).as_posix()
    data = load_yaml(root / rel) or {}
    local = {c.get('Name'): c for c in _as_list(data.get('Collections'))
             if isinstance(c, dict)}
    collections = {**(collections or {}), **local}
    parts = Path(rel).parts
    project = parts[1] if len(parts) > 2 and parts[0] == 'configs' else \
        Path(rel).parent.name
    entries = []
    for model in _as_list(data.get('Models')):
        if not isinstance(model, dict):
            continue
        coll = collections.get(model.get('In Collection')) or {}
        metadata = dict(coll.get('Metadata') or {})
        metadata.update(model.get('Metadata') or {})
        entries.append(ZooEntry(
            name=str(model.get('Name')), config=str(model.get('Config')),
            project=project, metafile=rel,
            collection=model.get('In Collection'), metadata=metadata,
            results=model.get('Results'), official=model.get('Official'),
            reproduced=model.get('Reproduced'), weights=model.get('Weights'),
            downstream=[str(d) for d in _as_list(model.get('Downstream'))],
            raw=model, root=root))
    return entries


def all_collections(root=REPO_ROOT):
    out = {}
    for path in metafile_paths(root):
        try:
            data = load_yaml(Path(root) / path) or {}
        except yaml.YAMLError:
            continue
        for coll in _as_list(data.get('Collections')):
            if isinstance(coll, dict) and coll.get('Name'):
                out[coll['Name']] = coll
    return out


def load_entries(root=REPO_ROOT):
    """All zoo entries, read fresh from disk (metafiles change while you
    work; the files are small)."""
    collections = all_collections(root)
    entries = []
    for path in metafile_paths(root):
        try:
            entries += entries_from_metafile(path, root, collections)
        except yaml.YAMLError:
            continue  # reported by the validator
    return entries
