"""FLOPs and parameters: ResNet-18 at 224 against its published count, and
the BEV image-backbone count equal to images x one image's count."""
import json
import sys
from pathlib import Path

import pytest
import torch
from mmengine.analysis import get_model_complexity_info

from projects.analysis.complexity import model_complexity
from projects.analysis.samples import build_model, load_analysis_config

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / 'tools' / 'analysis_tools'))
import get_flops  # noqa: E402

# mmpretrain's resnet18_8xb32_in1k model, without its dataset bases
RESNET18 = """
default_scope = 'mmpretrain'
model = dict(
    type='ImageClassifier',
    backbone=dict(type='ResNet', depth=18, num_stages=4, out_indices=(3, ),
                  style='pytorch'),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(type='LinearClsHead', num_classes=1000, in_channels=512,
              loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
              topk=(1, 5)))
"""
BEV = 'configs/bevformer_v2/bevformer-v2_r18_tiny_1xb2-600it_synthetic-nuscenes.py'


def test_resnet18_224_matches_published_count(tmp_path):
    cfg_file = tmp_path / 'resnet18.py'
    cfg_file.write_text(RESNET18)
    out = tmp_path / 'flops.json'
    result = get_flops.main([str(cfg_file), '--shape', '224', '--out', str(out)])
    # torchvision / mmpretrain: 1.82 GFLOPs (multiply-adds), 11.69M params
    assert result['task'] == 'cls' and result['input_shape'] == [224, 224]
    assert result['params'] == 11_689_512
    assert result['flops'] == pytest.approx(1.819e9, rel=2e-3)
    assert json.loads(out.read_text())['flops'] == result['flops']
    assert 'batch_norm' in ' '.join(result['unsupported_ops'])


def test_bev_backbone_counts_every_frame_and_camera():
    cfg = load_analysis_config(str(ROOT / BEV))
    result = model_complexity(cfg, full_bev=False)
    h, w = result['padded_shape']
    assert (h, w) == (64, 160)  # crop 160x64 of the test pipeline
    # 2 frames x 2 cameras through the same backbone + neck
    model = build_model(cfg).eval()
    one = get_model_complexity_info(
        torch.nn.Sequential(model.img_backbone, model.img_neck),
        inputs=(torch.zeros(1, 3, h, w),), show_table=False, show_arch=False)
    assert result['flops'] == 4 * one['flops']
    assert result['params'] == sum(
        p.numel() for m in (model.img_backbone, model.img_neck)
        for p in m.parameters())
    assert '4 images' in result['counted']


def test_missing_config_exits_2_naming_it(tmp_path, capsys):
    missing = tmp_path / 'nope.py'
    with pytest.raises(SystemExit) as exc:
        get_flops.main([str(missing)])
    assert exc.value.code == 2
    assert str(missing) in capsys.readouterr().err
