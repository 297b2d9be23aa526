# BEVFormer v2 R-50 t2: frames (-1, 0); the history BEV is recomputed without
# grad, channel-concatenated with the current one and fused by ResNetFusion.
# Official bevformerv2-r50-t2-24ep: NDS 0.5182 / mAP 0.4199 on nuScenes val,
# 38954M.
_base_ = './bevformer-v2_r50_t1_16xb1-24e_nuscenes.py'

frames = (-1, 0)
model = dict(
    frames=frames,
    pts_bbox_head=dict(transformer=dict(frames=frames)))
train_dataloader = dict(dataset=dict(frame_offsets=frames))
val_dataloader = dict(dataset=dict(frame_offsets=frames))
test_dataloader = val_dataloader
