"""Benchmark protocols: which downstream configs, with which equalised
settings (``configs/benchmark/*.py`` or ``.yaml``).

A protocol file sets::

    settings = {'randomness.seed': 0, ...}   # dotted keys, every task
    data = [dict(kind='coco', out='data/synthetic_coco', num_train=40,
                 num_val=8)]                 # optional synthetic data to make
    tasks = [
        dict(name='coco_det',                # column of the result table
             config='retinanet_r18_...',     # zoo entry name or config path
             metric='coco/bbox_mAP',         # key of tools/test.py metrics
             settings={...},                 # task-specific dotted keys
             train=True),                    # False: evaluate the checkpoint
    ]

By default the runs do not validate during training (the metric comes from
``tools/test.py`` once); ``train_validation = True`` keeps the config's
validation. Helper variables of the file start with an underscore (``_iters = 60``).
"""
import re
from dataclasses import dataclass, field
from pathlib import Path

from mmengine.config import Config

from projects.zoo import resolve_config_path
from projects.zoo.metafile import REPO_ROOT

PROTOCOL_KEYS = {'settings', 'data', 'tasks', 'description',
                 'pretrained_prefix', 'train_validation'}
TASK_KEYS = {'name', 'config', 'metric', 'settings', 'train'}
DATA_KEYS = {'kind', 'out', 'num_train', 'num_val', 'size', 'seed',
             'num_classes'}


class ProtocolError(ValueError):
    """A protocol file that cannot be run (names the file and the key)."""


@dataclass
class Task:
    name: str
    config: Path
    metric: str
    settings: dict = field(default_factory=dict)
    train: bool = True


@dataclass
class Protocol:
    name: str
    path: Path
    tasks: list
    settings: dict = field(default_factory=dict)
    data: list = field(default_factory=list)
    pretrained_prefix: str = 'backbone.'
    description: str = ''
    train_validation: bool = False  # validate during training too

    def task_settings(self, task):
        """Protocol settings, then the task's own (task wins)."""
        return {**self.settings, **task.settings}


def _plain(value):
    if hasattr(value, 'to_dict'):
        return value.to_dict()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(v) for v in value)
    return value


def load_protocol(path, root=REPO_ROOT):
    """Read and check a protocol file; :class:`ProtocolError` if invalid."""
    path = Path(path)
    if not path.is_file() and (Path(root) / path).is_file():
        path = Path(root) / path
    if not path.is_file():
        raise ProtocolError(f'protocol {path} does not exist')
    try:
        raw = _plain(Config.fromfile(str(path))._cfg_dict)
    except Exception as err:
        raise ProtocolError(f'protocol {path}: cannot be read: {err}')

    def fail(msg):
        raise ProtocolError(f'protocol {path}: {msg}')

    unknown = {k for k in raw if not k.startswith('_')} - PROTOCOL_KEYS
    if unknown:
        fail(f'unknown key(s) {sorted(unknown)} (allowed: '
             f'{sorted(PROTOCOL_KEYS)})')
    settings = raw.get('settings') or {}
    if not isinstance(settings, dict):
        fail('settings must be a mapping of dotted config keys to values')
    tasks_raw = raw.get('tasks')
    if not isinstance(tasks_raw, list) or not tasks_raw:
        fail('tasks must be a non-empty list')
    tasks, names = [], set()
    for i, t in enumerate(tasks_raw):
        where = f'tasks[{i}]'
        if not isinstance(t, dict):
            fail(f'{where} must be a mapping')
        missing = {'name', 'config', 'metric'} - set(t)
        if missing:
            fail(f'{where} misses {sorted(missing)}')
        unknown = set(t) - TASK_KEYS
        if unknown:
            fail(f'{where} ({t["name"]}): unknown key(s) {sorted(unknown)} '
                 f'(allowed: {sorted(TASK_KEYS)})')
        if not re.fullmatch(r'[A-Za-z0-9_.\-]+', str(t['name'])):
            fail(f'{where}: name {t["name"]!r} must be a file-name-safe '
                 'word')
        if t['name'] in names:
            fail(f'{where}: duplicate task name {t["name"]!r}')
        names.add(t['name'])
        try:
            config = resolve_config_path(str(t['config']), root)
        except KeyError as err:
            fail(f'{where} ({t["name"]}): config {t["config"]!r} is neither '
                 f'a file nor a zoo entry ({err.args[0]})')
        task_settings = t.get('settings') or {}
        if not isinstance(task_settings, dict):
            fail(f'{where} ({t["name"]}): settings must be a mapping')
        tasks.append(Task(str(t['name']), config, str(t['metric']),
                          task_settings, bool(t.get('train', True))))
    data = raw.get('data') or []
    for i, d in enumerate(data):
        if not isinstance(d, dict) or not {'kind', 'out'} <= set(d) or \
                set(d) - DATA_KEYS:
            fail(f'data[{i}] needs kind and out (allowed keys: '
                 f'{sorted(DATA_KEYS)})')
    return Protocol(path.stem, path, tasks, settings, data,
                    raw.get('pretrained_prefix', 'backbone.'),
                    raw.get('description', ''),
                    bool(raw.get('train_validation', False)))
