# bevformer-v2_internimage-xl_t8-hybrid_32xb1-24e_nuscenes.py (paper Table 1,
# nuScenes test: NDS 0.634 / mAP 0.556, see there) trained fully sharded
# (FSDP, mmengine's FlexibleRunner; launch with tools/dist_train.sh): one
# FSDP unit per InternImage block, BEV encoder layer and decoder layer (the
# perspective head, the temporal fusion and the prediction branches form
# the root unit); bf16 compute with fp32 gradient reduction; bf16 autocast,
# so that the matching costs (scipy's Hungarian assignment) and losses are
# computed in fp32; plain full checkpoints (state_dict_cfg='full').
_base_ = './bevformer-v2_internimage-xl_t8-hybrid_32xb1-24e_nuscenes.py'
custom_imports = dict(
    imports=['projects.bevformer_v2', 'projects.internimage',
             'projects.run_config'],
    allow_failed_imports=False)

optim_wrapper = dict(type='AmpOptimWrapper', dtype='bfloat16')

runner_type = 'FlexibleRunner'
strategy = dict(
    type='FSDPStrategy',
    model_wrapper=dict(
        auto_wrap_policy=dict(
            type='wrap_module_classes',
            classes=[
                'projects.internimage.internimage.InternImageLayer',
                'projects.bevformer_v2.models.encoder.BEVFormerLayer',
                'projects.bevformer_v2.models.decoder.DetrDecoderLayer'
            ]),
        mixed_precision=dict(param_dtype='bfloat16', reduce_dtype='float32',
                             buffer_dtype='float32')),
    state_dict_cfg='full')
