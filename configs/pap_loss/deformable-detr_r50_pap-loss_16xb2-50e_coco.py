# Deformable DETR R-50 trained with the PAP loss instead of focal + L1 +
# GIoU (mmdet's 50-epoch, 16 GPUs x 2 images recipe). The paper reports PAP
# on Deformable DETR but releases neither code, parameters nor numbers:
# positives come from the head's Hungarian matching (see
# projects/pap_loss/detr_heads.py) and the loss uses the RetinaNet search
# result as a starting point. Not reproduced; no official number.
_base_ = 'mmdet::deformable_detr/deformable-detr_r50_16xb2-50e_coco.py'
custom_imports = dict(imports=['projects.pap_loss'],
                      allow_failed_imports=False)

model = dict(
    bbox_head=dict(
        type='PAPDeformableDETRHead',
        reg_weight=1.0,
        reg_input='giou',
        loss_pap=dict(type='PAPLoss',
                      params_file='projects/pap_loss/params/retinanet.json')))
