"""BEVFormer v2 detector (mmengine BaseModel style, mmdet registry)."""
from typing import Dict, List, Optional, Tuple

import torch
from mmengine.structures import InstanceData
from torch import Tensor

from mmdet.models.detectors import BaseDetector
from mmdet.registry import MODELS
from .data_preprocessor import GridMask
from .proposals import encode_proposals


def _meta_tensor(samples, key: str, device) -> Tensor:
    return torch.stack([torch.as_tensor(s.metainfo[key], dtype=torch.float32)
                        for s in samples]).to(device)


# A horizontal image flip is folded into ``cam2img`` (negative ``fx``). The
# perspective head then works in the mirrored world: camera x -> -x (the
# mirrored image with a positive ``fx``) and lidar y -> -y, so that
# ``lidar2cam`` stays a rotation and the boxes it sees are mirrored boxes
# (positions, yaw, allocentric rotation); lidar2img is the same.
MIRROR_CAM = (-1.0, 1.0, 1.0, 1.0)
MIRROR_LIDAR = (1.0, -1.0, 1.0, 1.0)


def mirror_lidar_boxes(boxes: Tensor) -> Tensor:
    """``(k, 9)`` lidar boxes mirrored by y -> -y (y, yaw and vy negated)."""
    out = boxes.clone()
    out[:, [1, 6, 8]] = -out[:, [1, 6, 8]]
    return out


def mirror_mono_geometry(cam2img: Tensor, lidar2cam: Tensor):
    """``(M, 4, 4)`` matrices -> the perspective head's ``(cam2img,
    lidar2cam, mirrored)``: images whose intrinsics mirror (det < 0, a
    flipped image) get ``cam2img @ Mc`` and ``Mc @ lidar2cam @ Ml`` (Mc: camera
    x -> -x, Ml: lidar y -> -y); ``mirrored`` (M,) bool flags them."""
    mirrored = torch.linalg.det(cam2img[:, :3, :3].double()) < 0
    mc = torch.diag(cam2img.new_tensor(MIRROR_CAM))
    ml = torch.diag(cam2img.new_tensor(MIRROR_LIDAR))
    m = mirrored[:, None, None]
    return (torch.where(m, cam2img @ mc, cam2img),
            torch.where(m, mc @ lidar2cam @ ml, lidar2cam), mirrored)


@MODELS.register_module()
class BEVFormerV2(BaseDetector):
    """Two-stage BEVFormer v2: image backbone + FPN, perspective head (stage
    1, supervised on every FPN level, its post-processed detections feed the
    hybrid queries), BEV encoder with v2 temporal fusion, BEV head (stage 2).

    Args:
        img_backbone, img_neck (dict): any registered backbone, mmdet FPN.
        pts_bbox_head (dict): :class:`BEVFormerHead`.
        fcos3d_bbox_head (dict, optional): :class:`NuscenesDD3D`.
        num_levels (int): FPN levels given to the BEV head.
        num_mono_levels (int): FPN levels given to the perspective head.
        mono_loss_weight (float): weight of the perspective losses.
        use_grid_mask (bool): GridMask on the images in training.
        frames (tuple[int]): frame offsets (oldest first, 0 last).
        use_hybrid_queries (bool): feed perspective proposals to the decoder
            (needs ``pts_bbox_head.num_proposals > 0``); False reproduces the
            released auxiliary-loss-only model.
        bev_nms_iou (float): BEV NMS IoU of the proposals (paper 0.3).
    """

    def __init__(self, img_backbone: dict, img_neck: dict, pts_bbox_head: dict,
                 fcos3d_bbox_head: Optional[dict] = None, num_levels: int = 4,
                 num_mono_levels: int = 5, mono_loss_weight: float = 1.0,
                 use_grid_mask: bool = False, frames=(0, ), use_hybrid_queries: bool = False,
                 bev_nms_iou: float = 0.3, data_preprocessor=None, init_cfg=None,
                 train_cfg=None, test_cfg=None):
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.img_backbone = MODELS.build(img_backbone)
        self.img_neck = MODELS.build(img_neck)
        self.pts_bbox_head = MODELS.build(pts_bbox_head)
        self.fcos3d_bbox_head = (MODELS.build(fcos3d_bbox_head)
                                 if fcos3d_bbox_head is not None else None)
        self.num_levels, self.num_mono_levels = num_levels, num_mono_levels
        self.mono_loss_weight = mono_loss_weight
        self.frames = tuple(frames)
        assert self.frames[-1] == 0, 'frames must end with the current frame (0)'
        self.grid_mask = GridMask(True, True, rotate=1, offset=False, ratio=0.5, mode=1,
                                  prob=0.7)
        self.use_grid_mask = use_grid_mask
        self.use_hybrid_queries = use_hybrid_queries
        if use_hybrid_queries:
            assert fcos3d_bbox_head is not None and self.pts_bbox_head.num_proposals > 0, \
                'hybrid queries need a perspective head and pts_bbox_head.num_proposals > 0'
        self.bev_nms_iou = bev_nms_iou

    # ------------------------------------------------------------- features
    def extract_img_feat(self, imgs: Tensor) -> List[Tensor]:
        """imgs (B, N, 3, H, W) -> FPN levels (B, N, C, h, w). Reshapes to
        (B*N, ...) (the official ``squeeze_`` broke N == 1)."""
        b, n = imgs.shape[:2]
        x = imgs.reshape(b * n, *imgs.shape[2:])
        if self.use_grid_mask and self.training:
            x = self.grid_mask(x)
        feats = self.img_neck(self.img_backbone(x))
        return [f.view(b, n, *f.shape[1:]) for f in feats]

    def extract_feat(self, batch_inputs: Dict[str, Tensor]):
        return self.extract_img_feat(batch_inputs['imgs'][:, -1])

    def _geometry(self, samples, device) -> Tuple[Tensor, tuple, tuple, Optional[Tensor]]:
        """lidar2img (B, T, N, 4, 4); img_shape: per-sample (H, W) as a pair of
        (B, 1, 1, 1) tensors (each sample's own image masks its projections);
        pad_shape: the (H, W) of the padded batch; bda (B, 4, 4) or None."""
        lidar2img = _meta_tensor(samples, 'lidar2img', device)  # (B, T, N, 4, 4)
        meta = samples[0].metainfo
        shapes = torch.tensor([tuple(s.metainfo['img_shape'][:2]) for s in samples],
                              dtype=torch.float32, device=device)
        img_shape = (shapes[:, 0].view(-1, 1, 1, 1), shapes[:, 1].view(-1, 1, 1, 1))
        pad_shape = tuple(meta.get('batch_input_shape',
                                   meta.get('pad_shape', meta['img_shape'])))[:2]
        bda = (_meta_tensor(samples, 'bda_mat', device) if 'bda_mat' in meta else None)
        return lidar2img, img_shape, pad_shape, bda

    def obtain_history_bev(self, imgs: Tensor, lidar2img: Tensor, img_shape, pad_shape,
                           bda: Optional[Tensor]) -> List[Tensor]:
        """BEVs of the past frames (imgs (B, T-1, N, 3, H, W)), without grad
        and in eval mode; the previous mode is restored."""
        if imgs.shape[1] == 0:
            return []
        was_training = self.training
        self.eval()
        try:
            with torch.no_grad():
                bevs = []
                for t in range(imgs.shape[1]):
                    feats = self.extract_img_feat(imgs[:, t])[:self.num_levels]
                    bevs.append(self.pts_bbox_head.get_bev(feats, lidar2img[:, t], img_shape,
                                                           pad_shape, bda))
        finally:
            self.train(was_training)
        return bevs

    @staticmethod
    def _fill_invalid(bevs: List[Tensor], cur: Tensor, samples) -> List[Tensor]:
        """Slots flagged invalid (scene start) take the BEV of the nearest
        valid later slot (the current BEV at the latest), detached as in the
        official code: no gradient flows through a history slot."""
        if not bevs or 'frame_valid' not in samples[0].metainfo:
            return bevs
        valid = torch.stack([torch.as_tensor(s.metainfo['frame_valid'], dtype=torch.bool)
                             for s in samples]).to(cur.device)  # (B, T)
        out = list(bevs) + [cur.detach()]
        for t in range(len(bevs) - 1, -1, -1):
            m = valid[:, t][:, None, None]
            out[t] = torch.where(m, out[t], out[t + 1])
        return out[:-1]

    # -------------------------------------------------------------- helpers
    def _mono_inputs(self, samples, device):
        """Current-frame (B*N, 4, 4) cam2img and lidar2cam of the perspective
        head, mirrored for flipped images, and the (B*N,) mirrored flags."""
        cam2img = _meta_tensor(samples, 'cam2img', device)[:, -1]  # (B, N, 4, 4)
        lidar2cam = _meta_tensor(samples, 'lidar2cam', device)[:, -1]
        return mirror_mono_geometry(cam2img.flatten(0, 1), lidar2cam.flatten(0, 1))

    def _mono_gts(self, samples, num_cams: int, mirrored: Tensor) -> List[InstanceData]:
        """Per image (sample-major) targets; the 3D boxes of mirrored images
        are mirrored (their 2D boxes and centres are in the flipped image)."""
        gts = []
        for s in samples:
            g = s.gt_instances_mono
            for n in range(num_cams):
                gt = g[g.cam_ids == n]
                if mirrored[len(gts)]:
                    gt = gt.clone()
                    gt.bboxes_3d = mirror_lidar_boxes(gt.bboxes_3d)
                gts.append(gt)
        return gts

    def _proposals(self, mono_out, cam2img, lidar2cam, mirrored, bs, num_cams, bda):
        dets = self.fcos3d_bbox_head.predict(
            {k: [x.detach() for x in v] for k, v in mono_out.items()}, cam2img, lidar2cam)
        for det, mirror in zip(dets, mirrored.tolist()):
            if mirror:  # back from the mirrored world to the lidar frame
                det.bboxes_3d = mirror_lidar_boxes(det.bboxes_3d)
        dets = [dets[b * num_cams:(b + 1) * num_cams] for b in range(bs)]
        return encode_proposals(dets, self.pts_bbox_head.pc_range,
                                self.pts_bbox_head.num_proposals, self.bev_nms_iou,
                                cam2img.device, bda)

    def _run(self, batch_inputs, samples, with_mono_loss: bool):
        imgs = batch_inputs['imgs']  # (B, T, N, 3, H, W)
        bs, _, n = imgs.shape[:3]
        lidar2img, img_shape, pad_shape, bda = self._geometry(samples, imgs.device)
        prev = self.obtain_history_bev(imgs[:, :-1], lidar2img[:, :-1], img_shape, pad_shape,
                                       bda)
        feats = self.extract_img_feat(imgs[:, -1])
        losses, proposals = {}, None
        need_mono = self.fcos3d_bbox_head is not None and (with_mono_loss
                                                            or self.use_hybrid_queries)
        if need_mono:
            mono_feats = [f.flatten(0, 1) for f in feats[:self.num_mono_levels]]
            mono_out = self.fcos3d_bbox_head(mono_feats)
            cam2img, lidar2cam, mirrored = self._mono_inputs(samples, imgs.device)
            if with_mono_loss:
                mono = self.fcos3d_bbox_head.loss(mono_out, self._mono_gts(samples, n, mirrored),
                                                  cam2img, lidar2cam)
                losses.update({f'{k}_mono': v * self.mono_loss_weight for k, v in mono.items()})
            if self.use_hybrid_queries:
                proposals = self._proposals(mono_out, cam2img, lidar2cam, mirrored, bs, n, bda)
        bev_feats = feats[:self.num_levels]
        cur_bev = None
        if prev:
            cur_bev = self.pts_bbox_head.get_bev(bev_feats, lidar2img[:, -1], img_shape,
                                                 pad_shape, bda)
            prev = self._fill_invalid(prev, cur_bev, samples)
        outs = self.pts_bbox_head(bev_feats, lidar2img[:, -1], img_shape, pad_shape, prev,
                                  bda, proposals, cur_bev)
        outs['proposals'] = proposals
        return outs, losses

    # ------------------------------------------------------------ interface
    def loss(self, batch_inputs: Dict[str, Tensor], batch_data_samples) -> Dict[str, Tensor]:
        outs, losses = self._run(batch_inputs, batch_data_samples, True)
        gts = [s.gt_instances_3d for s in batch_data_samples]
        losses.update(self.pts_bbox_head.loss_by_feat(outs, gts))
        return losses

    def predict(self, batch_inputs: Dict[str, Tensor], batch_data_samples, rescale=True):
        outs, _ = self._run(batch_inputs, batch_data_samples, False)
        results = self.pts_bbox_head.predict_by_feat(outs)
        for s, r in zip(batch_data_samples, results):
            s.pred_instances_3d = InstanceData(bboxes_3d=r.bboxes_3d, scores_3d=r.scores_3d,
                                               labels_3d=r.labels_3d)
        return batch_data_samples

    def _forward(self, batch_inputs: Dict[str, Tensor], batch_data_samples=None):
        outs, _ = self._run(batch_inputs, batch_data_samples, False)
        return outs['all_cls_scores'], outs['all_bbox_preds']
