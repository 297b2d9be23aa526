# DeepLabV3+ R-101-D8 trained with the searched mIoU surrogate loss (Auto
# Seg-Loss) on both heads (decode 1.0, auxiliary 0.4), official retrain
# protocol (see the cross-entropy config). Official VOC val: 80.78 mIoU (2021
# log of these parameters; the README quotes 80.97 from the 2020 log of the
# previous ones, see the *_asl-miou-2020_* config).
_base_ = './deeplabv3plus_r101-d8_ce_4xb8-10k_voc12aug-512x512.py'

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
