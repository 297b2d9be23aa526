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
             train=True,                     # False: evaluate the checkpoint
             backbone_key='backbone'),       # model key of the backbone
    ]                                        # (default: backbone, else
                                             # img_backbone)

Task kinds (``Task.mode``): ``train`` (train from the pre-trained backbone,
then test), ``checkpoint`` (``train=False``: test the checkpoint itself) and
``init`` (evaluation-only configs such as kNN, whose ``test_cfg`` is a
``KNNTestLoop``: the model is built with the pre-trained backbone through
its ``init_cfg``, saved, and tested; never trained).

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
TASK_KEYS = {'name', 'config', 'metric', 'settings', 'train',
             'backbone_key'}
DATA_KEYS = {'kind', 'out', 'num_train', 'num_val', 'size', 'seed',
             'num_classes'}
DATA_KINDS = ('ade20k', 'coco', 'imagenet', 'nuscenes')
# test loops that evaluate an untrained model with a frozen backbone
EVAL_ONLY_LOOPS = ('KNNTestLoop', )
BACKBONE_KEYS = ('backbone', 'img_backbone')


class ProtocolError(ValueError):
    """A protocol file that cannot be run (names the file and the key)."""


@dataclass
class Task:
    name: str
    config: Path
    metric: str
    settings: dict = field(default_factory=dict)
    train: bool = True
    backbone_key: str = 'backbone'
    eval_only: bool = False  # a kNN-style config: no training at all

    @property
    def mode(self):
        """``train``, ``checkpoint`` (evaluate the pre-trained checkpoint
        as is) or ``init`` (evaluate the model built with the pre-trained
        backbone)."""
        if self.eval_only:
            return 'init'
        return 'train' if self.train else 'checkpoint'


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
        tasks.append(_check_task(
            Task(str(t['name']), config, str(t['metric']), task_settings,
                 bool(t.get('train', True))),
            t, {**settings, **task_settings}, f'{where} ({t["name"]})',
            fail))
    data = raw.get('data') or []
    if not isinstance(data, list):
        fail('data must be a list of dict(kind=..., out=..., ...)')
    for i, d in enumerate(data):
        if not isinstance(d, dict) or not {'kind', 'out'} <= set(d) or \
                set(d) - DATA_KEYS:
            fail(f'data[{i}] needs kind and out (allowed keys: '
                 f'{sorted(DATA_KEYS)})')
        if d['kind'] not in DATA_KINDS:
            fail(f'data[{i}]: unknown kind {d["kind"]!r} (one of '
                 f'{list(DATA_KINDS)})')
        if d['kind'] in ('ade20k', 'nuscenes') and 'num_classes' in d:
            fail(f'data[{i}]: num_classes does not apply to {d["kind"]}')
    return Protocol(path.stem, path, tasks, settings, data,
                    raw.get('pretrained_prefix', 'backbone.'),
                    raw.get('description', ''),
                    bool(raw.get('train_validation', False)))


def _knn_metric_names(evaluator):
    """Metric keys a ``KNNAccuracy`` evaluator reports, or None."""
    evaluators = evaluator if isinstance(evaluator, (list, tuple)) else \
        [evaluator]
    names = []
    for ev in evaluators:
        if isinstance(ev, dict) and ev.get('type') == 'KNNAccuracy':
            prefix = ev.get('prefix') or 'knn'
            names += [f'{prefix}/top{k}' for k in ev.get('topk', (1, 5))]
    return names or None


def _check_task(task, raw, settings, where, fail):
    """Read the task config: backbone key and evaluation-only (kNN) kind,
    with errors that name the task."""
    from .runner import deep_merge, nested
    try:
        cfg = _plain(Config.fromfile(str(task.config),
                                     import_custom_modules=False)._cfg_dict)
    except Exception as err:
        fail(f'{where}: config {task.config} cannot be read: '
             f'{type(err).__name__}: {err}')
    try:
        cfg = deep_merge(cfg, nested(settings))  # as the run will see it
    except ValueError as err:
        fail(f'{where}: {err}')
    model = cfg.get('model')
    if not isinstance(model, dict):
        fail(f'{where}: config {task.config} has no model')
    key = raw.get('backbone_key')
    if key is None:
        key = next((k for k in BACKBONE_KEYS if model.get(k)), None)
        if key is None:
            fail(f'{where}: the model of {task.config} has none of '
                 f'{list(BACKBONE_KEYS)}; name the key of its backbone '
                 "with backbone_key='...'")
    elif not isinstance(model.get(key), dict):
        fail(f'{where}: backbone_key {key!r} is not a module of the model '
             f'(model keys: {sorted(model)})')
    task.backbone_key = key
    loop = (cfg.get('test_cfg') or {}).get('type')
    if loop in EVAL_ONLY_LOOPS:
        if raw.get('train') is True:
            fail(f'{where}: its config evaluates with {loop} (a frozen '
                 'backbone, no training); remove train=True')
        task.eval_only, task.train = True, False
        names = _knn_metric_names(cfg.get('test_evaluator'))
        if names is not None and task.metric not in names:
            fail(f'{where}: metric {task.metric!r} is not reported by its '
                 f'KNNAccuracy evaluator (reports {names})')
    return task
