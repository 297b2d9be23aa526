"""Every checkpoint converter refuses a pickled payload in one line."""
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
CONVERTERS = sorted((ROOT / 'tools/model_converters').glob('*.py'))


class WritesMarker:
    """Unpickling this creates a file (a harmless stand-in for code)."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, 'w'))


def load_tool(path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    return tool


@pytest.fixture(params=[False, True], ids=['zip', 'legacy'])
def payload(request, tmp_path):
    """``(checkpoint path, marker path)`` in the zip or the old format."""
    marker, path = tmp_path / 'executed', tmp_path / 'evil.pth'
    torch.save(dict(model={'w': torch.ones(1)}, extra=WritesMarker(
        str(marker))), path, _use_new_zipfile_serialization=not request.param)
    return path, marker


def test_every_converter_is_covered():
    assert len(CONVERTERS) >= 10
    assert {p.stem for p in CONVERTERS} >= {
        'defocus_to_visionplug', 'extract_backbone', 'hiera_to_visionplug'}


@pytest.mark.parametrize('converter', CONVERTERS, ids=lambda p: p.stem)
def test_converter_exits_with_one_line(converter, payload, tmp_path):
    path, marker = payload
    with pytest.raises(SystemExit) as exit_:
        load_tool(converter).main([str(path), str(tmp_path / 'out.pth')])
    message = exit_.value.code
    assert isinstance(message, str) and message.startswith('error: ')
    assert f'{path} refused' in message and '\n' not in message
    assert 'builtins.open' in message or 'io.open' in message
    assert 'weights_only=False' not in message
    assert not marker.exists() and not (tmp_path / 'out.pth').exists()


@pytest.mark.parametrize('name', ['defocus_to_visionplug', 'extract_backbone'])
def test_converter_script_prints_no_traceback(name, payload, tmp_path):
    path, marker = payload
    proc = subprocess.run(
        [sys.executable, str(ROOT / f'tools/model_converters/{name}.py'),
         str(path), str(tmp_path / 'out.pth')],
        capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 1 and 'Traceback' not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith(
        f'error: checkpoint {path} refused')
    assert not marker.exists()
