# Conformer-S/16 ImageNet-1k classifier: mmpretrain's recipe with the dense
# subclass in 'pooled' mode (same outputs as mmpretrain's Conformer).
# Official: 83.4 top-1 (mmpretrain's evaluation of the converted weights:
# 83.32).
_base_ = 'mmpretrain::conformer/conformer-small-p16_8xb128_in1k.py'
custom_imports = dict(imports=['projects.conformer'],
                      allow_failed_imports=False)

model = dict(backbone=dict(type='ConformerDense', out_type='pooled',
                           out_indices=(12, )))
