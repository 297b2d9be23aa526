"""Run every (pre-trained checkpoint, downstream task) pair of a protocol.

Each run lives in ``<work_dir>/<pretrained>/<task>/``: ``config.py`` (the
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
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from mmengine.config import Config

from projects.run_config import write_json_atomic
from projects.zoo import display_path, get_entry
from projects.zoo.derive import derive_overrides, write_text_atomic
from projects.zoo.formatting import format_assignments, format_value
from projects.zoo.metafile import REPO_ROOT

from .launchers import Launcher
from .report import write_report


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
    """

    def __init__(self, protocol, pretrained, work_dir, launcher=None,
                 cwd=None, dry_run=False, log=print):
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

    def run_dir(self, pre, task):
        return self.work_dir / pre.name / task.name

    # ----------------------------------------------------------- planning
    def plan(self, pre, task):
        """'skip' (finished), 'test' (trained, not evaluated), 'resume'
        (checkpoint of an unfinished training) or 'fresh'."""
        d = self.run_dir(pre, task)
        result = d / 'result.json'
        if result.is_file():
            try:
                if json.loads(result.read_text()).get('status') == 'done':
                    return 'skip'
            except ValueError:
                pass
        if not task.train or (d / 'train' / 'done.json').is_file():
            return 'test'
        if (d / 'train' / 'last_checkpoint').is_file():
            return 'resume'
        return 'fresh'

    def config_text(self, pre, task):
        """The generated downstream config of one run."""
        init = dict(type='Pretrained', checkpoint=pre.checkpoint,
                    prefix=self.protocol.pretrained_prefix)
        if pre.backbone:
            base, header, assignments = derive_overrides(
                task.config, pre.backbone, pre.checkpoint)
            assignments['model']['backbone']['init_cfg'] = init
        else:
            base, header = task.config, []
            model = Config.fromfile(str(task.config)).model
            if 'init_cfg' in model.backbone:  # replace (even None), not merge
                init = dict(_delete_=True, **init)
            assignments = dict(model=dict(backbone=dict(init_cfg=init)))
            if model.get('pretrained'):  # mmseg's model-level weights
                assignments['model']['pretrained'] = None
        assignments = deep_merge(
            assignments, nested(self.protocol.task_settings(task)))
        if not self.protocol.train_validation:  # tools/test.py evaluates
            assignments.update(val_cfg=None, val_dataloader=None,
                               val_evaluator=None)
        lines = [f'# Transfer run {pre.name} -> {task.name} of protocol '
                 f'{self.protocol.name} ({self.protocol.path}),',
                 '# generated by tools/benchmark_transfer.py.'] + header
        shown = display_path(base)
        base_ref = shown if '::' in shown else str(Path(base).resolve())
        return ('\n'.join(lines) + f'\n_base_ = {format_value(base_ref)}\n'
                + format_assignments(assignments))

    # ------------------------------------------------------------ running
    def _call(self, cmd, log_path, stage):
        self.log('  $ ' + ' '.join(map(str, cmd)))
        if self.dry_run:
            return
        with open(log_path, 'w') as log:
            proc = subprocess.run(cmd, cwd=self.cwd, stdout=log,
                                  stderr=subprocess.STDOUT,
                                  env=self.launcher.env(os.environ))
        if proc.returncode != 0:
            raise RunFailed(stage, f'exit status {proc.returncode}; '
                            f'{log_path}:\n{_log_tail(log_path)}')

    def _train(self, pre, task, config, resume):
        d = self.run_dir(pre, task)
        cmd = self.launcher.train(config, d / 'train', resume=resume,
                                  job_name=f'{pre.name}-{task.name}')
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

    def _test(self, pre, task, config, checkpoint):
        d = self.run_dir(pre, task)
        cmd = self.launcher.test(config, checkpoint, d / 'test',
                                 job_name=f'{pre.name}-{task.name}-test')
        self._call(cmd, d / 'test.log', 'test')
        if self.dry_run:
            return {}
        found = sorted((d / 'test').glob('*/metrics.json'),
                       key=lambda p: p.stat().st_mtime)
        if not found:
            raise RunFailed('test', f'no metrics.json under {d / "test"}')
        return json.loads(found[-1].read_text())

    def run_one(self, pre, task):
        """Run (or skip) one pair; returns its result dict."""
        d = self.run_dir(pre, task)
        plan = self.plan(pre, task)
        self.log(f'[{pre.name} -> {task.name}] {plan}')
        if plan == 'skip':
            return json.loads((d / 'result.json').read_text())
        d.mkdir(parents=True, exist_ok=True)
        result = dict(protocol=self.protocol.name, pretrained=pre.name,
                      checkpoint=pre.checkpoint, backbone=pre.backbone,
                      task=task.name, config=str(task.config),
                      metric=task.metric, status='failed', value=None,
                      metrics={}, error=None, stage=None)
        start = time.time()
        try:
            config = d / 'config.py'
            try:
                write_text_atomic(config, self.config_text(pre, task))
            except Exception as err:
                raise RunFailed('config', f'{type(err).__name__}: {err}')
            if plan in ('fresh', 'resume'):
                checkpoint = self._train(pre, task, config,
                                         resume=plan == 'resume')
            elif task.train:
                checkpoint = json.loads(
                    (d / 'train' / 'done.json').read_text())['checkpoint']
            else:
                checkpoint = pre.checkpoint
            result['train_seconds'] = round(time.time() - start, 1)
            metrics = self._test(pre, task, config, checkpoint)
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
        self.log(f'[{pre.name} -> {task.name}] {result["status"]}'
                 + (f': {task.metric} = {result["value"]}'
                    if result['status'] == 'done' else
                    f'\n{result["error"]}'))
        return result

    def prepare_data(self):
        """Make the protocol's synthetic datasets that are missing."""
        for spec in self.protocol.data:
            out = self.cwd / spec['out']
            if out.exists():
                continue
            cmd = [self.launcher.python,
                   f'{self.launcher.root}/tools/dataset_converters/'
                   'make_synthetic.py', spec['kind'], '--out', str(out)]
            for key in ('num_train', 'num_val', 'seed', 'num_classes'):
                if key in spec:
                    cmd += [f'--{key.replace("_", "-")}', str(spec[key])]
            if 'size' in spec:
                cmd += ['--size', *map(str, spec['size'])]
            self.log('  $ ' + ' '.join(cmd))
            if not self.dry_run:
                subprocess.run(cmd, cwd=self.cwd, check=True,
                               env=self.launcher.env(os.environ))

    def run(self):
        """All pairs, in order; returns the collected rows."""
        self.prepare_data()
        rows = []
        for pre in self.pretrained:
            for task in self.protocol.tasks:
                rows.append(self.run_one(pre, task))
                if not self.dry_run:
                    write_report(self.work_dir, self.protocol)
        return rows
