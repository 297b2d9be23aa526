# UPerNet with a tiny RevCol (channels 16/32/64/128, 4 columns, reversible
# backward) trained from scratch on synthetic ADE20K (128 px crops) on CPU;
# same heads, data and schedule as upernet/upernet_r18_tiny_1xb4-200it_
# synthetic-ade20k.py. Real-data counterpart:
# upernet_revcol-t_8xb2-amp-160k_ade20k-512x512.py.
_base_ = '../upernet/upernet_r18_tiny_1xb4-200it_synthetic-ade20k.py'
custom_imports = dict(imports=['projects.revcol'], allow_failed_imports=False)

channels = [16, 32, 64, 128]
model = dict(
    backbone=dict(
        _delete_=True,
        type='RevCol',
        arch=dict(channels=channels, layers=[1, 1, 1, 1], num_subnet=4),
        drop_path_rate=0.1,
        save_memory=True,
        out_indices=(0, 1, 2, 3)),
    decode_head=dict(in_channels=channels),
    auxiliary_head=dict(in_channels=channels[2]))
optim_wrapper = dict(
    paramwise_cfg=dict(custom_keys={'.alpha': dict(decay_mult=0.0)}))
