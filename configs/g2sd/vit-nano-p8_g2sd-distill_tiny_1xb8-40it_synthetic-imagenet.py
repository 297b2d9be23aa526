# Tiny CPU check of G2SD specific distillation for classification: a nano
# ViT student with the G2SD distillation token (appended after the patch
# tokens) and two heads learns from ground truth and from the argmax of a
# randomly initialised, frozen nano ViT teacher on synthetic ImageNet
# (5 classes, 56 px). Real-data counterpart:
# vit-small-p16_g2sd-distill_8xb128-coslr-200e_in1k.py.
_base_ = [
    '../_base_/datasets/synthetic_imagenet.py',
    'mmpretrain::_base_/default_runtime.py',
]
custom_imports = dict(imports=['projects.g2sd'], allow_failed_imports=False)

max_iters = 40
crop = 56
num_classes = 1000  # synthetic labels index the 1000 ImageNet classes
data_preprocessor = dict(num_classes=num_classes)
train_dataloader = dict(batch_size=8, num_workers=2)
val_dataloader = dict(batch_size=8, num_workers=2)
test_dataloader = val_dataloader

model = dict(
    type='G2SDImageClassifier',
    backbone=dict(type='G2SDDistilledViT',
                  arch=dict(embed_dims=32, num_layers=2, num_heads=2,
                            feedforward_channels=128),
                  img_size=crop, patch_size=8, final_norm=True),
    neck=None,
    head=dict(type='G2SDDistillClsHead', num_classes=num_classes,
              in_channels=32, distill_type='hard', distill_weight=0.5,
              loss=dict(type='LabelSmoothLoss', label_smooth_val=0.1,
                        mode='original')),
    # random frozen stand-in for the fine-tuned teacher (global pooling, as
    # the official MAE fine-tuned ViT-B)
    teacher=dict(
        type='ImageClassifier',
        backbone=dict(type='VisionTransformer',
                      arch=dict(embed_dims=48, num_layers=2, num_heads=2,
                                feedforward_channels=192),
                      img_size=crop, patch_size=8, final_norm=False,
                      out_type='avg_featmap'),
        neck=None,
        head=dict(type='LinearClsHead', num_classes=num_classes,
                  in_channels=48)),
    save_teacher=False)

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.05),
    paramwise_cfg=dict(custom_keys={
        '.cls_token': dict(decay_mult=0.0),
        '.dist_token': dict(decay_mult=0.0),
        '.pos_embed': dict(decay_mult=0.0)
    }))
param_scheduler = [dict(type='CosineAnnealingLR', by_epoch=False, begin=0,
                        end=max_iters, eta_min=1e-5)]
train_cfg = dict(_delete_=True, type='IterBasedTrainLoop',
                 max_iters=max_iters, val_interval=max_iters)
val_cfg = dict()
test_cfg = dict()
val_evaluator = dict(type='Accuracy', topk=(1, ))
test_evaluator = val_evaluator
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=10),
    checkpoint=dict(type='CheckpointHook', by_epoch=False,
                    interval=max_iters))
log_processor = dict(by_epoch=False)
randomness = dict(seed=0)
