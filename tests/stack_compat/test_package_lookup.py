"""``mmdet::`` config bases resolve without pkg_resources once patched."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CONFIG = 'configs/retinanet/retinanet_r18_fpn_tiny_1xb4-300it_synthetic-coco.py'
SCRIPT = """
import sys
sys.modules['pkg_resources'] = None  # as with setuptools >= 82
{patch}
from mmengine.config import Config
cfg = Config.fromfile({config!r})
print(cfg.model.type, cfg.model.backbone.depth)
"""


def run(patch):
    return subprocess.run(
        [sys.executable, '-c', SCRIPT.format(patch=patch, config=CONFIG)],
        cwd=ROOT, capture_output=True, text=True)


def test_mmdet_base_without_pkg_resources():
    unpatched = run('')
    assert unpatched.returncode != 0
    assert 'pkg_resources' in unpatched.stderr
    patched = run('import projects')
    assert patched.returncode == 0, patched.stderr
    assert patched.stdout.split() == ['RetinaNet', '18']


def test_lookups_agree_with_distribution_layout():
    import mmdet
    import mmseg

    from projects.stack_compat import package_lookup
    assert package_lookup.get_installed_path('mmdet') == str(
        Path(mmdet.__file__).parent)
    assert package_lookup.get_installed_path('mmsegmentation') == str(
        Path(mmseg.__file__).parent)
    assert package_lookup.is_installed('mmsegmentation')
    assert not package_lookup.is_installed('no-such-package-visionplug')
