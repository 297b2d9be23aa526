# UPerNet with a VisionPlug backbone (RevCol-T, ImageNet-1k pretrained; the
# RevCol project's ADE20K recipe: 160k iterations, 8 GPUs x 2, AdamW, fp16)
# trained with the searched mIoU surrogate on both heads (decode 1.0,
# auxiliary 0.4) instead of cross-entropy. Cross-entropy counterpart:
# ../revcol/upernet_revcol-t_8xb2-amp-160k_ade20k-512x512.py (official
# RevCol-T 47.4 mIoU). The loss is computed in float32 inside autocast.
_base_ = '../revcol/upernet_revcol-t_8xb2-amp-160k_ade20k-512x512.py'
custom_imports = dict(imports=['projects.revcol', 'projects.auto_seg_loss'],
                      allow_failed_imports=False)

model = dict(
    decode_head=dict(
        loss_decode=dict(
            _delete_=True, type='AutoSegLoss', target_metric='mIoU',
            params_file='projects/auto_seg_loss/params/miou.json',
            loss_weight=1.0)),
    auxiliary_head=dict(
        loss_decode=dict(
            _delete_=True, type='AutoSegLoss', target_metric='mIoU',
            params_file='projects/auto_seg_loss/params/miou.json',
            loss_weight=0.4)))
