"""Command lines of the train and test tools for each launcher.

``local`` runs the tools with this Python; ``torchrun`` goes through
``tools/dist_train.sh``/``dist_test.sh`` (GPUS processes, env NNODES,
NODE_RANK, MASTER_ADDR, PORT); ``slurm`` through ``tools/slurm_train.sh``/
``slurm_test.sh`` (PARTITION, env GPUS, GPUS_PER_NODE, CPUS_PER_TASK,
SRUN_ARGS).
"""
import sys
from dataclasses import dataclass

from projects.zoo.metafile import REPO_ROOT

LAUNCHERS = ('local', 'torchrun', 'slurm')


@dataclass
class Launcher:
    kind: str = 'local'
    gpus: int = 1
    partition: str = None
    job_prefix: str = 'transfer'
    python: str = sys.executable
    root: str = str(REPO_ROOT)

    def __post_init__(self):
        if self.kind not in LAUNCHERS:
            raise ValueError(f'launcher must be one of {LAUNCHERS}, got '
                             f'{self.kind!r}')
        if self.kind == 'slurm' and not self.partition:
            raise ValueError('the slurm launcher needs a partition')

    def _tool(self, name):
        return f'{self.root}/tools/{name}'

    def train(self, config, work_dir, resume=False, job_name='train'):
        extra = ['--resume'] if resume else []
        if self.kind == 'local':
            return [self.python, self._tool('train.py'), str(config),
                    '--work-dir', str(work_dir), *extra]
        if self.kind == 'torchrun':
            return ['bash', self._tool('dist_train.sh'), str(config),
                    str(self.gpus), '--work-dir', str(work_dir), *extra]
        return ['bash', self._tool('slurm_train.sh'), self.partition,
                f'{self.job_prefix}-{job_name}', str(config), str(work_dir),
                *extra]

    def test(self, config, checkpoint, work_dir, job_name='test'):
        if self.kind == 'local':
            return [self.python, self._tool('test.py'), str(config),
                    str(checkpoint), '--work-dir', str(work_dir)]
        if self.kind == 'torchrun':
            return ['bash', self._tool('dist_test.sh'), str(config),
                    str(checkpoint), str(self.gpus), '--work-dir',
                    str(work_dir)]
        return ['bash', self._tool('slurm_test.sh'), self.partition,
                f'{self.job_prefix}-{job_name}', str(config),
                str(checkpoint), '--work-dir', str(work_dir)]

    def env(self, base_env):
        """Environment of the tool processes (repo importable, same
        Python for the launch scripts, GPUS for slurm)."""
        env = dict(base_env)
        env['PYTHONPATH'] = self.root + (
            ':' + env['PYTHONPATH'] if env.get('PYTHONPATH') else '')
        env.setdefault('PYTHON', self.python)
        if self.kind == 'slurm':
            env.setdefault('GPUS', str(self.gpus))
        return env
