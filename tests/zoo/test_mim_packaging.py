"""A built distribution ships the zoo as ``projects/.mim/``, where
``mim search visionplug`` reads it (model-index.yml and every metafile and
config it names)."""
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def test_build_ships_model_index_and_configs(tmp_path):
    subprocess.run([sys.executable, 'setup.py', '-q', 'build_py',
                    '--build-lib', str(tmp_path)], cwd=ROOT, check=True,
                   capture_output=True)
    mim = tmp_path / 'projects' / '.mim'
    index = yaml.safe_load((mim / 'model-index.yml').read_text())
    assert index == yaml.safe_load((ROOT / 'model-index.yml').read_text())
    for metafile in index['Import']:
        models = yaml.safe_load((mim / metafile).read_text())['Models']
        for model in models:
            assert (mim / model['Config']).is_file(), model['Config']
    assert (mim / 'tools' / 'train.py').is_file()
