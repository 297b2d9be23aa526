# BEVFormer v2 R-50 t8: frames (-7, ..., 0) (3.5 s of key frames), fusion
# width 512. Official bevformerv2-r50-t8-24ep: NDS 0.5528 / mAP 0.4600 on
# nuScenes val, 40392M.
_base_ = './bevformer-v2_r50_t1_16xb1-24e_nuscenes.py'

frames = (-7, -6, -5, -4, -3, -2, -1, 0)
model = dict(
    frames=frames,
    pts_bbox_head=dict(
        transformer=dict(frames=frames, inter_channels=512)))
train_dataloader = dict(dataset=dict(frame_offsets=frames))
val_dataloader = dict(dataset=dict(frame_offsets=frames))
test_dataloader = val_dataloader
