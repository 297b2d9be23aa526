"""VisionPlug: OpenMMLab plugins for backbones, SSL pre-training and searched losses."""
from pathlib import Path

import shutil

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py
from setuptools.command.editable_wheel import editable_wheel

HERE = Path(__file__).parent


class BuildPyWithZoo(build_py):
    """Also ship the zoo as ``projects/.mim/`` (model-index.yml, configs/,
    tools/ and the READMEs the metafiles name, in the checkout's layout),
    where ``mim search visionplug`` and ``mim download`` look."""

    def run(self):
        super().run()
        target = Path(self.build_lib) / 'projects' / '.mim'
        target.mkdir(parents=True, exist_ok=True)
        readmes = ['README.md'] + [
            str(p.relative_to(HERE)) for p in HERE.glob('projects/*/README.md')]
        for name in ['model-index.yml'] + readmes:
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(HERE / name, target / name)
        for folder in ('configs', 'tools'):
            shutil.copytree(HERE / folder, target / folder, dirs_exist_ok=True,
                            ignore=shutil.ignore_patterns('__pycache__'))


class EditableWheelWithZoo(editable_wheel):
    """Editable installs leave the code in the checkout, but mim looks for
    the index under site-packages (``<site-packages>/visionplug/.mim/``
    first): install there a model-index.yml that imports the checkout's, so
    ``mim search visionplug`` sees the live zoo."""

    def _run_build_commands(self, dist_name, unpacked_wheel, build_lib,
                            tmp_dir):
        out = super()._run_build_commands(dist_name, unpacked_wheel,
                                          build_lib, tmp_dir)
        target = Path(unpacked_wheel) / 'visionplug' / '.mim'
        target.mkdir(parents=True, exist_ok=True)
        index = (HERE / 'model-index.yml').resolve()
        (target / 'model-index.yml').write_text(f'Import:\n  - {index}\n')
        return out


def read_requirements(name):
    """Requirement lines of ``requirements/<name>.txt`` (comments dropped)."""
    lines = (HERE / 'requirements' / f'{name}.txt').read_text().splitlines()
    return [ln.strip() for ln in lines if ln.strip() and not ln.startswith('#')]


setup(
    name='visionplug',
    version='0.1.0',
    description='Plugin toolbox for OpenMMLab: backbones, SSL algorithms, '
    'searched losses and BEV detection',
    long_description=(HERE / 'README.md').read_text(encoding='utf-8'),
    long_description_content_type='text/markdown',
    python_requires='>=3.10,<3.13',
    packages=find_packages(include=['projects', 'projects.*']),
    include_package_data=True,
    install_requires=read_requirements('runtime') + ['mmcv==2.1.0'],
    extras_require={
        'tests': read_requirements('tests'),
        'optional': read_requirements('optional'),
    },
    license='Apache-2.0',
    cmdclass={'build_py': BuildPyWithZoo,
              'editable_wheel': EditableWheelWithZoo},
)
