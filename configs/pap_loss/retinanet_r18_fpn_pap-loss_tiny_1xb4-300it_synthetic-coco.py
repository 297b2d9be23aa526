# The tiny synthetic-COCO RetinaNet trained with the released searched PAP
# loss instead of focal + L1 (CPU check of the full path; compare with
# ../retinanet/retinanet_r18_fpn_tiny_1xb4-300it_synthetic-coco.py).
_base_ = '../retinanet/retinanet_r18_fpn_tiny_1xb4-300it_synthetic-coco.py'
custom_imports = dict(imports=['projects.pap_loss'],
                      allow_failed_imports=False)

model = dict(
    bbox_head=dict(
        type='PAPRetinaHead',
        reg_weight=4.1231,  # reg_weight of params/retinanet.json
        loss_pap=dict(
            type='PAPLoss',
            params_file='projects/pap_loss/params/retinanet.json')))
