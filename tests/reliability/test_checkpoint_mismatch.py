"""tools/test.py with a checkpoint of another model (a tiny UPerNet given to
the tiny RetinaNet config) refuses to evaluate, unless --allow-mismatch;
a partially matching checkpoint is evaluated and metrics.json records
which keys were missing or had another shape."""
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]
RETINANET = ROOT / ('configs/retinanet/'
                    'retinanet_r18_fpn_tiny_1xb4-300it_synthetic-coco.py')
UPERNET = ROOT / ('configs/upernet/'
                  'upernet_r18_tiny_1xb4-200it_synthetic-ade20k.py')


def initial_checkpoint(config, out):
    spec = importlib.util.spec_from_file_location(
        'init_checkpoint', ROOT / 'tools/misc/init_checkpoint.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.save_initial_checkpoint(str(config), str(out))


def test_tool(cwd, checkpoint, work_dir, *extra):
    proc = subprocess.run(
        [sys.executable, str(ROOT / 'tools/test.py'), str(RETINANET),
         str(checkpoint), '--work-dir', str(work_dir), *extra],
        cwd=cwd, capture_output=True, text=True)
    metrics = sorted(Path(cwd, work_dir).glob('*/metrics.json'))
    return proc, json.loads(metrics[0].read_text()) if metrics else None


test_tool.__test__ = False  # a helper, not a test


def test_other_model_is_refused_and_partial_one_recorded(tmp_path,
                                                         coco_root):
    (tmp_path / 'data').mkdir()
    os.symlink(coco_root, tmp_path / 'data/synthetic_coco')
    upernet = initial_checkpoint(UPERNET, tmp_path / 'upernet.pth')
    retinanet = initial_checkpoint(RETINANET, tmp_path / 'retinanet.pth')

    proc, metrics = test_tool(tmp_path, upernet, 'refused')
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert metrics is None and 'Traceback' not in proc.stderr
    (line, ) = [ln for ln in proc.stderr.splitlines()
                if ln.startswith('error')]
    assert f'checkpoint {upernet} does not fit this model: nothing of ' \
        'neck, bbox_head would be loaded' in line
    # the R-18 layers match by name and shape, UPerNet's deep stem does not
    assert '95 of 128 model keys would be loaded; 33 are missing and 0 ' \
        'have another shape (by module: neck 16 of 16, bbox_head 12 of ' \
        '12, backbone 5 of 100)' in line
    assert '--allow-mismatch' in line

    proc, metrics = test_tool(tmp_path, upernet, 'allowed',
                              '--allow-mismatch')
    assert proc.returncode == 0, proc.stderr[-3000:]
    keys = metrics['checkpoint_keys']
    assert (keys['checkpoint'], keys['total'], keys['loaded']) == (
        upernet, 128, 95)
    assert 'neck.lateral_convs.0.conv.weight' in keys['missing']
    assert 'backbone.conv1.weight' in keys['missing']
    assert 0.0 <= metrics['coco/bbox_mAP'] <= 1.0

    # a RetinaNet checkpoint of 3 classes without its box regressor: most
    # of the model loads, so it is evaluated and the gaps are recorded
    ckpt = torch.load(retinanet, weights_only=True)
    state = ckpt['state_dict']
    del state['bbox_head.retina_reg.weight']
    del state['bbox_head.retina_reg.bias']
    state['bbox_head.retina_cls.weight'] = torch.zeros(27, 128, 3, 3)
    state['bbox_head.retina_cls.bias'] = torch.zeros(27)
    torch.save(ckpt, tmp_path / 'partial.pth')
    proc, metrics = test_tool(tmp_path, tmp_path / 'partial.pth', 'partial')
    assert proc.returncode == 0, proc.stderr[-3000:]
    keys = metrics['checkpoint_keys']
    assert (keys['total'], keys['loaded']) == (128, 124)
    assert keys['missing'] == ['bbox_head.retina_reg.weight',
                               'bbox_head.retina_reg.bias']
    assert keys['mismatched'] == {
        'bbox_head.retina_cls.weight': [[27, 128, 3, 3], [720, 128, 3, 3]],
        'bbox_head.retina_cls.bias': [[27], [720]]}
    assert '124 of 128 model keys would be loaded' in proc.stdout + \
        proc.stderr
