# UPerNet with InternImage-nano (a CPU test arch: 16/32/64/128 channels,
# depths 1/1/2/1) trained from scratch on synthetic ADE20K (128 px crops) on
# CPU: the end-to-end segmentation check of the backbone. Same heads, data
# and schedule as ../upernet/upernet_r18_tiny_1xb4-200it_synthetic-ade20k.py.
# Real-data counterpart: upernet_internimage-t_8xb2-160k_ade20k-512x512.py.
_base_ = '../upernet/upernet_r18_tiny_1xb4-200it_synthetic-ade20k.py'
custom_imports = dict(imports=['projects.internimage'],
                      allow_failed_imports=False)

model = dict(
    backbone=dict(
        _delete_=True,
        type='InternImage',
        arch='nano',
        out_indices=(0, 1, 2, 3)),
    decode_head=dict(in_channels=[16, 32, 64, 128]),
    auxiliary_head=dict(in_channels=64))
optim_wrapper = dict(paramwise_cfg=dict(flat_decay_mult=0.0))
