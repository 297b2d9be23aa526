# RetinaNet with a RevCol-T backbone and the released searched PAP loss on
# the AP-Loss/aLRP 512 px protocol: the PAP RetinaNet config with the
# backbone swapped (ImageNet-1k RevCol-T weights, converted with
# tools/model_converters/revcol_to_visionplug.py). No official number: the
# PAP paper uses ResNet-50 only.
_base_ = './retinanet_r50_fpn_pap-loss_8xb8-100e_coco.py'
custom_imports = dict(imports=['projects.pap_loss', 'projects.revcol'],
                      allow_failed_imports=False)

model = dict(
    backbone=dict(
        _delete_=True,
        type='RevCol',
        arch='t',
        drop_path_rate=0.2,
        out_indices=(0, 1, 2, 3),
        init_cfg=dict(type='Pretrained', prefix='backbone.',
                      checkpoint='checkpoints/revcol-t_in1k_visionplug.pth')),
    neck=dict(in_channels=[64, 128, 256, 512]))
# RevCol's official detection optimiser: AdamW with layer-wise lr decay.
optim_wrapper = dict(
    constructor='RevColLayerDecayOptimizerConstructor',
    paramwise_cfg=dict(decay_rate=0.85),
    optimizer=dict(_delete_=True, type='AdamW', lr=1e-4,
                   weight_decay=0.05))
