"""tools/misc/wheelhouse.sh: bad arguments fail before anything is fetched.

(The download itself needs the network, which tests never use; the install
side is covered by test_setup_env.py.)
"""
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / 'tools/misc/wheelhouse.sh'


@pytest.mark.parametrize('args, message', [
    ([], 'usage: '),
    (['download', '--python', '3.12', '--out', 'x'], 'usage: '),
    (['download', '--python', '3.9', '--platform', 'manylinux_2_28_x86_64',
      '--out', 'x'], '--python 3.9: expected 3.10, 3.11 or 3.12'),
    (['download', '--python', '3.12', '--platform', 'win_amd64', '--out', 'x'],
     "platform 'win_amd64': expected manylinux_2_N_ARCH"),
    (['download', '--pyhton', '3.12'], 'unknown option --pyhton'),
    (['download', '--out'], '--out needs a value'),
])
def test_bad_arguments(tmp_path, args, message):
    proc = subprocess.run(['bash', SCRIPT, *args], cwd=tmp_path,
                          capture_output=True, text=True,
                          env={'PATH': '/usr/bin:/bin',
                               'VISIONPLUG_HOST_PYTHON': sys.executable})
    assert proc.returncode == 2
    assert message in proc.stderr
    assert list(tmp_path.iterdir()) == []  # nothing written
