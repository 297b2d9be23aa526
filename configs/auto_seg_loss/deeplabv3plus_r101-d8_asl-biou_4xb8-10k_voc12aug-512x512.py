# DeepLabV3+ R-101-D8 trained with the searched BIoU surrogate loss (Auto
# Seg-Loss) on both heads (decode 1.0, auxiliary 0.4), official retrain
# protocol (see the cross-entropy config). Official VOC val: 79.27 BIoU (CE
# 70.61).
_base_ = './deeplabv3plus_r101-d8_ce_4xb8-10k_voc12aug-512x512.py'

model = dict(
    decode_head=dict(
        loss_decode=dict(
            _delete_=True, type='AutoSegLoss', target_metric='BIoU',
            params_file='projects/auto_seg_loss/params/biou.json',
            tol=5,
            drop_bg=True,
            loss_weight=1.0)),
    auxiliary_head=dict(
        loss_decode=dict(
            _delete_=True, type='AutoSegLoss', target_metric='BIoU',
            params_file='projects/auto_seg_loss/params/biou.json',
            tol=5,
            drop_bg=True,
            loss_weight=0.4)))
