"""Perspective (DD3D / FCOS3D-style) head of BEVFormer v2, for training AND
inference.

Dense per-location outputs on every FPN level: class logits, 2D box (ltrb),
centerness, and class-specific 3D outputs (allocentric quaternion, projected
centre offset, depth with per-level priors scaled by the focal length, size
relative to a canonical per-class size, 3D confidence), plus nuScenes
attribute logits and speed. Inference decodes them to 3D boxes in the lidar
frame of the project convention.
"""
from typing import Dict, List, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import build_norm_layer
from mmcv.ops import batched_nms
from mmengine.model import BaseModule
from mmengine.structures import InstanceData
from torch import Tensor

from mmdet.models.losses.focal_loss import py_sigmoid_focal_loss
from mmdet.registry import MODELS
from mmdet.utils import reduce_mean
from .geometry import (box_corners, matrix_to_quat, quat_to_matrix, ray_rotation, rot_z,
                       unproject)

INF = 1e8

# DD3D's nuScenes canonical sizes, converted from (w, l, h) to our (l, w, h).
CANON_SIZES_LWH = [
    [0.5062202, 2.3524184, 1.0413622], [1.7016163, 0.61416006, 1.3054738],
    [10.725025, 2.9139307, 3.2832346], [4.641267, 1.9751819, 1.74352],
    [6.565072, 2.772134, 3.2474296], [2.138673, 0.7800532, 1.4437162],
    [0.7181772, 0.6667362, 1.7616143], [0.4027083, 0.40246472, 1.0084083],
    [12.8197, 3.0059454, 4.1213827], [6.9310856, 2.4986045, 2.8382742]]


class Scale(nn.Module):
    """Learnable scalar factor, a (1,) parameter as DD3D's (mmcv's is 0-d)."""

    def __init__(self, init_value: float = 1.):
        super().__init__()
        self.scale = nn.Parameter(torch.tensor([float(init_value)]))

    def forward(self, x):
        return x * self.scale


class Offset(nn.Module):
    """Learnable scalar offset, a (1,) parameter as DD3D's."""

    def __init__(self, init_value: float = 0.):
        super().__init__()
        self.bias = nn.Parameter(torch.tensor([float(init_value)]))

    def forward(self, x):
        return x + self.bias


def giou_loss_ltrb(pred: Tensor, target: Tensor) -> Tensor:
    """DD3D's GIoU loss on (l, t, r, b) distances from the same location,
    with its +1 smoothing of the IoU: 1 - ((I + 1) / (U + 1) - (C - U) / C)."""
    pa = (pred[:, 0] + pred[:, 2]) * (pred[:, 1] + pred[:, 3])
    ta = (target[:, 0] + target[:, 2]) * (target[:, 1] + target[:, 3])
    lo, hi = torch.minimum(pred, target), torch.maximum(pred, target)
    inter = (lo[:, 0] + lo[:, 2]) * (lo[:, 1] + lo[:, 3])
    enclose = (hi[:, 0] + hi[:, 2]) * (hi[:, 1] + hi[:, 3])
    union = ta + pa - inter
    return 1 - ((inter + 1.0) / (union + 1.0) - (enclose - union) / enclose)


class LevelConv(nn.Conv2d):
    """3x3 conv + per-FPN-level BatchNorm (``norm.{level}``) + ReLU."""

    def __init__(self, channels: int, num_levels: int, norm_cfg=dict(type='BN')):
        super().__init__(channels, channels, 3, 1, 1, bias=False)
        self.norm = nn.ModuleList([build_norm_layer(norm_cfg, channels)[1]
                                   for _ in range(num_levels)])
        nn.init.kaiming_normal_(self.weight, mode='fan_out', nonlinearity='relu')

    def forward(self, x: Tensor, level: int) -> Tensor:
        return F.relu(self.norm[level](super().forward(x)))


def _conv(cin, cout, bias=True):
    conv = nn.Conv2d(cin, cout, 3, 1, 1, bias=bias)
    nn.init.kaiming_uniform_(conv.weight, a=1)
    if bias:
        nn.init.constant_(conv.bias, 0)
    return conv


class FCOS2DHead(nn.Module):

    def __init__(self, num_classes, channels, strides, num_convs=4, norm_cfg=dict(type='BN')):
        super().__init__()
        n = len(strides)
        self.cls_tower = nn.ModuleList([LevelConv(channels, n, norm_cfg) for _ in range(num_convs)])
        self.box2d_tower = nn.ModuleList(
            [LevelConv(channels, n, norm_cfg) for _ in range(num_convs)])
        self.cls_logits = _conv(channels, num_classes)
        self.box2d_reg = _conv(channels, 4)
        self.centerness = _conv(channels, 1)
        self.scales_box2d_reg = nn.ModuleList([Scale(float(s)) for s in strides])

    def forward(self, feats):
        logits, reg, ctr, towers = [], [], [], []
        for lvl, x in enumerate(feats):
            c = x
            for conv in self.cls_tower:
                c = conv(c, lvl)
            b = x
            for conv in self.box2d_tower:
                b = conv(b, lvl)
            towers.append(c)
            logits.append(self.cls_logits(c))
            ctr.append(self.centerness(b))
            reg.append(F.relu(self.scales_box2d_reg[lvl](self.box2d_reg(b))))
        return logits, reg, ctr, towers


class FCOS3DHead(nn.Module):

    def __init__(self, num_classes, channels, strides, mean_depth_per_level,
                 std_depth_per_level, num_convs=4, norm_cfg=dict(type='BN'),
                 depth_scale_init_factor=0.3):
        super().__init__()
        n = len(strides)
        self.register_buffer('mean_depth_per_level', torch.tensor(mean_depth_per_level))
        self.register_buffer('std_depth_per_level', torch.tensor(std_depth_per_level))
        self.box3d_tower = nn.ModuleList(
            [LevelConv(channels, n, norm_cfg) for _ in range(num_convs)])
        c = num_classes
        self.box3d_quat = nn.ModuleList([_conv(channels, 4 * c)])
        self.box3d_ctr = nn.ModuleList([_conv(channels, 2 * c)])
        self.box3d_depth = nn.ModuleList([_conv(channels, c, bias=False)])
        self.box3d_size = nn.ModuleList([_conv(channels, 3 * c)])
        self.box3d_conf = nn.ModuleList([_conv(channels, c)])
        self.scales_proj_ctr = nn.ModuleList([Scale(float(s)) for s in strides])
        self.scales_size = nn.ModuleList([Scale(1.0) for _ in strides])
        self.scales_conf = nn.ModuleList([Scale(1.0) for _ in strides])
        self.scales_depth = nn.ModuleList(
            [Scale(float(s) * depth_scale_init_factor) for s in std_depth_per_level])
        self.offsets_depth = nn.ModuleList([Offset(float(m)) for m in mean_depth_per_level])

    def forward(self, feats):
        out = {k: [] for k in ('quat', 'ctr', 'depth', 'size', 'conf')}
        for lvl, x in enumerate(feats):
            for conv in self.box3d_tower:
                x = conv(x, lvl)
            out['quat'].append(self.box3d_quat[0](x))
            out['ctr'].append(self.scales_proj_ctr[lvl](self.box3d_ctr[0](x)))
            out['depth'].append(self.offsets_depth[lvl](self.scales_depth[lvl](
                self.box3d_depth[0](x))))
            out['size'].append(self.scales_size[lvl](self.box3d_size[0](x)))
            out['conf'].append(self.scales_conf[lvl](self.box3d_conf[0](x)))
        return out


def _flat(xs: List[Tensor], k: int) -> Tensor:
    """list of (B, k*C, H, W) -> (B, sum HW, k*C) (channels kept in order)."""
    return torch.cat([x.flatten(2).transpose(1, 2) for x in xs], 1)


@MODELS.register_module()
class NuscenesDD3D(BaseModule):
    """Perspective head (official registry name).

    Args:
        num_classes (int), in_channels (int), strides (list[int]).
        sizes_of_interest (list[tuple]): FCOS size range per level (max ltrb).
        center_sample_radius (float): centre sampling radius, in strides.
        mean_depth_per_level / std_depth_per_level (list[float]): depth priors.
        canon_box_sizes (list): per-class (l, w, h) canonical sizes.
        num_attrs (int): attribute logits: the attribute id within the class
            (0..2), as the official's ``MAX_NUM_ATTRIBUTES = 3``.
        box3d_loss_weight (float), conf3d_loss_weight (float),
        smooth_l1_beta (float), max_loss_per_group (float): 3D loss settings
            (official 2.0, 1.0, 0.05, 20; the clamp is applied).
        attr_loss_weight / speed_loss_weight (float): 0.2 each.
        attr_loss_weighted (bool): True: per-location cross-entropy weighted
            by the centerness target (as the speed loss). False: the
            official's, the mean cross-entropy over the valid locations
            (``F.cross_entropy``'s default reduction; the centerness weights
            then cancel out).
        box3d_smooth_l1_over_beta (bool): the 3D corner loss's quadratic part
            is 0.5 n^2 / beta (True, continuous) or the official 0.5 n^2.
        feature_locations_offset (str): 'none' (official): locations at
            ``index * stride``; 'half': at the stride cell centres.
        test_cfg (dict): score_thr, pre_nms_topk, nms_iou (per view), max_per_img.
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 256,
                 strides: Sequence[int] = (8, 16, 32, 64, 128),
                 sizes_of_interest=((-1, 64), (64, 128), (128, 256), (256, 512), (512, INF)),
                 center_sample_radius: float = 1.5, num_convs: int = 4,
                 norm_cfg=dict(type='BN'),
                 mean_depth_per_level=(44.921, 20.252, 11.712, 7.166, 8.548),
                 std_depth_per_level=(24.331, 9.833, 6.223, 4.611, 8.275),
                 canon_box_sizes=CANON_SIZES_LWH, min_depth: float = 0.1,
                 max_depth: float = 80.0, depth_focal_factor: float = 500.0,
                 num_attrs: int = 3, box3d_loss_weight: float = 2.0,
                 conf3d_loss_weight: float = 1.0, conf3d_temperature: float = 1.0,
                 smooth_l1_beta: float = 0.05, max_loss_per_group: float = 20.0,
                 attr_loss_weight: float = 0.2, speed_loss_weight: float = 0.2,
                 attr_loss_weighted: bool = True, feature_locations_offset: str = 'none',
                 box3d_smooth_l1_over_beta: bool = True,
                 test_cfg=dict(score_thr=0.05, pre_nms_topk=1000, nms_iou=0.75,
                               max_per_img=100), init_cfg=None):
        super().__init__(init_cfg)
        self.num_classes = num_classes
        self.strides = list(strides)
        n = len(self.strides)
        self.sizes_of_interest = [tuple(s) for s in sizes_of_interest][:n]
        self.radius = center_sample_radius
        self.fcos2d_head = FCOS2DHead(num_classes, in_channels, strides, num_convs, norm_cfg)
        self.fcos3d_head = FCOS3DHead(num_classes, in_channels, strides,
                                      list(mean_depth_per_level)[:n],
                                      list(std_depth_per_level)[:n], num_convs, norm_cfg)
        self.attr_logits = _conv(in_channels, num_attrs)
        self.speed = _conv(in_channels, 1)
        self.register_buffer('canon_box_sizes', torch.tensor(canon_box_sizes, dtype=torch.float64),
                             persistent=False)
        self.min_depth, self.max_depth = min_depth, max_depth
        self.depth_focal_factor = depth_focal_factor
        self.box3d_loss_weight = box3d_loss_weight
        self.conf3d_loss_weight = conf3d_loss_weight
        self.conf3d_temperature = conf3d_temperature
        self.beta = smooth_l1_beta
        self.max_loss_per_group = max_loss_per_group
        self.attr_loss_weight = attr_loss_weight
        self.speed_loss_weight = speed_loss_weight
        self.attr_loss_weighted = attr_loss_weighted
        self.box3d_smooth_l1_over_beta = box3d_smooth_l1_over_beta
        if feature_locations_offset not in ('none', 'half'):
            raise ValueError(f"feature_locations_offset must be 'none' or 'half', "
                             f'got {feature_locations_offset!r}')
        self.feature_locations_offset = feature_locations_offset
        self.test_cfg = dict(test_cfg)

    # -------------------------------------------------------------- forward
    def forward(self, feats: List[Tensor]) -> Dict[str, List[Tensor]]:
        """feats: per level (M, C, H, W), M = images (cameras). Returns dense maps."""
        logits, reg, ctr, towers = self.fcos2d_head(feats)
        out = self.fcos3d_head(feats)
        out.update(cls=logits, box2d=reg, centerness=ctr,
                   attr=[self.attr_logits(t) for t in towers],
                   speed=[F.relu(self.speed(t)) for t in towers])
        return out

    def locations(self, feats_or_shapes, device) -> Tensor:
        """Locations of all levels (sum HW, 2) and their level index: the
        top-left corner of each stride cell (DD3D ``feature_locations_offset
        ='none'``, the released configs) or its centre (``'half'``)."""
        locs, lvls = [], []
        for lvl, (h, w) in enumerate(feats_or_shapes):
            s = self.strides[lvl]
            off = s // 2 if self.feature_locations_offset == 'half' else 0
            ys, xs = torch.meshgrid(torch.arange(h, device=device) * s + off,
                                    torch.arange(w, device=device) * s + off, indexing='ij')
            locs.append(torch.stack([xs.reshape(-1), ys.reshape(-1)], -1).float())
            lvls.append(torch.full((h * w, ), lvl, device=device, dtype=torch.long))
        return torch.cat(locs), torch.cat(lvls)

    # -------------------------------------------------------------- targets
    def get_targets(self, locs: Tensor, lvls: Tensor, gt: InstanceData):
        """FCOS assignment for one image: centre sampling, size ranges, the
        smallest-area GT wins. Returns labels (L,) (num_classes = bg),
        ltrb (L, 4) and gt index (L,)."""
        num = locs.shape[0]
        boxes = gt.bboxes.to(locs.dtype)
        if boxes.shape[0] == 0:
            return (locs.new_full((num, ), self.num_classes, dtype=torch.long),
                    locs.new_zeros(num, 4), locs.new_zeros(num, dtype=torch.long))
        x, y = locs[:, 0:1], locs[:, 1:2]
        ltrb = torch.stack([x - boxes[:, 0], y - boxes[:, 1], boxes[:, 2] - x,
                            boxes[:, 3] - y], -1)  # (L, k, 4)
        stride = locs.new_tensor(self.strides)[lvls][:, None] * self.radius
        cx, cy = (boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2
        x0 = torch.maximum(cx - stride, boxes[:, 0])
        y0 = torch.maximum(cy - stride, boxes[:, 1])
        x1 = torch.minimum(cx + stride, boxes[:, 2])
        y1 = torch.minimum(cy + stride, boxes[:, 3])
        in_box = (x > x0) & (y > y0) & (x < x1) & (y < y1)
        max_reg = ltrb.max(-1)[0]
        rng = locs.new_tensor(self.sizes_of_interest)[lvls]
        in_range = (max_reg >= rng[:, 0:1]) & (max_reg <= rng[:, 1:2])
        area = ((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]))[None].expand(num, -1)
        area = area.masked_fill(~(in_box & in_range), INF)
        min_area, idx = area.min(1)
        labels = gt.labels[idx].clone()
        labels[min_area == INF] = self.num_classes
        return labels, ltrb[torch.arange(num, device=locs.device), idx], idx

    # ------------------------------------------------------------ geometry
    def decode_3d(self, quat, ctr, depth, size, locs, inv_k, labels):
        """Raw (post-scale) per-location outputs of the label's class -> camera
        frame (R (n,3,3), centre (n,3), size (n,3), proj_ctr (n,2), depth (n,))."""
        pixel = torch.stack([inv_k[:, 0, 0], inv_k[:, 1, 1]], -1).norm(dim=-1)
        depth = (depth / (pixel * self.depth_focal_factor)).clamp(self.min_depth, self.max_depth)
        proj = ctr + locs
        rot = ray_rotation(proj, inv_k) @ quat_to_matrix(quat)
        size = (size.tanh() + 1.0) * self.canon_box_sizes.to(size)[labels]
        return rot, unproject(proj, inv_k) * depth[:, None], size, proj, depth

    def encode_3d(self, rot, center, size, locs, inv_k, labels):
        """Inverse of :meth:`decode_3d` (used to test the decoding)."""
        k = torch.linalg.inv(inv_k)
        proj = torch.einsum('nij,nj->ni', k, center)
        proj = proj[:, :2] / proj[:, 2:3]
        pixel = torch.stack([inv_k[:, 0, 0], inv_k[:, 1, 1]], -1).norm(dim=-1)
        quat = matrix_to_quat(ray_rotation(proj, inv_k).transpose(1, 2) @ rot)
        canon = self.canon_box_sizes.to(size)[labels]
        raw_size = torch.atanh((size / canon - 1).clamp(-1 + 1e-6, 1 - 1e-6))
        return quat, proj - locs, center[:, 2] * pixel * self.depth_focal_factor, raw_size

    @staticmethod
    def gt_camera_boxes(bboxes_3d: Tensor, lidar2cam: Tensor):
        """(k, 9) lidar boxes, (k, 4, 4) -> R (k,3,3), gravity centre (k,3), size (k,3)."""
        c = bboxes_3d[:, :3].clone()
        c[:, 2] = c[:, 2] + bboxes_3d[:, 5] / 2
        c = torch.einsum('kij,kj->ki', lidar2cam[:, :3, :3], c) + lidar2cam[:, :3, 3]
        rot = lidar2cam[:, :3, :3] @ rot_z(bboxes_3d[:, 6])
        return rot, c, bboxes_3d[:, 3:6]

    # ----------------------------------------------------------------- loss
    def _corner_loss(self, pred: Tensor, target: Tensor) -> Tensor:
        """Smooth-L1 per corner coordinate: 0.5 n^2 / beta below beta (ours),
        or DD3D's 0.5 n^2 (``box3d_smooth_l1_over_beta=False``; the official
        drops the division, so the loss jumps at beta)."""
        if self.box3d_smooth_l1_over_beta:
            return F.smooth_l1_loss(pred, target, beta=self.beta, reduction='none')
        n = (pred - target).abs()
        return torch.where(n < self.beta, 0.5 * n**2, n - 0.5 * self.beta)

    def _gather(self, out, key, idx, labels, k):
        x = _flat(out[key], k)  # (M, L, k*C)
        x = x.reshape(-1, x.shape[-1])[idx]
        if k is None:
            return x
        x = x.view(-1, k, self.num_classes)
        return x[torch.arange(x.shape[0], device=x.device), :, labels]

    def loss(self, out: Dict[str, List[Tensor]], gts: List[InstanceData], cam2img: Tensor,
             lidar2cam: Tensor) -> Dict[str, Tensor]:
        """gts: one InstanceData per image with bboxes, labels, bboxes_3d,
        attr_labels, speeds. cam2img/lidar2cam: (M, 4, 4)."""
        shapes = [x.shape[-2:] for x in out['cls']]
        locs, lvls = self.locations(shapes, cam2img.device)
        locs = locs.to(out['cls'][0].dtype)  # the targets are computed in the outputs' dtype
        num_l = locs.shape[0]
        labels, ltrb, gidx = [], [], []
        for g in gts:
            lab, t, i = self.get_targets(locs, lvls, g)
            labels.append(lab)
            ltrb.append(t)
            gidx.append(i)
        labels, ltrb = torch.cat(labels), torch.cat(ltrb)
        img_idx = torch.arange(len(gts), device=locs.device).repeat_interleave(num_l)
        all_locs = locs.repeat(len(gts), 1)
        cls = _flat(out['cls'], 1).reshape(-1, self.num_classes)
        pos = torch.nonzero(labels < self.num_classes, as_tuple=False).squeeze(-1)
        num_pos = reduce_mean(cls.new_tensor(float(pos.numel()))).clamp(min=1.0)
        onehot = F.one_hot(labels, self.num_classes + 1)[:, :self.num_classes].to(cls)
        losses = dict(loss_cls=py_sigmoid_focal_loss(cls, onehot, None, 2.0, 0.25, 'sum') / num_pos)
        zero = sum(x.sum() for k in out for x in out[k]) * 0.
        keys3d = ['loss_box3d_quat', 'loss_box3d_proj_ctr', 'loss_box3d_depth',
                  'loss_box3d_size']
        if pos.numel() == 0:
            for k in ['loss_box2d_reg', 'loss_centerness', 'loss_conf3d', 'loss_attr',
                      'loss_speed'] + keys3d:
                losses[k] = zero
            # the all-reduces of the ranks with positives (centerness, attribute
            # and speed weights): every rank must make the same collectives
            for _ in range(3):
                reduce_mean(zero.detach())
            return losses
        t = ltrb[pos]
        lr, tb = t[:, [0, 2]], t[:, [1, 3]]
        ctr_t = ((lr.min(-1)[0] / lr.max(-1)[0].clamp(min=1e-6))
                 * (tb.min(-1)[0] / tb.max(-1)[0].clamp(min=1e-6))).clamp(min=0).sqrt()
        denom = reduce_mean(ctr_t.sum()).clamp(min=1e-6)
        pl = all_locs[pos]
        reg = _flat(out['box2d'], 4).reshape(-1, 4)[pos]
        losses['loss_box2d_reg'] = (giou_loss_ltrb(reg, t) * ctr_t).sum() / denom
        ctr_p = _flat(out['centerness'], 1).reshape(-1)[pos]
        losses['loss_centerness'] = F.binary_cross_entropy_with_logits(
            ctr_p, ctr_t, reduction='sum') / num_pos
        # 3D: GT of each positive location, in its camera
        lab = labels[pos]
        im = img_idx[pos]
        gi = torch.cat(gidx)[pos]
        offsets = torch.tensor([0] + [len(g) for g in gts], device=locs.device).cumsum(0)
        flat_gt = torch.cat([g.bboxes_3d.to(cls) for g in gts])[offsets[im] + gi]
        rot_t, c_t, s_t = self.gt_camera_boxes(flat_gt, lidar2cam[im].to(cls))
        inv_k = torch.linalg.inv(cam2img[im, :3, :3].to(cls))
        g = lambda key, k: self._gather(out, key, pos, lab, k)  # noqa: E731
        quat, ctr, size = g('quat', 4), g('ctr', 2), g('size', 3)
        depth, conf = g('depth', 1)[:, 0], g('conf', 1)[:, 0]
        rot_p, c_p, s_p, proj_p, depth_p = self.decode_3d(quat, ctr, depth, size, pl, inv_k, lab)
        k_mat = torch.linalg.inv(inv_k)
        proj_t = torch.einsum('nij,nj->ni', k_mat, c_t)
        proj_t, depth_t = proj_t[:, :2] / proj_t[:, 2:3], c_t[:, 2]
        corners_t = box_corners(rot_t, c_t, s_t)
        comps = dict(
            quat=(rot_p, c_t, s_t),
            proj_ctr=(rot_t, unproject(proj_p, inv_k) * depth_t[:, None], s_t),
            depth=(rot_t, unproject(proj_t, inv_k) * depth_p[:, None], s_t),
            size=(rot_t, c_t, s_p))
        for name, (r, c, s) in comps.items():
            l1 = self._corner_loss(box_corners(r, c, s), corners_t)
            l1 = l1.clamp(max=self.max_loss_per_group).reshape(-1, 24).mean(1)
            losses[f'loss_box3d_{name}'] = self.box3d_loss_weight * (l1 * ctr_t).sum() / denom
        err = (box_corners(rot_p, c_p, s_p) - corners_t).detach().abs().reshape(-1, 24).mean(1)
        conf_t = torch.exp(-err / self.conf3d_temperature)
        losses['loss_conf3d'] = self.conf3d_loss_weight * (F.binary_cross_entropy_with_logits(
            conf, conf_t, reduction='none') * ctr_t).sum() / denom
        attr_t = torch.cat([g_.attr_labels for g_ in gts])[offsets[im] + gi].long()
        attr = _flat(out['attr'], 1).reshape(-1, self.attr_logits.out_channels)[pos]
        ok = attr_t >= 0
        # attribute and speed: centerness-weighted, each over its valid targets;
        # the weight sums are all-reduced on every rank, with or without targets
        w = ctr_t[ok]
        attr_denom = reduce_mean(w.sum()).clamp(min=1e-6)
        if ok.any():
            ce = F.cross_entropy(attr[ok], attr_t[ok],
                                 reduction='none' if self.attr_loss_weighted else 'mean')
            losses['loss_attr'] = self.attr_loss_weight * (ce * w).sum() / attr_denom
        else:
            losses['loss_attr'] = zero
        speed_t = torch.cat([g_.speeds for g_ in gts])[offsets[im] + gi].to(cls)
        speed = _flat(out['speed'], 1).reshape(-1)[pos]
        ok = torch.isfinite(speed_t)
        w = ctr_t[ok]
        speed_denom = reduce_mean(w.sum()).clamp(min=1e-6)
        if ok.any():
            sl1 = F.smooth_l1_loss(speed[ok], speed_t[ok], beta=self.beta, reduction='none')
            losses['loss_speed'] = self.speed_loss_weight * (sl1 * w).sum() / speed_denom
        else:
            losses['loss_speed'] = zero
        return losses

    # ------------------------------------------------------------ inference
    @torch.no_grad()
    def predict(self, out: Dict[str, List[Tensor]], cam2img: Tensor,
                lidar2cam: Tensor) -> List[InstanceData]:
        """Per image: bboxes (k, 4), scores (k,), labels (k,), bboxes_3d (k, 9)
        in the lidar frame, scores_3d (k,). cam2img/lidar2cam: (M, 4, 4)."""
        cfg = self.test_cfg
        shapes = [x.shape[-2:] for x in out['cls']]
        locs, _ = self.locations(shapes, cam2img.device)
        cls = _flat(out['cls'], 1).sigmoid()
        ctrness = _flat(out['centerness'], 1).sigmoid()[..., 0]
        results = []
        for m in range(cls.shape[0]):
            scores = cls[m]
            cand = (scores > cfg['score_thr']).nonzero(as_tuple=False)
            s = scores[cand[:, 0], cand[:, 1]]
            if s.numel() > cfg['pre_nms_topk']:
                s, keep = s.topk(cfg['pre_nms_topk'])
                cand = cand[keep]
            loc_i, lab = cand[:, 0], cand[:, 1]
            s = (s * ctrness[m, loc_i]).sqrt()
            reg = _flat([x[m:m + 1] for x in out['box2d']], 4)[0, loc_i]
            pl = locs[loc_i]
            boxes = torch.cat([pl - reg[:, :2], pl + reg[:, 2:]], -1)
            idx = m * locs.shape[0] + loc_i
            g = lambda key, k: self._gather(out, key, idx, lab, k)  # noqa: E731
            inv_k = torch.linalg.inv(cam2img[m, :3, :3].to(boxes))[None].expand(len(lab), 3, 3)
            rot, c, size, _, _ = self.decode_3d(g('quat', 4), g('ctr', 2), g('depth', 1)[:, 0],
                                                g('size', 3), pl, inv_k, lab)
            conf = g('conf', 1)[:, 0].sigmoid()
            speed = _flat(out['speed'], 1)[m, loc_i, 0]
            if len(s):
                _, keep = batched_nms(boxes.float(), s.float(), lab,
                                      dict(type='nms', iou_threshold=cfg['nms_iou']))
                keep = keep[:cfg['max_per_img']]
            else:
                keep = lab.new_zeros(0)
            cam2lidar = torch.linalg.inv(lidar2cam[m].to(boxes))
            rl = cam2lidar[:3, :3] @ rot[keep]
            yaw = torch.atan2(rl[:, 1, 0], rl[:, 0, 0])
            ctr_l = c[keep] @ cam2lidar[:3, :3].T + cam2lidar[:3, 3]
            sz = size[keep]
            sp = speed[keep]
            b3d = torch.cat([ctr_l[:, :2], ctr_l[:, 2:3] - sz[:, 2:3] / 2, sz, yaw[:, None],
                             (sp * yaw.cos())[:, None], (sp * yaw.sin())[:, None]], -1)
            results.append(InstanceData(bboxes=boxes[keep], scores=s[keep], labels=lab[keep],
                                        bboxes_3d=b3d, scores_3d=s[keep] * conf[keep]))
        return results
