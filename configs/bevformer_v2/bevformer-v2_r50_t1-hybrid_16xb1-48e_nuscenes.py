# BEVFormer v2 R-50, single frame, the paper's TWO-STAGE detector: the
# perspective head's detections (per-view NMS at IoU 0.75 and top 100 per
# view, BEV NMS at IoU 0.3, global top 100) become hybrid object queries
# (their BEV centres as reference points) next to the 900 learned queries.
# Not in the released code. Paper (Table 3, R50, 48 ep, val, "Perspective &
# BEV"): NDS 0.428 / mAP 0.349.
_base_ = './bevformer-v2_r50_t1-base_16xb1-48e_nuscenes.py'

model = dict(
    use_hybrid_queries=True,
    bev_nms_iou=0.3,
    pts_bbox_head=dict(num_proposals=100),
    fcos3d_bbox_head=dict(
        test_cfg=dict(score_thr=0.05, pre_nms_topk=1000, nms_iou=0.75,
                      max_per_img=100)))
