"""``mim search visionplug`` lists the whole zoo (every model with its
config and metrics) from a regular install and from an editable install,
and the index passes modelindex's own check in both places."""
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from modelindex import load

ROOT = Path(__file__).resolve().parents[2]


def expected_rows():
    """``{model name: (config, {'<dataset>/<metric>': value})}`` of the
    checkout's model-index.yml, in mim's column naming."""
    rows = {}
    for model in load(str(ROOT / 'model-index.yml')).models:
        metrics = {}
        for result in model.results or []:
            for key, value in (result.metrics or {}).items():
                name = '_'.join(key.split()).lower()
                metrics[f'{result.dataset.lower()}/{name}'] = value
        rows[model.name] = (model.config, metrics)
    return rows


def mim_search(site_dir: Path, tmp_path: Path) -> dict:
    """Run the ``mim search visionplug`` CLI with ``site_dir`` first on the
    path (outside the checkout) and return its table by model."""
    out = tmp_path / 'search.json'
    env = dict(os.environ, PYTHONPATH=str(site_dir))
    proc = subprocess.run(
        [sys.executable, '-m', 'mim', 'search', 'visionplug', '--json',
         str(out)], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert proc.returncode == 0 and out.is_file(), proc.stdout + proc.stderr
    rows = {}  # the JSON is by column: {field: {model: value}}
    for field, column in json.loads(out.read_text()).items():
        for model, value in column.items():
            rows.setdefault(model, {})[field] = value
    return rows


def installed_index(site_dir: Path, tmp_path: Path) -> str:
    """Path of the index mim reads for visionplug installed in site_dir."""
    code = ('from mim.utils import get_installed_path; '
            'print(get_installed_path("visionplug"))')
    env = dict(os.environ, PYTHONPATH=str(site_dir))
    proc = subprocess.run([sys.executable, '-c', code], cwd=tmp_path,
                          env=env, capture_output=True, text=True, check=True)
    return Path(proc.stdout.strip().splitlines()[-1]) / '.mim' / \
        'model-index.yml'


def assert_lists_zoo(table: dict) -> None:
    rows = expected_rows()
    assert len(rows) > 100 and set(table) == set(rows)
    for name, (config, metrics) in rows.items():
        assert table[name]['config'] == config, name
        for key, value in metrics.items():
            assert table[name][key] == pytest.approx(value), (name, key)


def test_checkout_index_passes_modelindex_check():
    index = load(str(ROOT / 'model-index.yml'))
    assert index.check(silent=True) == []
    for model in index.models:
        assert (ROOT / model.config).is_file(), model.name


def test_mim_search_regular_install(tmp_path):
    """pip builds and installs a copy of the source (an sdist's files), so
    the checkout gets no build/ folder."""
    src = tmp_path / 'src'
    for name in ('setup.py', 'README.md', 'model-index.yml'):
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, src / name)
    for folder in ('requirements', 'projects', 'configs', 'tools'):
        shutil.copytree(ROOT / folder, src / folder,
                        ignore=shutil.ignore_patterns('__pycache__'))
    site = tmp_path / 'site'
    subprocess.run(
        [sys.executable, '-m', 'pip', 'install', '-q', '--no-deps',
         '--no-build-isolation', '--no-cache-dir', '--target', str(site),
         str(src)], check=True, capture_output=True)
    index = installed_index(site, tmp_path)
    assert index == site / 'projects' / '.mim' / 'model-index.yml'
    assert load(str(index)).check(silent=True) == []
    assert_lists_zoo(mim_search(site, tmp_path))


def test_mim_search_editable_install(tmp_path):
    """The editable wheel (PEP 660, as ``pip install -e``) installs an index
    that imports the checkout's model-index.yml, so edits show at once."""
    wheels = tmp_path / 'wheels'
    wheels.mkdir()
    code = ('import sys; from setuptools import build_meta; '
            'print(build_meta.build_editable(sys.argv[1]))')
    proc = subprocess.run([sys.executable, '-c', code, str(wheels)],
                          cwd=ROOT, capture_output=True, text=True, check=True)
    wheel = wheels / proc.stdout.strip().splitlines()[-1]
    site = tmp_path / 'site'
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(site)
    index = installed_index(site, tmp_path)
    assert index == site / 'visionplug' / '.mim' / 'model-index.yml'
    assert load(str(index)).check(silent=True) == []
    assert_lists_zoo(mim_search(site, tmp_path))
