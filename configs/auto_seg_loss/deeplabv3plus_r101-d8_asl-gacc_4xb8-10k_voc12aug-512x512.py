# DeepLabV3+ R-101-D8 trained with the searched gAcc surrogate loss (Auto
# Seg-Loss) on both heads (decode 1.0, auxiliary 0.4), official retrain
# protocol (see the cross-entropy config). Official VOC val: 95.22 gAcc (CE
# 95.17); decode and auxiliary heads use the two parameter sets of the log.
_base_ = './deeplabv3plus_r101-d8_ce_4xb8-10k_voc12aug-512x512.py'

model = dict(
    decode_head=dict(
        loss_decode=dict(
            _delete_=True, type='AutoSegLoss', target_metric='gAcc',
            params_file='projects/auto_seg_loss/params/gacc.json',
            loss_weight=1.0)),
    auxiliary_head=dict(
        loss_decode=dict(
            _delete_=True, type='AutoSegLoss', target_metric='gAcc',
            params_file='projects/auto_seg_loss/params/gacc_auxiliary.json',
            loss_weight=0.4)))
