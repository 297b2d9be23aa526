"""Run every (pre-trained checkpoint, downstream task) pair of a protocol.

Each run lives in ``<work_dir>/<pretrained>/<task>/`` (with seeds:
``<work_dir>/<pretrained>/<task>/seed<k>/``, one run per seed, whose
``randomness.seed`` is ``k``): ``config.py`` (the
generated downstream config: the task config + equalised settings + the
pre-trained backbone), ``train/`` and ``test/`` work dirs, ``train.log``,
``test.log`` and ``result.json`` (written atomically when the run ends,
``status`` 'done' or 'failed' with the error). A run whose result is 'done'
is skipped; a run with a training checkpoint resumes it (``--resume``); a
failure is recorded and the next run starts, so no finished result is lost.
After every run the table (Markdown, CSV), ``results.json`` and the plot
are rewritten from all ``result.json`` files.
"""
import copy
import json
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from mmengine.config import Config

from projects.run_config import write_json_atomic
from projects.zoo import display_path, get_entry
from projects.zoo.derive import (derive_overrides, resolve_backbone,
                                 write_text_atomic)
from projects.zoo.formatting import format_assignments, format_value
from projects.zoo.metafile import REPO_ROOT

from .launchers import Launcher
from .report import write_report

# config keys of training (set to None in runs that are not trained)
TRAIN_KEYS = ('train_dataloader', 'train_cfg', 'optim_wrapper',
              'param_scheduler')

@dataclass
class Pretrained:
    """A pre-trained checkpoint to transfer; ``backbone`` names the zoo
    pre-training entry whose backbone replaces the downstream one."""
    name: str
    checkpoint: str
    backbone: str = None


def _zoo_checkpoint(entry, cwd):
    if entry.weights:
        return str(entry.weights)
    last = Path(cwd) / 'work_dirs' / entry.name / 'last_checkpoint'
    if last.is_file():
        return last.read_text().strip()
    raise ValueError(f'zoo entry {entry.name} has no Weights and no '
                     f'{last}; pass NAME=CHECKPOINT')


def parse_pretrained(token, cwd='.', root=REPO_ROOT):
    """``CKPT``, ``NAME=CKPT``, ``ZOO_ENTRY`` or ``ZOO_ENTRY=CKPT``.

    A zoo entry is a pre-training config: its backbone is swapped into each
    downstream config (``tools/zoo.py derive``) and its checkpoint is the
    given one, the entry's ``Weights`` or ``work_dirs/<entry>/last_checkpoint``.
    A plain checkpoint keeps the downstream config's backbone.
    """
    name, sep, ckpt = token.partition('=')
    if not sep:
        name, ckpt = None, token
    key = name or ckpt
    try:
        entry = get_entry(key, root) if not Path(key).suffix == '.pth' \
            else None
    except KeyError:
        entry = None
    if entry is not None:
        checkpoint = ckpt if sep else _zoo_checkpoint(entry, cwd)
        return Pretrained(entry.name, checkpoint, backbone=entry.name)
    if not (ckpt.startswith(('http://', 'https://')) or
            (Path(cwd) / ckpt).is_file()):
        raise ValueError(f'pre-trained checkpoint {ckpt} does not exist '
                         'and is not a zoo entry')
    if not ckpt.startswith(('http://', 'https://')):
        ckpt = str((Path(cwd) / ckpt).resolve())
    return Pretrained(name or Path(ckpt).stem, ckpt)


def nested(dotted):
    """``{'a.b': 1}`` -> ``{'a': {'b': 1}}``."""
    out = {}
    for key, value in dotted.items():
        node = out
        *parents, leaf = str(key).split('.')
        for part in parents:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ValueError(f'setting {key!r} conflicts with another '
                                 'setting of its parent')
        node[leaf] = copy.deepcopy(value)
    return out


def deep_merge(a, b):
    """``b`` merged into a copy of ``a`` (dicts recursively)."""
    out = copy.deepcopy(a)
    for key, value in b.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


class RunFailed(RuntimeError):
    def __init__(self, stage, message):
        super().__init__(f'{stage} failed: {message}')
        self.stage = stage


def _log_tail(path, lines=12):
    try:
        text = Path(path).read_text(errors='replace').strip().splitlines()
    except OSError:
        return ''
    errors = [ln for ln in text if ln.startswith('error')]
    return '\n'.join(errors[-3:] if errors else text[-lines:])


class TransferBenchmark:
    """Run a :class:`~.protocol.Protocol` for a list of :class:`Pretrained`.

    Args:
        protocol: the loaded protocol.
        pretrained: list of :class:`Pretrained`.
        work_dir: root of the runs and of the result table.
        launcher: :class:`~.launchers.Launcher` (local by default).
        cwd: working directory of the tools (relative data roots).
        dry_run: only print the commands.
        seeds: run every (checkpoint, task) pair once per seed (the seed
            overrides the protocol's ``randomness.seed``); None: one run
            with the protocol's seed, in the unseeded layout.
    """

    def __init__(self, protocol, pretrained, work_dir, launcher=None,
                 cwd=None, dry_run=False, log=print, seeds=None):
        self.protocol = protocol
        self.pretrained = list(pretrained)
        names = [p.name for p in self.pretrained]
        if len(set(names)) != len(names):
            raise ValueError(f'pre-trained names must be unique: {names}')
        self.work_dir = Path(work_dir).resolve()
        self.launcher = launcher or Launcher()
        self.cwd = Path(cwd or os.getcwd()).resolve()
        self.dry_run = dry_run
        self.log = log
        if seeds is not None:
            seeds = [int(s) for s in seeds]
            if not seeds or len(set(seeds)) != len(seeds):
                raise ValueError(f'seeds must be distinct, got {seeds}')
        self.seeds = seeds

    def run_dir(self, pre, task, seed=None):
        d = self.work_dir / pre.name / task.name
        return d if seed is None else d / f'seed{seed}'

    @staticmethod
    def _tag(pre, task, seed):
        return f'[{pre.name} -> {task.name}' + \
            (']' if seed is None else f' seed {seed}]')

    def settings(self, task, seed=None):
        """The task's settings with the run's seed."""
        settings = self.protocol.task_settings(task)
        if seed is not None:
            settings = {**settings, 'randomness.seed': seed}
        return settings

    # ----------------------------------------------------------- planning
    def plan(self, pre, task, seed=None):
        """'skip' (finished), 'reuse' (finished, and the metric the task
        now asks for is among its stored metrics), 'init' (evaluation-only
        task: build with the pre-trained backbone, save, test), 'test'
        (trained or checkpoint task, not evaluated), 'resume' (checkpoint
        of an unfinished training) or 'fresh'."""
        d = self.run_dir(pre, task, seed)
        result = d / 'result.json'
        if result.is_file():
            try:
                done = json.loads(result.read_text())
            except ValueError:
                done = {}
            if done.get('status') == 'done':
                if done.get('metric', task.metric) == task.metric:
                    return 'skip'
                if task.metric in (done.get('metrics') or {}):
                    return 'reuse'
        if task.mode == 'init':
            return 'init'
        if task.mode == 'checkpoint' or (d / 'train' / 'done.json').is_file():
            return 'test'
        if (d / 'train' / 'last_checkpoint').is_file():
            return 'resume'
        return 'fresh'

    def config_text(self, pre, task, seed=None):
        """The generated downstream config of one run."""
        init = dict(type='Pretrained', checkpoint=pre.checkpoint,
                    prefix=self.protocol.pretrained_prefix)
        key = task.backbone_key
        cfg = Config.fromfile(str(task.config), import_custom_modules=False)
        model = cfg.model
        if pre.backbone and key == 'backbone' and task.mode == 'init' and \
                not model.get('neck') and not model.get('head'):
            # backbone-only model (kNN): the zoo backbone replaces it as is
            base, assignments = task.config, {}
            scope = model.get('_scope_') or cfg.get('default_scope',
                                                    'mmengine')
            bb, imports, what = resolve_backbone(pre.backbone, scope)
            header = [f'# backbone {pre.backbone} ({what}).']
            bb = {k: v for k, v in bb.items()
                  if k not in ('init_cfg', 'pretrained')}
            assignments['model'] = {key: dict(_delete_=True, **bb,
                                              init_cfg=init)}
            own = (cfg.get('custom_imports') or {}).get('imports') or []
            own = [own] if isinstance(own, str) else list(own)
            if set(imports) - set(own):
                assignments['custom_imports'] = dict(
                    imports=list(dict.fromkeys(own + imports)),
                    allow_failed_imports=False)
        elif pre.backbone:
            if key != 'backbone' or task.mode == 'init':
                raise ValueError(
                    f'a zoo backbone ({pre.backbone}) can replace '
                    'model.backbone of detection / segmentation configs and '
                    f'of backbone-only models only, not model.{key} of '
                    f'{display_path(task.config)}; pass a checkpoint whose '
                    'backbone fits that config instead')
            base, header, assignments = derive_overrides(
                task.config, pre.backbone, pre.checkpoint)
            assignments['model']['backbone']['init_cfg'] = init
        else:
            base, header = task.config, []
            if 'init_cfg' in model[key]:  # replace (even None), not merge
                init = dict(_delete_=True, **init)
            assignments = dict(model={key: dict(init_cfg=init)})
            if model.get('pretrained'):  # mmseg's model-level weights
                assignments['model']['pretrained'] = None
        settings = self.settings(task, seed)
        if task.mode != 'train':  # tools/test.py only: no training parts
            dropped = sorted(k for k in settings
                             if str(k).split('.')[0] in TRAIN_KEYS)
            settings = {k: v for k, v in settings.items()
                        if k not in dropped}
            if dropped:
                header.append(f'# not trained: settings {dropped} do not '
                              'apply.')
        assignments = deep_merge(assignments, nested(settings))
        if task.mode != 'train':
            assignments.update({k: None for k in TRAIN_KEYS})
        if not self.protocol.train_validation or task.mode != 'train':
            assignments.update(val_cfg=None, val_dataloader=None,
                               val_evaluator=None)
        lines = [f'# Transfer run {pre.name} -> {task.name}'
                 + ('' if seed is None else f' (seed {seed})')
                 + f' of protocol {self.protocol.name} '
                 f'({self.protocol.path}),',
                 '# generated by tools/benchmark_transfer.py.'] + header
        shown = display_path(base)
        base_ref = shown if '::' in shown else str(Path(base).resolve())
        return ('\n'.join(lines) + f'\n_base_ = {format_value(base_ref)}\n'
                + format_assignments(assignments))

    # ------------------------------------------------------------ running
    def _call(self, cmd, log_path, stage, local=False):
        self.log('  $ ' + ' '.join(map(str, cmd)))
        if self.dry_run:
            return
        env = self.launcher.env(os.environ)
        if local:  # this Python, not the launcher's cluster settings
            env = Launcher(root=self.launcher.root,
                           python=self.launcher.python).env(os.environ)
        with open(log_path, 'w') as log:
            proc = subprocess.run(cmd, cwd=self.cwd, stdout=log,
                                  stderr=subprocess.STDOUT, env=env)
        if proc.returncode != 0:
            raise RunFailed(stage, f'exit status {proc.returncode}; '
                            f'{log_path}:\n{_log_tail(log_path)}')

    @staticmethod
    def _job(pre, task, seed):
        return f'{pre.name}-{task.name}' + ('' if seed is None
                                            else f'-seed{seed}')

    def _train(self, pre, task, config, resume, seed=None):
        d = self.run_dir(pre, task, seed)
        cmd = self.launcher.train(config, d / 'train', resume=resume,
                                  job_name=self._job(pre, task, seed))
        self._call(cmd, d / 'train.log', 'train')
        if self.dry_run:
            return '<checkpoint>'
        last = d / 'train' / 'last_checkpoint'
        if not last.is_file():
            raise RunFailed('train', f'no checkpoint in {d / "train"} '
                            '(does the config save one at the end?)')
        checkpoint = last.read_text().strip()
        write_json_atomic(d / 'train' / 'done.json',
                          dict(checkpoint=checkpoint))
        return checkpoint

    def _test(self, pre, task, config, checkpoint, seed=None):
        d = self.run_dir(pre, task, seed)
        cmd = self.launcher.test(config, checkpoint, d / 'test',
                                 job_name=self._job(pre, task, seed)
                                 + '-test')
        self._call(cmd, d / 'test.log', 'test')
        if self.dry_run:
            return {}
        found = sorted((d / 'test').glob('*/metrics.json'),
                       key=lambda p: p.stat().st_mtime)
        if not found:
            raise RunFailed('test', f'no metrics.json under {d / "test"}')
        return json.loads(found[-1].read_text())

    def _init(self, pre, task, config, seed=None):
        """Build the model of ``config`` (the pre-trained backbone comes in
        through its ``init_cfg``) and save it: the checkpoint an
        evaluation-only task tests. Runs with this Python whatever the
        launcher (one model build, no accelerator needed)."""
        d = self.run_dir(pre, task, seed)
        out = d / 'init' / 'init.pth'
        seed = self.settings(task, seed).get('randomness.seed', 0)
        cmd = [self.launcher.python,
               f'{self.launcher.root}/tools/misc/init_checkpoint.py',
               str(config), str(out), '--seed', str(seed)]
        self._call(cmd, d / 'init.log', 'init', local=True)
        if not self.dry_run and not out.is_file():
            raise RunFailed('init', f'{out} was not written')
        return str(out)

    def run_one(self, pre, task, seed=None):
        """Run (or skip) one pair (one seed); returns its result dict."""
        d = self.run_dir(pre, task, seed)
        plan = self.plan(pre, task, seed)
        tag = self._tag(pre, task, seed)
        self.log(f'{tag} {plan}')
        if plan == 'skip':
            return json.loads((d / 'result.json').read_text())
        if plan == 'reuse':  # the stored metrics hold the new metric
            result = json.loads((d / 'result.json').read_text())
            result.update(metric=task.metric,
                          value=result['metrics'][task.metric])
            if not self.dry_run:
                write_json_atomic(d / 'result.json', result)
            return result
        d.mkdir(parents=True, exist_ok=True)
        result = dict(protocol=self.protocol.name, pretrained=pre.name,
                      checkpoint=pre.checkpoint, backbone=pre.backbone,
                      task=task.name, config=str(task.config),
                      metric=task.metric, mode=task.mode, status='failed',
                      value=None, metrics={}, error=None, stage=None)
        if seed is not None:
            result['seed'] = seed
        start = time.time()
        try:
            config = d / 'config.py'
            try:
                write_text_atomic(config,
                                  self.config_text(pre, task, seed))
            except Exception as err:
                raise RunFailed('config', f'{type(err).__name__}: {err}')
            if plan in ('fresh', 'resume'):
                checkpoint = self._train(pre, task, config,
                                         resume=plan == 'resume', seed=seed)
            elif plan == 'init':
                checkpoint = self._init(pre, task, config, seed)
            elif task.mode == 'train':
                checkpoint = json.loads(
                    (d / 'train' / 'done.json').read_text())['checkpoint']
            else:
                checkpoint = pre.checkpoint
            result['train_seconds'] = round(time.time() - start, 1)
            metrics = self._test(pre, task, config, checkpoint, seed)
            if self.dry_run:
                return result
            if task.metric not in metrics:
                raise RunFailed('test', f'metric {task.metric!r} not in the '
                                f'test metrics {sorted(metrics)}')
            result.update(status='done', metrics=metrics,
                          value=metrics[task.metric],
                          trained_checkpoint=checkpoint)
        except RunFailed as err:
            result.update(error=str(err), stage=err.stage)
        result['seconds'] = round(time.time() - start, 1)
        result['finished_at'] = time.strftime('%Y-%m-%d %H:%M:%S')
        if not self.dry_run:
            write_json_atomic(d / 'result.json', result)
        self.log(f'{tag} {result["status"]}'
                 + (f': {task.metric} = {result["value"]}'
                    if result['status'] == 'done' else
                    f'\n{result["error"]}'))
        return result

    def prepare_data(self):
        """Make the protocol's synthetic datasets that are missing.

        A dataset is generated into a temporary sibling directory and moved
        into place when complete, so an interrupted run never leaves a
        half-written root behind. An existing nuScenes root without its
        infos files gets them (``create_nuscenes_infos.py``).
        """
        for spec in self.protocol.data:
            out = self.cwd / spec['out']
            if out.exists():
                if spec['kind'] == 'nuscenes':
                    self._nuscenes_infos(out)
                continue
            tmp = out.with_name(f'.{out.name}.partial')
            if tmp.exists() and not self.dry_run:  # an interrupted attempt
                shutil.rmtree(tmp)
            cmd = [self.launcher.python,
                   f'{self.launcher.root}/tools/dataset_converters/'
                   'make_synthetic.py', spec['kind'], '--out', str(tmp)]
            for key in ('num_train', 'num_val', 'seed', 'num_classes'):
                if key in spec:
                    cmd += [f'--{key.replace("_", "-")}', str(spec[key])]
            if 'size' in spec:
                cmd += ['--size', *map(str, spec['size'])]
            self._prepare(cmd)
            if not self.dry_run:
                os.replace(tmp, out)

    def _nuscenes_infos(self, root):
        missing = [s for s in ('train', 'val')
                   if not (root / f'nuscenes_infos_{s}.json').is_file()]
        if not missing:
            return
        versions = sorted(p.parent.name for p in root.glob('v1.0-*/scene.json'))
        if len(versions) != 1:
            raise RuntimeError(
                f'{root} lacks nuscenes_infos_{missing[0]}.json and has '
                f'{len(versions)} nuScenes table versions {versions}; run '
                'tools/dataset_converters/create_nuscenes_infos.py --root '
                f'{root} --version <version>')
        self._prepare([self.launcher.python,
                       f'{self.launcher.root}/tools/dataset_converters/'
                       'create_nuscenes_infos.py', '--root', str(root),
                       '--version', versions[0]])

    def _prepare(self, cmd):
        self.log('  $ ' + ' '.join(cmd))
        if self.dry_run:
            return
        proc = subprocess.run(cmd, cwd=self.cwd, capture_output=True,
                              text=True, env=self.launcher.env(os.environ))
        if proc.returncode != 0:
            raise RuntimeError(f'data preparation failed ({" ".join(cmd)}):'
                               f'\n{proc.stderr.strip()[-2000:]}')

    def run(self):
        """All pairs, in order; returns the collected rows."""
        self.prepare_data()
        rows = []
        for pre in self.pretrained:
            for task in self.protocol.tasks:
                for seed in self.seeds or [None]:
                    rows.append(self.run_one(pre, task, seed))
                    if not self.dry_run:
                        write_report(self.work_dir, self.protocol,
                                     self.seeds)
        return rows
