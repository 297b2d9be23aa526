# Hiera-T ImageNet-1k classifier (HieraDense + linear head, mmpretrain).
# Official: 82.8 top-1 (MAE pre-train + fine-tune; the fine-tuning recipe is
# not released). Evaluate converted weights with
# tools/model_converters/hiera_to_visionplug.py + tools/test.py; the
# training schedule below is mmpretrain's Swin AdamW recipe.
_base_ = [
    'mmpretrain::_base_/datasets/imagenet_bs64_swin_224.py',
    'mmpretrain::_base_/schedules/imagenet_bs1024_adamw_swin.py',
    'mmpretrain::_base_/default_runtime.py',
]
custom_imports = dict(imports=['projects.hiera'], allow_failed_imports=False)

model = dict(
    type='ImageClassifier',
    backbone=dict(type='HieraDense', arch='tiny', img_size=224,
                  out_indices=(), out_type='avg_featmap',
                  drop_path_rate=0.1),
    neck=None,
    head=dict(type='LinearClsHead', num_classes=1000, in_channels=768,
              loss=dict(type='LabelSmoothLoss', label_smooth_val=0.1,
                        mode='original')),
    train_cfg=dict(augments=[dict(type='Mixup', alpha=0.8),
                             dict(type='CutMix', alpha=1.0)]))
train_dataloader = dict(batch_size=128)
