# UPerNet with RevCol-H on ADE20K, the recipe of
# upernet_revcol-h_8xb1-amp-160k_ade20k-640x640.py (official: 57.8 mIoU
# single-scale / 58.0 multi-scale, 2421M parameters) trained fully sharded
# (FSDP, mmengine's FlexibleRunner; launch with tools/dist_train.sh): one
# FSDP unit per column holding one per level (RevCol-H: 8 columns x 4
# levels; the stem and the heads form the root unit; the column shortcut
# scales stay in their column's unit, which is sharded when RevCol clamps
# them in place before the column runs), bf16 compute with fp32 gradient
# reduction instead of fp16 with loss scaling, bf16 autocast for the
# losses, plain full checkpoints (state_dict_cfg='full'). Plain backward
# (save_memory=False) as the official segmentation recipe: the reversible
# backward recomputes columns outside FSDP's hooks.
# Peak memory per GPU, FSDP vs DDP: tools/analysis_tools/
# benchmark_fsdp_memory.py (a step of tools/analysis_tools/gpu_benchmarks.sh).
_base_ = './upernet_revcol-h_8xb1-amp-160k_ade20k-640x640.py'
custom_imports = dict(imports=['projects.revcol', 'projects.run_config'],
                      allow_failed_imports=False)

optim_wrapper = dict(
    _delete_=True,
    type='AmpOptimWrapper',
    dtype='bfloat16',
    constructor='RevColLayerDecayOptimizerConstructor',
    paramwise_cfg=dict(decay_rate=0.9),
    optimizer=dict(
        type='AdamW', lr=4e-5, betas=(0.9, 0.999), weight_decay=0.01))

runner_type = 'FlexibleRunner'
strategy = dict(
    type='FSDPStrategy',
    model_wrapper=dict(
        auto_wrap_policy=dict(
            type='wrap_module_classes',
            classes=['projects.revcol.revcol.RevColumn',
                     'projects.revcol.revcol.Level']),
        mixed_precision=dict(param_dtype='bfloat16', reduce_dtype='float32',
                             buffer_dtype='float32')),
    state_dict_cfg='full')
