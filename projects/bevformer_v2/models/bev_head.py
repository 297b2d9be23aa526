"""BEV detection head of BEVFormer v2: BEV queries, the transformer, cls/reg
branches per decoder layer, optional Group-DETR queries and the paper's
hybrid queries (perspective proposals as extra object queries)."""
import copy
from typing import Dict, List, Optional

import torch
import torch.nn as nn
from mmcv.cnn import Linear
from mmengine.model import BaseModule, bias_init_with_prob
from mmengine.structures import InstanceData
from torch import Tensor

from mmdet.registry import MODELS, TASK_UTILS
from mmdet.utils import reduce_mean
from .bbox import normalize_bbox
from .decoder import inverse_sigmoid


@MODELS.register_module()
class BEVFormerHead(BaseModule):
    """Args:
        transformer (dict): :class:`PerceptionTransformerV2` config.
        bev_h, bev_w (int): BEV grid size.
        num_query (int): learned queries per group.
        group_detr (int): query groups in training (1 = plain DETR).
        num_classes (int), embed_dims (int), num_reg_fcs (int), code_size (int).
        code_weights (list[float]): per-dim weights of the box loss.
        pc_range (list[float]): BEV range [x0, y0, z0, x1, y1, z1].
        positional_encoding (dict): mmdet ``LearnedPositionalEncoding``.
        bbox_coder (dict): ``NMSFreeCoder``.
        loss_cls, loss_bbox (dict): mmdet losses (focal 2.0, smooth-L1 0.75).
        assigner (dict): ``HungarianAssigner3D``.
        num_proposals (int): hybrid queries fed from the perspective head's
            proposals (0 = off, the released auxiliary-loss-only model).
    """

    def __init__(self, transformer: dict, bev_h: int = 200, bev_w: int = 200,
                 num_query: int = 900, group_detr: int = 1, num_classes: int = 10,
                 embed_dims: int = 256, num_reg_fcs: int = 2, code_size: int = 10,
                 code_weights=(1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.2, 0.2),
                 pc_range=(-51.2, -51.2, -5.0, 51.2, 51.2, 3.0),
                 positional_encoding=dict(type='LearnedPositionalEncoding', num_feats=128),
                 bbox_coder=dict(type='NMSFreeCoder', max_num=300),
                 loss_cls=dict(type='FocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25,
                               loss_weight=2.0),
                 loss_bbox=dict(type='SmoothL1Loss', beta=1.0, loss_weight=0.75),
                 assigner=dict(type='HungarianAssigner3D'),
                 num_proposals: int = 0, with_box_refine: bool = True,
                 init_cfg=None, **kwargs):
        super().__init__(init_cfg)
        self.bev_h, self.bev_w = bev_h, bev_w
        self.num_query, self.group_detr = num_query, group_detr
        self.num_classes, self.embed_dims = num_classes, embed_dims
        self.code_size = code_size
        self.pc_range = list(pc_range)
        self.num_proposals = num_proposals
        self.transformer = MODELS.build(dict(transformer, embed_dims=embed_dims,
                                             pc_range=self.pc_range))
        pe = dict(positional_encoding)
        pe.setdefault('row_num_embed', bev_h)
        pe.setdefault('col_num_embed', bev_w)
        self.positional_encoding = MODELS.build(pe)
        self.bev_embedding = nn.Embedding(bev_h * bev_w, embed_dims)
        self.query_embedding = nn.Embedding(num_query * group_detr, embed_dims * 2)
        if num_proposals > 0:
            # content queries of the proposals stay learned; their positional
            # query is computed from the proposal's BEV centre.
            self.proposal_embedding = nn.Embedding(num_proposals, embed_dims)
            self.proposal_pos = nn.Sequential(
                Linear(3, embed_dims), nn.ReLU(inplace=True), Linear(embed_dims, embed_dims))
        self.code_weights = nn.Parameter(torch.tensor(code_weights), requires_grad=False)
        cls = []
        for _ in range(num_reg_fcs):
            cls += [Linear(embed_dims, embed_dims), nn.LayerNorm(embed_dims),
                    nn.ReLU(inplace=True)]
        cls.append(Linear(embed_dims, num_classes))
        reg = []
        for _ in range(num_reg_fcs):
            reg += [Linear(embed_dims, embed_dims), nn.ReLU()]
        reg.append(Linear(embed_dims, code_size))
        num_pred = self.transformer.decoder.num_layers
        if with_box_refine:
            self.cls_branches = nn.ModuleList(
                [copy.deepcopy(nn.Sequential(*cls)) for _ in range(num_pred)])
            self.reg_branches = nn.ModuleList(
                [copy.deepcopy(nn.Sequential(*reg)) for _ in range(num_pred)])
        else:
            c, r = nn.Sequential(*cls), nn.Sequential(*reg)
            self.cls_branches = nn.ModuleList([c] * num_pred)
            self.reg_branches = nn.ModuleList([r] * num_pred)
        self.with_box_refine = with_box_refine
        bbox_coder = dict(bbox_coder)
        bbox_coder.setdefault('pc_range', self.pc_range)
        bbox_coder.setdefault('num_classes', num_classes)
        self.bbox_coder = TASK_UTILS.build(bbox_coder)
        self.assigner = TASK_UTILS.build(assigner)
        self.loss_cls = MODELS.build(loss_cls)
        self.loss_bbox = MODELS.build(loss_bbox)
        bias = bias_init_with_prob(0.01)
        for m in self.cls_branches:
            nn.init.constant_(m[-1].bias, bias)

    def init_weights(self):
        """The children's init (the transformer's official one), then the
        learned positional encoding back to ``nn.Embedding``'s N(0, 1): the
        official head's ``init_weights`` never ran mmdet's uniform init of it.
        With an ``init_cfg`` of its own the head keeps what that gives."""
        super().init_weights()
        if not self.init_cfg:
            for name in ('row_embed', 'col_embed'):
                nn.init.normal_(getattr(self.positional_encoding, name).weight)

    # ------------------------------------------------------------------ BEV
    def get_bev(self, mlvl_feats: List[Tensor], lidar2img: Tensor, img_shape, pad_shape,
                bda_mat: Optional[Tensor] = None) -> Tensor:
        """One frame's BEV features (B, HW, C)."""
        bs = mlvl_feats[0].shape[0]
        dtype = mlvl_feats[0].dtype
        mask = torch.zeros((bs, self.bev_h, self.bev_w), device=lidar2img.device)
        bev_pos = self.positional_encoding(mask).to(dtype).flatten(2).transpose(1, 2)
        return self.transformer.get_bev_features(
            mlvl_feats, self.bev_embedding.weight.to(dtype), self.bev_h, self.bev_w,
            bev_pos, lidar2img, img_shape, pad_shape, bda_mat)

    # -------------------------------------------------------------- queries
    def _queries(self, bs: int, proposals: Optional[Dict[str, Tensor]]):
        groups = self.group_detr if self.training else 1
        emb = self.query_embedding.weight[:self.num_query * groups]
        query_pos, query = torch.split(emb, self.embed_dims, dim=1)
        ref = self.transformer.reference_points(query_pos).sigmoid()
        query_pos, query, ref = (x[None].expand(bs, -1, -1) for x in (query_pos, query, ref))
        if self.num_proposals == 0:
            return query, query_pos, ref
        # hybrid queries: one proposal block per group, appended to each group
        p_query = self.proposal_embedding.weight[None].expand(bs, -1, -1)
        if proposals is None:
            p_ref = ref.new_zeros(bs, self.num_proposals, 3) + 0.5
            valid = ref.new_zeros(bs, self.num_proposals, dtype=torch.bool)
        else:
            p_ref, valid = proposals['ref_points'], proposals['valid']
        # empty proposal slots sit at the learned references of the first queries
        fill = ref[:, :self.num_proposals]
        if fill.shape[1] < self.num_proposals:
            fill = ref.new_full((bs, self.num_proposals, 3), 0.5)
        p_ref = torch.where(valid[..., None], p_ref.to(ref.dtype), fill)
        p_pos = self.proposal_pos(p_ref)
        nq = self.num_query

        def interleave(a, b):
            a = a.view(bs, groups, nq, -1)
            b = b[:, None].expand(-1, groups, -1, -1)
            return torch.cat([a, b], 2).reshape(bs, groups * (nq + self.num_proposals), -1)

        return interleave(query, p_query), interleave(query_pos, p_pos), interleave(ref, p_ref)

    def forward(self, mlvl_feats: List[Tensor], lidar2img: Tensor, img_shape, pad_shape,
                prev_bevs: Optional[List[Tensor]] = None, bda_mat: Optional[Tensor] = None,
                proposals: Optional[Dict[str, Tensor]] = None,
                cur_bev: Optional[Tensor] = None) -> Dict[str, Tensor]:
        """``cur_bev``: the current frame's BEV if already computed. Returns
        all_cls_scores (L, B, Q, C), all_bbox_preds (L, B, Q, 10),
        bev (B, HW, C) and the initial reference points (B, Q, 3)."""
        bev = cur_bev if cur_bev is not None else self.get_bev(
            mlvl_feats, lidar2img, img_shape, pad_shape, bda_mat)
        bevs = list(prev_bevs or []) + [bev]
        fused = self.transformer.fuse(bevs, self.bev_h, self.bev_w)
        bs = fused.shape[0]
        query, query_pos, init_ref = self._queries(bs, proposals)
        states, refs = self.transformer.decode(
            fused, self.bev_h, self.bev_w, query, query_pos, init_ref,
            self.reg_branches if self.with_box_refine else None)
        r = self.pc_range
        cls_out, reg_out = [], []
        for lvl in range(states.shape[0]):
            ref = init_ref if lvl == 0 else refs[lvl - 1]
            ref = inverse_sigmoid(ref)
            cls = self.cls_branches[lvl](states[lvl])
            tmp = self.reg_branches[lvl](states[lvl])
            xy = (tmp[..., 0:2] + ref[..., 0:2]).sigmoid()
            z = (tmp[..., 4:5] + ref[..., 2:3]).sigmoid()
            x = xy[..., 0:1] * (r[3] - r[0]) + r[0]
            y = xy[..., 1:2] * (r[4] - r[1]) + r[1]
            z = z * (r[5] - r[2]) + r[2]
            reg_out.append(torch.cat([x, y, tmp[..., 2:4], z, tmp[..., 5:]], -1))
            cls_out.append(cls)
        return dict(all_cls_scores=torch.stack(cls_out), all_bbox_preds=torch.stack(reg_out),
                    bev=fused, init_reference=init_ref)

    # ----------------------------------------------------------------- loss
    def _targets(self, cls_scores: Tensor, bbox_preds: Tensor, gt: InstanceData):
        q = cls_scores.shape[0]
        res = self.assigner.assign(bbox_preds, cls_scores, gt.bboxes_3d, gt.labels_3d)
        pos = torch.nonzero(res.gt_inds > 0, as_tuple=False).squeeze(-1)
        labels = cls_scores.new_full((q, ), self.num_classes, dtype=torch.long)
        label_w = cls_scores.new_ones(q)
        bbox_t = bbox_preds.new_zeros(q, self.code_size)
        bbox_w = bbox_preds.new_zeros(q, self.code_size)
        if pos.numel():
            gi = res.gt_inds[pos] - 1
            labels[pos] = gt.labels_3d[gi]
            bbox_t[pos] = normalize_bbox(gt.bboxes_3d[gi].to(bbox_preds.dtype))[:, :self.code_size]
            bbox_w[pos] = 1.0
        return labels, label_w, bbox_t, bbox_w, pos.numel()

    def loss_single(self, cls_scores: Tensor, bbox_preds: Tensor,
                    gts: List[InstanceData]):
        """cls_scores (B, Q, C), bbox_preds (B, Q, 10) of one decoder layer and group."""
        t = [self._targets(c, b, g) for c, b, g in zip(cls_scores, bbox_preds, gts)]
        labels = torch.cat([x[0] for x in t])
        label_w = torch.cat([x[1] for x in t])
        bbox_t = torch.cat([x[2] for x in t])
        bbox_w = torch.cat([x[3] for x in t])
        num_pos = cls_scores.new_tensor(float(sum(x[4] for x in t)))
        cls_avg = reduce_mean(num_pos).clamp(min=1).item()
        cls = cls_scores.reshape(-1, self.num_classes)
        loss_cls = self.loss_cls(cls, labels, label_w, avg_factor=cls_avg)
        num_pos = reduce_mean(num_pos).clamp(min=1).item()
        preds = bbox_preds.reshape(-1, self.code_size)
        finite = torch.isfinite(bbox_t).all(-1)
        bbox_w = bbox_w * self.code_weights * finite[:, None]
        loss_bbox = self.loss_bbox(preds, torch.nan_to_num(bbox_t), bbox_w, avg_factor=num_pos)
        return torch.nan_to_num(loss_cls), torch.nan_to_num(loss_bbox)

    def loss_by_feat(self, outs: Dict[str, Tensor],
                     gts: List[InstanceData]) -> Dict[str, Tensor]:
        all_cls, all_bbox = outs['all_cls_scores'], outs['all_bbox_preds']
        groups = self.group_detr if self.training else 1
        per_group = all_cls.shape[2] // groups
        losses = {}
        num_layers = all_cls.shape[0]
        for lvl in range(num_layers):
            lc, lb = 0., 0.
            for g in range(groups):
                sl = slice(g * per_group, (g + 1) * per_group)
                c, b = self.loss_single(all_cls[lvl][:, sl], all_bbox[lvl][:, sl], gts)
                lc, lb = lc + c / groups, lb + b / groups
            prefix = '' if lvl == num_layers - 1 else f'd{lvl}.'
            losses[f'{prefix}loss_cls'] = lc
            losses[f'{prefix}loss_bbox'] = lb
        return losses

    def predict_by_feat(self, outs: Dict[str, Tensor]) -> List[InstanceData]:
        cls, bbox = outs['all_cls_scores'][-1], outs['all_bbox_preds'][-1]
        return [self.bbox_coder.decode_single(c, b) for c, b in zip(cls, bbox)]
