"""BEVFormer v2 heads: perspective-head decoding of its own targets, NMS-free
coder, Hungarian assigner, hybrid queries from perspective proposals."""
import itertools
import math

import torch
from mmengine.structures import InstanceData

from projects.bevformer_v2.models import (BEVFormerHead, HungarianAssigner3D, NMSFreeCoder,
                                          NuscenesDD3D, encode_proposals, normalize_bbox)

# front camera: x right, y down, z forward = lidar +y
L2C = torch.tensor([[1., 0, 0, 0], [0, 0, -1, 0], [0, 1, 0, 0], [0, 0, 0, 1]])
K = torch.tensor([[120., 0, 96, 0], [0, 120., 48, 0], [0, 0, 1, 0], [0, 0, 0, 1]])


def _mono_gt():
    boxes = torch.tensor([[-2.0, 12.0, -1.2, 4.2, 1.9, 1.6, 0.4, 0., 0.],
                          [3.0, 20.0, -0.8, 0.7, 0.6, 1.8, -2.0, 0., 0.]])
    labels = torch.tensor([3, 6])
    corners = []
    for b in boxes:
        rot, c, s = NuscenesDD3D.gt_camera_boxes(b[None], L2C[None])
        from projects.bevformer_v2.models.geometry import box_corners
        p = box_corners(rot, c, s)[0] @ K[:3, :3].T
        corners.append(p[:, :2] / p[:, 2:3])
    bboxes = torch.stack([torch.cat([c.min(0)[0], c.max(0)[0]]) for c in corners])
    return InstanceData(bboxes=bboxes, labels=labels, bboxes_3d=boxes,
                        attr_labels=torch.tensor([0, -1]), speeds=torch.tensor([2.0, 0.5]))


def test_perspective_head_decodes_its_training_targets():
    torch.manual_seed(0)
    head = NuscenesDD3D(in_channels=8, strides=(8, 16), num_convs=1,
                        sizes_of_interest=((-1, 48), (48, 1e8)),
                        test_cfg=dict(score_thr=0.5, pre_nms_topk=100, nms_iou=0.75,
                                      max_per_img=10)).double().eval()
    feats = [torch.randn(1, 8, 12, 24, dtype=torch.float64),
             torch.randn(1, 8, 6, 12, dtype=torch.float64)]
    out = head(feats)
    gt = _mono_gt()
    gt.bboxes_3d = gt.bboxes_3d.double()
    locs, lvls = head.locations([f.shape[-2:] for f in feats], 'cpu')
    locs = locs.double()
    labels, ltrb, gidx = head.get_targets(locs, lvls, gt)
    pos = (labels < head.num_classes).nonzero()[:, 0]
    assert set(labels[pos].tolist()) == {3, 6}
    # write the ideal outputs (the encoded targets) at the positive locations
    lab, gi = labels[pos], gidx[pos]
    rot, c, s = head.gt_camera_boxes(gt.bboxes_3d[gi], L2C[None].double().expand(len(gi), 4, 4))
    inv_k = torch.linalg.inv(K[:3, :3].double())[None].expand(len(gi), 3, 3)
    quat, ctr, depth, size = head.encode_3d(rot, c, s, locs[pos], inv_k, lab)
    n_per = [f.shape[-2] * f.shape[-1] for f in feats]
    starts = [0, n_per[0]]
    flat = {k: [x.flatten(2).transpose(1, 2).clone() for x in v] for k, v in out.items()}
    for k in flat:
        for lvl in range(2):
            flat[k][lvl][:] = 0
    for lvl in range(2):
        flat['cls'][lvl][:] = -20.
        flat['centerness'][lvl][:] = 20.
    for j, p in enumerate(pos.tolist()):
        lvl = int(lvls[p])
        i, cl = p - starts[lvl], int(lab[j])
        flat['cls'][lvl][0, i, cl] = 20. if j else 10.
        flat['box2d'][lvl][0, i] = ltrb[p]
        for key, val in (('quat', quat[j]), ('ctr', ctr[j]), ('size', size[j])):
            k = val.numel()
            flat[key][lvl][0, i].view(k, head.num_classes)[:, cl] = val
        flat['depth'][lvl][0, i, cl] = depth[j]
    outs = {k: [x.transpose(1, 2).reshape(f.shape[0], -1, *f.shape[-2:])
                for x, f in zip(v, feats)] for k, v in flat.items()}
    res = head.predict(outs, K[None].double(), L2C[None].double())[0]
    # 2D NMS (IoU .75) leaves one detection per object, decoded to its GT box
    assert sorted(res.labels.tolist()) == [3, 6]
    for lab_, b3d in zip(res.labels, res.bboxes_3d):
        j = 0 if lab_ == 3 else 1
        torch.testing.assert_close(b3d[:7], gt.bboxes_3d[j, :7], atol=1e-6, rtol=0)
        torch.testing.assert_close(res.bboxes[res.labels == lab_][0], gt.bboxes[j].double(),
                                   atol=1e-6, rtol=0)
    # at the ideal outputs the four disentangled 3D losses vanish
    gt.bboxes = gt.bboxes.double()
    losses = head.loss(outs, [gt], K[None].double(), L2C[None].double())
    for k in ('quat', 'proj_ctr', 'depth', 'size'):
        assert losses[f'loss_box3d_{k}'] < 1e-8, k
    assert losses['loss_box2d_reg'] < 1e-6


def test_perspective_loss_clamp_is_applied():
    head = NuscenesDD3D(in_channels=4, strides=(8, ), num_convs=1,
                        sizes_of_interest=((-1, 1e8), ), max_loss_per_group=0.01)
    head2 = NuscenesDD3D(in_channels=4, strides=(8, ), num_convs=1,
                         sizes_of_interest=((-1, 1e8), ), max_loss_per_group=1e9)
    head2.load_state_dict(head.state_dict())
    feats = [torch.randn(1, 4, 12, 24)]
    gt = _mono_gt()
    a = head.loss(head(feats), [gt], K[None], L2C[None])
    b = head2.loss(head2(feats), [gt], K[None], L2C[None])
    # each corner term is bounded by the clamp: loss <= 2.0 * 0.01 (centerness-weighted mean)
    assert a['loss_box3d_depth'] <= 2.0 * 0.01 + 1e-6 < b['loss_box3d_depth']


def test_nms_free_coder_topk_and_range():
    coder = NMSFreeCoder(pc_range=[-50, -50, -5, 50, 50, 3], max_num=3, num_classes=4,
                         post_center_range=[-10, -10, -10, 10, 10, 10])
    cls = torch.full((5, 4), -10.)
    cls[2, 1], cls[0, 3], cls[4, 0], cls[1, 2] = 5., 4., 3., 2.
    boxes = torch.tensor([[0., 0, 0, 4, 2, 1.5, 0.3, 1, 0]]).repeat(5, 1)
    boxes[4, 0] = 30.  # third best: outside post_center_range
    res = coder.decode_single(cls, normalize_bbox(boxes))
    assert res.labels_3d.tolist() == [1, 3] and res.query_index.tolist() == [2, 0]
    torch.testing.assert_close(res.bboxes_3d, boxes[[2, 0]])  # bottom z restored
    torch.testing.assert_close(res.scores_3d, torch.tensor([5., 4.]).sigmoid())


def test_hungarian_matches_brute_force():
    torch.manual_seed(0)
    assigner = HungarianAssigner3D()
    nq, ng = 5, 3
    cls = torch.randn(nq, 10)
    gt = torch.rand(ng, 9) * 4 + 0.5
    labels = torch.tensor([1, 4, 7])
    pred = normalize_bbox(torch.rand(nq, 9) * 4 + 0.5)
    res = assigner.assign(pred, cls, gt, labels)
    cost = (assigner.cls_cost(InstanceData(scores=cls), InstanceData(labels=labels))
            + assigner.reg_cost(pred[:, :8], normalize_bbox(gt)[:, :8]))
    best = min(itertools.permutations(range(nq), ng),
               key=lambda p: sum(cost[q, g] for g, q in enumerate(p)))
    assert (res.gt_inds > 0).sum() == ng
    for g, q in enumerate(best):
        assert res.gt_inds[q] == g + 1 and res.labels[q] == labels[g]
    # a perfect prediction is matched to its GT
    pred2 = pred.clone()
    pred2[3] = normalize_bbox(gt[1:2])[0]
    cls2 = cls.clone()
    cls2[3] = -10
    cls2[3, 4] = 10
    assert assigner.assign(pred2, cls2, gt, labels).gt_inds[3] == 2
    # no GT: everything background
    empty = assigner.assign(pred, cls, gt[:0], labels[:0])
    assert (empty.gt_inds == 0).all()


def test_hybrid_queries_carry_the_proposals_bev_positions():
    pc = [-20., -20., -5., 20., 20., 3.]
    head = BEVFormerHead(
        transformer=dict(type='PerceptionTransformerV2', num_feature_levels=1, num_cams=2,
                         encoder=dict(num_layers=1, pc_range=pc, feedforward_channels=16,
                                      tsa_cfg=dict(num_heads=2),
                                      sca_cfg=dict(deformable_attention=dict(
                                          num_heads=2, num_levels=1, num_points=4))),
                         decoder=dict(num_layers=1, num_heads=2, feedforward_channels=16,
                                      group=2, cross_attn_cfg=dict(num_heads=2))),
        bev_h=4, bev_w=4, num_query=3, group_detr=2, embed_dims=8, num_proposals=2,
        pc_range=pc, positional_encoding=dict(type='LearnedPositionalEncoding', num_feats=4))
    # two cameras see the same car (duplicate removed by BEV NMS) and a pedestrian
    car = torch.tensor([[4.0, 8.0, -1.0, 4.0, 2.0, 1.6, 0.1, 0., 0.]])
    ped = torch.tensor([[-6.0, -10.0, -1.0, 0.7, 0.6, 1.8, 0.0, 0., 0.]])
    dets = [[InstanceData(bboxes_3d=torch.cat([car, ped]), scores_3d=torch.tensor([.9, .5])),
             InstanceData(bboxes_3d=car + 0.05, scores_3d=torch.tensor([.8]))],
            [InstanceData(bboxes_3d=ped, scores_3d=torch.tensor([.7])),
             InstanceData(bboxes_3d=car[:0], scores_3d=torch.zeros(0))]]
    props = encode_proposals(dets, pc, num_proposals=2, bev_nms_iou=0.3)
    assert props['valid'].tolist() == [[True, True], [True, False]]

    def norm(b):
        return (torch.tensor([b[0], b[1], b[2] + b[5] / 2]) - torch.tensor(pc[:3])) / 40

    expect = norm(car[0]) * torch.tensor([1, 1, 40 / 8])
    torch.testing.assert_close(props['ref_points'][0, 0], expect)
    # with a BEV augmentation (here flip x) the centres follow the GT boxes
    flip = torch.eye(4).repeat(2, 1, 1)
    flip[:, 0, 0] = -1
    flipped = encode_proposals(dets, pc, 2, 0.3, bda_mat=flip)['ref_points']
    v = props['valid']
    torch.testing.assert_close(flipped[..., 0][v], 1 - props['ref_points'][..., 0][v])
    head.train()
    query, pos, ref = head._queries(2, props)
    assert query.shape[1] == 2 * (3 + 2)  # every group: 3 learned + 2 hybrid queries
    for g in range(2):
        blk = slice(g * 5 + 3, g * 5 + 5)
        torch.testing.assert_close(ref[0, blk], props['ref_points'][0])
        torch.testing.assert_close(ref[1, g * 5 + 3], props['ref_points'][1, 0])
        # the empty slot falls back to a learned reference point
        torch.testing.assert_close(ref[1, g * 5 + 4], ref[1, 1])
    assert not torch.allclose(pos[0, 3], pos[1, 3])  # positional query follows the centre
    head.eval()
    assert head._queries(2, props)[2].shape[1] == 5


def test_group_detr_identical_groups_equal_one_group():
    torch.manual_seed(0)
    pc = [-20., -20., -5., 20., 20., 3.]
    kw = dict(transformer=dict(type='PerceptionTransformerV2', num_feature_levels=1,
                               num_cams=1, encoder=dict(num_layers=1, pc_range=pc),
                               decoder=dict(num_layers=2)),
              bev_h=2, bev_w=2, num_query=4, embed_dims=16, pc_range=pc,
              positional_encoding=dict(type='LearnedPositionalEncoding', num_feats=8))
    h1 = BEVFormerHead(group_detr=1, **kw).train()
    cls = torch.randn(2, 1, 4, 10)
    reg = normalize_bbox(torch.rand(8, 9) * 3 + 0.5).view(2, 1, 4, 10)
    gts = [InstanceData(bboxes_3d=torch.rand(2, 9) * 3 + 0.5, labels_3d=torch.tensor([0, 5]))]
    a = h1.loss_by_feat(dict(all_cls_scores=cls, all_bbox_preds=reg), gts)
    h3 = BEVFormerHead(group_detr=3, **kw).train()
    b = h3.loss_by_feat(dict(all_cls_scores=cls.repeat(1, 1, 3, 1),
                             all_bbox_preds=reg.repeat(1, 1, 3, 1)), gts)
    assert set(a) == {'loss_cls', 'loss_bbox', 'd0.loss_cls', 'd0.loss_bbox'}
    for k in a:
        torch.testing.assert_close(a[k], b[k])
    assert math.isfinite(float(a['loss_bbox'])) and a['loss_bbox'] > 0


def test_bev_head_init_as_official():
    """After ``init_weights`` (as the runner calls it) the learned positional
    encoding is N(0, 1) (the official never applied mmdet's uniform init), the
    class bias has the 0.01 prior and the transformer has its official init."""
    torch.manual_seed(0)
    pc = [-20., -20., -5., 20., 20., 3.]
    head = BEVFormerHead(
        transformer=dict(type='PerceptionTransformerV2', num_feature_levels=1, num_cams=1,
                         encoder=dict(num_layers=1, pc_range=pc), decoder=dict(num_layers=1)),
        bev_h=40, bev_w=40, num_query=4, embed_dims=32, pc_range=pc,
        positional_encoding=dict(type='LearnedPositionalEncoding', num_feats=16))
    head.init_weights()
    pos = torch.cat([head.positional_encoding.row_embed.weight.flatten(),
                     head.positional_encoding.col_embed.weight.flatten()])
    assert float(pos.min()) < -1.5 and abs(float(pos.std()) - 1) < 0.1
    torch.testing.assert_close(head.cls_branches[0][-1].bias,
                               torch.full((10, ), -math.log(99.)))
    # the transformer's level embeddings are xavier-uniform after its init
    bound = math.sqrt(6 / (1 + 32))
    assert float(head.transformer.level_embeds.abs().max()) <= bound
