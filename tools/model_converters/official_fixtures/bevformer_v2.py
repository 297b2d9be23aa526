"""Official-code fixture for BEVFormer v2 (tests/data/official/bevformer_v2.pt).

Usage (needs an official checkout and fvcore's source, never the network)::

    pip download --no-deps fvcore==0.1.5.post20221221 -d /tmp/fv
    tar xzf /tmp/fv/fvcore-*.tar.gz -C /tmp/fv
    python tools/model_converters/official_fixtures/bevformer_v2.py \
        /path/to/fundamentalvision/BEVFormer /tmp/fv/fvcore-0.1.5.post20221221 \
        [--out tests/data/official/bevformer_v2.pt]

Run with fundamentalvision/BEVFormer@66b65f3 (the v2 code of commit 2f37d0d,
``projects/mmdet3d_plugin``), torch 2.13 CPU, mmcv 2.1, mmengine 0.10.7,
mmdet 3.3. Every official module is built at a small size with seeded random
weights (every parameter and BN statistic, including the zero-initialised
attention-weight layers, the offset layers and the DD3D scales/offsets), run
in float64 (the official ``point_sampling`` casts to float32 by design) and
written with its state dict, inputs and outputs:

* ``encoder``: ``BEVFormerEncoder`` (2 ``BEVFormerLayer``: TSA, SCA with
  ``MSDeformableAttention3D``, FFN, post-norms), 2 cameras, 3 feature levels,
  BEV 6 x 5, 4 pillar points; its reference points, camera projections and
  masks, its output, and the output of a standalone TSA and SCA on the same
  inputs (batch 1: the official SCA/TSA mix items for batch > 1);
* ``fusion``: ``ResNetFusion`` of 2 frames (downsample branch, 2 blocks, BN
  in eval mode with random running statistics);
* ``decoder``: ``DetectionTransformerDecoder`` (2 layers of
  ``GroupMultiheadAttention`` (2 groups), ``CustomMSDeformableAttention``,
  FFN) with box refinement by random reg branches, in eval mode and in
  training mode with every dropout at 0, attention dropout included (so the
  groups apply deterministically);
* ``bev_loss``: ``BEVFormerHead_GroupDETR.loss`` (Hungarian assignment,
  focal + smooth-L1 over 2 layers and 2 groups) on fixed predictions and GT
  boxes in the official box convention, with the gradients of the total
  loss w.r.t. the predictions;
* ``dd3d``: ``NuscenesDD3D`` training forward (5 levels, 2 images): its dense
  outputs, every loss and the gradients of the summed loss w.r.t. the input
  features, in float32 (the code as is) and in float64 (see ``dd3d_fixture``);
  the GT is given in the lidar frame with the camera geometry;
* ``transformer``: ``PerceptionTransformerV2.forward`` (camera/level
  embeddings, 1 encoder layer, the BEV-augmentation warp from ``aug_param``,
  the fusion (1 block, 24 channels) of a given history BEV with the current
  one, learned reference points, 2 refining decoder layers), eval mode; and
  ``BEVFormerHead_GroupDETR.forward`` around it (2 groups of 4 queries, eval:
  the first group; cls/reg branches with the box decoding);
* ``init``: which ``torch.nn.init`` function last wrote each parameter of
  ``PerceptionTransformerV2`` (``init_weights`` as the official head calls
  it), with the deterministic values (offset directions);
* ``keys``: the key -> shape list of the official detector at the real
  r50 t8 / t1 config sizes (``pts_bbox_head`` of ``BEVFormerHead_GroupDETR``
  and ``fcos3d_bbox_head`` of ``NuscenesDD3D``; no tensors).

Shims (the official code targets mmcv 1.x / mmdet 2.x / mmdet3d 0.17 /
detectron2; none of them changes the official math):

* the official packages are loaded file by file: ``projects`` and its
  sub-packages are empty package objects pointing at the checkout, so their
  ``__init__.py`` (which imports mmdet3d and every plugin) never runs;
* mmcv 1.x names on mmcv 2.1: ``mmcv.runner`` (``BaseModule``,
  ``ModuleList``, ``Sequential`` from mmengine; ``force_fp32``/``auto_fp16``
  as identity decorators), ``mmcv.cnn.bricks.registry`` (the registries are
  mmengine's ``MODELS``, where mmcv 2.1's own bricks live),
  ``mmcv.cnn.{xavier_init, constant_init, bias_init_with_prob}`` and
  ``mmcv.utils.{TORCH_VERSION, digit_version, ConfigDict, build_from_cfg,
  deprecated_api_warning, to_2tuple}`` from mmengine, ``mmcv.jit`` as an
  identity decorator, ``mmcv.{ConfigDict, deprecated_api_warning}``;
* mmdet 2.x names: ``DetrTransformerDecoderLayer`` is mmcv 2.1's
  ``BaseTransformerLayer`` (mmdet 2's class only asserts the operation
  order); ``multi_apply``/``reduce_mean``/``inverse_sigmoid``/``FocalLoss``/
  ``SmoothL1Loss``/``FocalLossCost``/``AssignResult``/``BaseAssigner``/
  ``BasicBlock``/``LearnedPositionalEncoding`` are mmdet 3.3's (same math and
  keys; ``FocalLossCost`` is called through mmdet 3.3's InstanceData API);
  ``PseudoSampler`` is mmdet 2's few lines (positives = assigned GT > 0);
  the assigner's unused ``IoUCost`` (weight 0) is mmdet 3.3's; the official
  loss methods (``loss``, ``loss_single``, ``get_targets``,
  ``_get_target_single``) run on a plain object holding what they read, as
  mmdet 2's ``DETRHead`` constructor cannot be built (``code_weights`` as
  the official builds them: float32, then the model dtype); the key list
  of ``pts_bbox_head`` comes from the official transformer, the official
  ``BEVFormerHead._init_layers`` and mmdet 3.3's ``LearnedPositionalEncoding``
  (the keys of mmdet 2's), plus ``code_weights``;
* BN layers are ``BN`` where the configs say ``SyncBN`` (same parameters);
  ``ffn_cfgs`` are passed explicitly (with ``embed_dims``) because the
  official layer's default FFN config has 256 dims;
* mmdet3d: ``LiDARInstance3DBoxes`` only provides ``tensor`` and
  ``gravity_center`` (bottom z + h / 2), the two attributes the loss reads;
* detectron2: ``Conv2d`` (conv, optional norm, optional activation),
  ``cat``, ``get_norm`` ('BN' -> BatchNorm2d), ``ShapeSpec``, ``Boxes``
  (``tensor``, ``area``), ``Instances`` (a field container), world size 1;
  fvcore's ``sigmoid_focal_loss`` / ``smooth_l1_loss`` are loaded from its
  source; ``MAX_NUM_ATTRIBUTES`` is read from dd3d/datasets/nuscenes.py
  without importing it (that module needs seaborn and a NuScenes object).
"""
import argparse
import ast
import importlib
import importlib.util
import math
import sys
import types
from collections import namedtuple
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

OUT = Path(__file__).resolve().parents[3] / 'tests/data/official/bevformer_v2.pt'
PLUGIN = 'projects/mmdet3d_plugin'
PC_RANGE = [-51.2, -51.2, -5.0, 51.2, 51.2, 3.0]


# ----------------------------------------------------------------- shims
def _module(name, **attrs):
    mod = types.ModuleType(name)
    mod.__dict__.update(attrs)
    sys.modules[name] = mod
    return mod


def _package(name, path):
    mod = _module(name)
    mod.__path__ = [str(path)]
    return mod


def _identity_decorator(*args, **kwargs):
    if len(args) == 1 and callable(args[0]) and not kwargs:
        return args[0]
    return lambda fn: fn


def _load_file(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


class _Boxes:
    """detectron2 ``Boxes``: what DD3D's training reads."""

    def __init__(self, tensor):
        self.tensor = tensor

    def __len__(self):
        return self.tensor.shape[0]

    def area(self):
        b = self.tensor
        return (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])

    def to(self, device):
        return _Boxes(self.tensor.to(device))


class _Instances:
    """detectron2 ``Instances``: a container of per-instance fields."""

    def __init__(self, image_size, **fields):
        self._image_size = image_size
        self._fields = dict(fields)

    def __getattr__(self, name):
        if name.startswith('_'):
            raise AttributeError(name)
        return self._fields[name]

    def __len__(self):
        return len(next(iter(self._fields.values())))

    def to(self, device):
        return self


def _conv2d_class():

    class Conv2d(nn.Conv2d):
        """detectron2 ``Conv2d``: conv, then ``norm``, then ``activation``."""

        def __init__(self, *args, **kwargs):
            norm = kwargs.pop('norm', None)
            activation = kwargs.pop('activation', None)
            super().__init__(*args, **kwargs)
            self.norm = norm
            self.activation = activation

        def forward(self, x):
            x = F.conv2d(x, self.weight, self.bias, self.stride, self.padding,
                         self.dilation, self.groups)
            if self.norm is not None:
                x = self.norm(x)
            if self.activation is not None:
                x = self.activation(x)
            return x

    return Conv2d


def install_shims(root: Path, fvcore_root: Path):
    import mmcv
    import mmcv.cnn
    import mmcv.utils
    import mmengine
    from mmengine.model import (BaseModule, ModuleList, Sequential, bias_init_with_prob,
                                constant_init, xavier_init)
    from mmengine.registry import MODELS, build_from_cfg
    from mmengine.utils import deprecated_api_warning, digit_version, to_2tuple

    import mmdet.models  # noqa: F401  (registers mmdet's bricks)
    from mmdet.models.layers.transformer import inverse_sigmoid
    from mmdet.models.utils import multi_apply
    from mmdet.utils import reduce_mean

    # mmcv 1.x
    _module('mmcv.runner', BaseModule=BaseModule, ModuleList=ModuleList, Sequential=Sequential,
            force_fp32=_identity_decorator, auto_fp16=_identity_decorator)
    _module('mmcv.runner.base_module', BaseModule=BaseModule, ModuleList=ModuleList,
            Sequential=Sequential)
    _module('mmcv.cnn.bricks.registry', ATTENTION=MODELS, TRANSFORMER_LAYER=MODELS,
            TRANSFORMER_LAYER_SEQUENCE=MODELS, FEEDFORWARD_NETWORK=MODELS,
            POSITIONAL_ENCODING=MODELS)
    mmcv.cnn.xavier_init, mmcv.cnn.constant_init = xavier_init, constant_init
    mmcv.cnn.bias_init_with_prob = bias_init_with_prob
    mmcv.jit = _identity_decorator
    mmcv.ConfigDict, mmcv.deprecated_api_warning = mmengine.ConfigDict, deprecated_api_warning
    mmcv.utils.TORCH_VERSION = torch.__version__
    mmcv.utils.digit_version = digit_version
    mmcv.utils.ConfigDict = mmengine.ConfigDict
    mmcv.utils.build_from_cfg = build_from_cfg
    mmcv.utils.deprecated_api_warning = deprecated_api_warning
    mmcv.utils.to_2tuple = to_2tuple
    # mmcv 1.x's DetrTransformerDecoderLayer (mmdet 2) = BaseTransformerLayer
    from mmcv.cnn.bricks.transformer import BaseTransformerLayer
    MODELS.register_module('DetrTransformerDecoderLayer', module=BaseTransformerLayer,
                           force=True)

    # mmdet 2.x
    shim_registry = types.SimpleNamespace(register_module=_identity_decorator)
    _module('mmdet.models.utils.builder', TRANSFORMER=shim_registry)
    _module('mmdet.models.utils.transformer', inverse_sigmoid=inverse_sigmoid)
    mmdet.models.HEADS = shim_registry
    _module('mmdet.models.builder', HEADS=shim_registry)
    _module('mmdet.core', multi_apply=multi_apply, reduce_mean=reduce_mean)
    _module('mmdet.core.bbox')
    _module('mmdet.core.bbox.builder', BBOX_ASSIGNERS=shim_registry)
    from mmdet.models.task_modules.assigners import AssignResult, BaseAssigner
    _module('mmdet.core.bbox.assigners', AssignResult=AssignResult, BaseAssigner=BaseAssigner)
    _module('mmdet.core.bbox.match_costs', build_match_cost=_build_match_cost)
    _module('mmdet.core.bbox.match_costs.builder', MATCH_COST=shim_registry)
    _module('mmdet3d')
    _module('mmdet3d.core')
    _module('mmdet3d.core.bbox')
    _module('mmdet3d.core.bbox.coders', build_bbox_coder=None)

    # detectron2 / fvcore
    _module('detectron2')
    _module('detectron2.layers', Conv2d=_conv2d_class(), cat=_d2_cat, get_norm=_d2_get_norm,
            ShapeSpec=namedtuple('ShapeSpec', ['channels', 'height', 'width', 'stride'],
                                 defaults=[None, None, None, None]),
            batched_nms=None)
    _module('detectron2.structures', Boxes=_Boxes, Instances=_Instances)
    comm = _module('detectron2.utils.comm', get_world_size=lambda: 1, get_rank=lambda: 0)
    _module('detectron2.utils', comm=comm)
    _module('detectron2.utils.env', TORCH_VERSION=tuple(
        int(x) for x in torch.__version__.split('+')[0].split('.')[:2]))
    _module('detectron2.modeling')
    _module('detectron2.modeling.postprocessing', detector_postprocess=None)
    fv_nn = _package('fvcore.nn', fvcore_root / 'fvcore/nn')
    _package('fvcore', fvcore_root / 'fvcore').nn = fv_nn
    fv_nn.sigmoid_focal_loss = _load_file(
        'fvcore.nn.focal_loss', fvcore_root / 'fvcore/nn/focal_loss.py').sigmoid_focal_loss
    fv_nn.smooth_l1_loss = _load_file('fvcore.nn.smooth_l1_loss',
                                      fvcore_root / 'fvcore/nn/smooth_l1_loss.py')

    # the official packages, without their __init__.py
    base = root / PLUGIN
    _package('projects', root / 'projects')
    for sub in ['', 'bevformer', 'bevformer/modules', 'bevformer/dense_heads', 'core',
                'core/bbox', 'core/bbox/assigners', 'core/bbox/match_costs', 'dd3d',
                'dd3d/modeling', 'dd3d/layers', 'dd3d/structures', 'dd3d/utils', 'models',
                'models/utils']:
        name = 'projects.mmdet3d_plugin' + ('.' + sub.replace('/', '.') if sub else '')
        _package(name, base / sub)
    text = (base / 'dd3d/datasets/nuscenes.py').read_text()
    max_attrs = next(ast.literal_eval(n.value) for n in ast.parse(text).body
                     if isinstance(n, ast.Assign) and getattr(n.targets[0], 'id', '')
                     == 'MAX_NUM_ATTRIBUTES')
    _package('projects.mmdet3d_plugin.dd3d.datasets', base / 'dd3d/datasets')
    _module('projects.mmdet3d_plugin.dd3d.datasets.nuscenes', MAX_NUM_ATTRIBUTES=max_attrs)


def _d2_cat(tensors, dim=0):
    return tensors[0] if len(tensors) == 1 else torch.cat(tensors, dim)


def _d2_get_norm(norm, out_channels):
    if norm in (None, ''):
        return None
    assert norm in ('BN', 'SyncBN'), norm
    return nn.BatchNorm2d(out_channels)


class _FocalLossCost:
    """mmdet 2 ``FocalLossCost(cls_pred, gt_labels)`` through mmdet 3.3's."""

    def __init__(self, **kwargs):
        from mmdet.models.task_modules.assigners.match_cost import FocalLossCost
        self.cost = FocalLossCost(**kwargs)

    def __call__(self, cls_pred, gt_labels):
        from mmengine.structures import InstanceData
        return self.cost(InstanceData(scores=cls_pred), InstanceData(labels=gt_labels))


def _build_match_cost(cfg):
    cfg = dict(cfg)
    kind = cfg.pop('type')
    if kind == 'FocalLossCost':
        return _FocalLossCost(**cfg)
    if kind == 'IoUCost':  # built by the assigner, never called by it
        from mmdet.models.task_modules.assigners.match_cost import IoUCost
        return IoUCost(**cfg)
    costs = importlib.import_module('projects.mmdet3d_plugin.core.bbox.match_costs.match_cost')
    return getattr(costs, kind)(**cfg)


class _PseudoSampler:
    """mmdet 2 ``PseudoSampler.sample``: positives are the assigned queries."""

    def sample(self, assign_result, bboxes, gt_bboxes):
        gt_inds = assign_result.gt_inds
        pos = torch.nonzero(gt_inds > 0, as_tuple=False).squeeze(-1).unique()
        neg = torch.nonzero(gt_inds == 0, as_tuple=False).squeeze(-1).unique()
        assigned = gt_inds[pos] - 1
        return types.SimpleNamespace(pos_inds=pos, neg_inds=neg, pos_assigned_gt_inds=assigned,
                                     pos_gt_bboxes=gt_bboxes[assigned])


class _LiDARBoxes:
    """mmdet3d 0.17 ``LiDARInstance3DBoxes``: ``tensor`` (bottom centre, w,
    l, h, yaw, vx, vy) and ``gravity_center``."""

    def __init__(self, tensor):
        self.tensor = tensor

    @property
    def gravity_center(self):
        c = self.tensor[:, :3].clone()
        c[:, 2] = c[:, 2] + self.tensor[:, 5] * 0.5
        return c


def official(name):
    return importlib.import_module('projects.mmdet3d_plugin.' + name)


# ------------------------------------------------------------ randomising
NORMS = (nn.LayerNorm, nn.BatchNorm2d)


@torch.no_grad()
def randomise(module: nn.Module, gen: torch.Generator):
    """Seeded random values for every floating parameter and BN statistic:
    weights ~ N(0, 1 / fan_in), biases and embeddings ~ N(0, 0.1^2) (the
    offset and attention-weight layers included), norm scales 1 + N(0, 0.1^2),
    running variances U(0.5, 1.5), scalar scales/offsets times 1 + N(0, 0.1^2)."""
    def randn(t):
        return torch.randn(t.shape, generator=gen, dtype=torch.float64).to(t.dtype)

    for m in module.modules():
        for name, p in list(m.named_parameters(recurse=False)) + list(
                m.named_buffers(recurse=False)):
            if not p.is_floating_point():
                continue
            if isinstance(m, NORMS) and name == 'weight':
                p.copy_(1 + 0.1 * randn(p))
            elif name == 'running_var':
                p.copy_(0.5 + torch.rand(p.shape, generator=gen, dtype=torch.float64))
            elif name.endswith('_depth_per_level'):
                continue
            elif p.numel() == 1:
                p.mul_(1 + 0.1 * randn(p))
            elif p.dim() >= 2 and 'embed' not in name:
                p.copy_(randn(p) / math.sqrt(p[0].numel()))
            else:
                p.copy_(0.1 * randn(p))


def tensors(d):
    return {k: v.detach().clone() for k, v in d.items()}


def set_dropout(module, p):
    for m in module.modules():
        if isinstance(m, nn.Dropout):
            m.p = p
        elif isinstance(m, nn.MultiheadAttention):
            m.dropout = p


# ------------------------------------------------------------ components
C, HEADS, FFN = 32, 4, 64
BEV_H, BEV_W = 6, 5
IMG_H, IMG_W = 64, 96
LEVELS = [(8, 12), (4, 6), (2, 3)]


def camera_rig():
    """Front and back cameras of a (x right, y forward, z up) lidar frame,
    96 x 64 images, ~100 deg horizontal field of view."""
    k = torch.tensor([[40., 0., 48., 0.], [0., 40., 32., 0.], [0., 0., 1., 0.],
                      [0., 0., 0., 1.]], dtype=torch.float64)
    front = torch.tensor([[1., 0., 0., 0.1], [0., 0., -1., 0.2], [0., 1., 0., -0.5],
                          [0., 0., 0., 1.]], dtype=torch.float64)
    back = torch.tensor([[-1., 0., 0., 0.], [0., 0., -1., 0.3], [0., -1., 0., -0.4],
                         [0., 0., 0., 1.]], dtype=torch.float64)
    lidar2cam = torch.stack([front, back])
    return k[None].expand(2, 4, 4).clone(), lidar2cam, k @ lidar2cam


def encoder_fixture(gen):
    mods = official('bevformer.modules.encoder')
    official('bevformer.modules.temporal_self_attention')
    official('bevformer.modules.spatial_cross_attention')
    from mmengine.registry import MODELS
    ffn = dict(type='FFN', embed_dims=C, feedforward_channels=FFN, num_fcs=2, ffn_drop=0.1,
               act_cfg=dict(type='ReLU', inplace=True))
    cfg = dict(
        type='BEVFormerEncoder', num_layers=2, pc_range=PC_RANGE, num_points_in_pillar=4,
        return_intermediate=False,
        transformerlayers=dict(
            type='BEVFormerLayer',
            attn_cfgs=[dict(type='TemporalSelfAttention', embed_dims=C, num_heads=HEADS,
                            num_levels=1),
                       dict(type='SpatialCrossAttention', pc_range=PC_RANGE, num_cams=2,
                            deformable_attention=dict(type='MSDeformableAttention3D',
                                                      embed_dims=C, num_heads=HEADS,
                                                      num_points=8, num_levels=len(LEVELS)),
                            embed_dims=C)],
            feedforward_channels=FFN, ffn_dropout=0.1, ffn_cfgs=ffn,
            operation_order=('self_attn', 'norm', 'cross_attn', 'norm', 'ffn', 'norm')))
    enc = MODELS.build(cfg)
    assert isinstance(enc, mods.BEVFormerEncoder)
    randomise(enc, gen)
    enc.double().eval()
    cam2img, lidar2cam, lidar2img = camera_rig()
    hw = BEV_H * BEV_W
    bev_query = torch.randn(hw, 1, C, generator=gen, dtype=torch.float64)
    bev_pos = torch.randn(hw, 1, C, generator=gen, dtype=torch.float64)
    num_value = sum(h * w for h, w in LEVELS)
    value = torch.randn(2, num_value, 1, C, generator=gen, dtype=torch.float64)
    spatial_shapes = torch.tensor(LEVELS, dtype=torch.long)
    level_start_index = torch.cat([spatial_shapes.new_zeros(1),
                                   spatial_shapes.prod(1).cumsum(0)[:-1]])
    img_metas = [dict(lidar2img=lidar2img.numpy(), img_shape=[(IMG_H, IMG_W, 3)] * 2)]
    ref_3d = enc.get_reference_points(BEV_H, BEV_W, PC_RANGE[5] - PC_RANGE[2], 4, dim='3d', bs=1,
                                      device='cpu', dtype=torch.float64)
    ref_2d = enc.get_reference_points(BEV_H, BEV_W, dim='2d', bs=1, device='cpu',
                                      dtype=torch.float64)
    ref_cam, bev_mask = enc.point_sampling(ref_3d, PC_RANGE, img_metas)
    with torch.no_grad():
        out = enc(bev_query, value, value, bev_h=BEV_H, bev_w=BEV_W, bev_pos=bev_pos,
                  spatial_shapes=spatial_shapes, level_start_index=level_start_index,
                  prev_bev=None, shift=bev_query.new_zeros(1, 2), img_metas=img_metas)
        layer = enc.layers[0]
        q = bev_query.permute(1, 0, 2)
        tsa = layer.attentions[0](
            q, None, None, None, query_pos=bev_pos.permute(1, 0, 2),
            reference_points=torch.stack([ref_2d, ref_2d], 1).reshape(2, hw, 1, 2),
            spatial_shapes=torch.tensor([[BEV_H, BEV_W]]),
            level_start_index=torch.tensor([0]))
        sca = layer.attentions[1](
            q, value, value, None, query_pos=None, reference_points=ref_3d,
            reference_points_cam=ref_cam, bev_mask=bev_mask, spatial_shapes=spatial_shapes,
            level_start_index=level_start_index)
    seen = bev_mask.sum(-1).gt(0).any(0)[0]
    print(f'encoder: {int(seen.sum())} of {hw} BEV queries seen by a camera')
    return dict(
        state_dict=tensors(enc.state_dict()), bev_query=bev_query[:, 0], bev_pos=bev_pos[:, 0],
        value=value[:, :, 0], spatial_shapes=spatial_shapes, lidar2img=lidar2img.float(),
        img_shape=[IMG_H, IMG_W], pc_range=PC_RANGE, num_points_in_pillar=4,
        ref_3d=ref_3d[0], ref_2d=ref_2d[0], ref_cam=ref_cam[:, 0], bev_mask=bev_mask[:, 0],
        out=out[0], tsa_out=tsa[0], sca_out=sca[0],
        config=dict(embed_dims=C, num_heads=HEADS, feedforward_channels=FFN, num_layers=2,
                    num_cams=2, sca_points=8, num_levels=len(LEVELS), bev_h=BEV_H,
                    bev_w=BEV_W))


def fusion_fixture(gen):
    tv2 = official('bevformer.modules.transformerV2')
    fusion = tv2.ResNetFusion(2 * C, C, 24, 2, norm_cfg=dict(type='BN'))
    randomise(fusion, gen)
    fusion.double().eval()
    x = [torch.randn(1, C, BEV_H, BEV_W, generator=gen, dtype=torch.float64) for _ in range(2)]
    with torch.no_grad():
        out = fusion(x)
    return dict(state_dict=tensors(fusion.state_dict()), inputs=x, out=out[0],
                config=dict(in_channels=2 * C, out_channels=C, inter_channels=24, num_layer=2))


def reg_branch():
    return nn.Sequential(nn.Linear(C, C), nn.ReLU(), nn.Linear(C, C), nn.ReLU(),
                         nn.Linear(C, 10))


def decoder_fixture(gen):
    official('bevformer.modules.decoder')
    official('bevformer.modules.group_attention')
    from mmengine.registry import MODELS
    ffn = dict(type='FFN', embed_dims=C, feedforward_channels=FFN, num_fcs=2, ffn_drop=0.1,
               act_cfg=dict(type='ReLU', inplace=True))
    cfg = dict(
        type='DetectionTransformerDecoder', num_layers=2, return_intermediate=True,
        transformerlayers=dict(
            type='DetrTransformerDecoderLayer',
            attn_cfgs=[dict(type='GroupMultiheadAttention', group=2, embed_dims=C,
                            num_heads=HEADS, dropout=0.1),
                       dict(type='CustomMSDeformableAttention', embed_dims=C, num_heads=HEADS,
                            num_levels=1)],
            ffn_cfgs=ffn, operation_order=('self_attn', 'norm', 'cross_attn', 'norm', 'ffn',
                                           'norm')))
    dec = MODELS.build(cfg)
    branches = nn.ModuleList([reg_branch() for _ in range(2)])
    randomise(dec, gen)
    randomise(branches, gen)
    dec.double()
    branches.double()
    bs, nq, hw = 2, 6, BEV_H * BEV_W
    query = torch.randn(nq, bs, C, generator=gen, dtype=torch.float64)
    query_pos = torch.randn(nq, bs, C, generator=gen, dtype=torch.float64)
    value = torch.randn(hw, bs, C, generator=gen, dtype=torch.float64)
    ref = torch.rand(bs, nq, 3, generator=gen, dtype=torch.float64)
    outs = {}
    for mode in ('eval', 'train'):
        dec.train(mode == 'train')
        set_dropout(dec, 0.0 if mode == 'train' else 0.1)
        with torch.no_grad():
            states, refs = dec(query, None, value=value, query_pos=query_pos,
                               reference_points=ref, reg_branches=branches,
                               spatial_shapes=torch.tensor([[BEV_H, BEV_W]]),
                               level_start_index=torch.tensor([0]))
        outs[f'states_{mode}'] = states.permute(0, 2, 1, 3)  # (L, bs, nq, C)
        outs[f'refs_{mode}'] = refs
    return dict(state_dict=tensors(dec.state_dict()), reg_branches=tensors(branches.state_dict()),
                query=query.transpose(0, 1), query_pos=query_pos.transpose(0, 1),
                value=value.transpose(0, 1), reference_points=ref,
                config=dict(embed_dims=C, num_heads=HEADS, feedforward_channels=FFN, num_layers=2,
                            group=2, bev_h=BEV_H, bev_w=BEV_W), **outs)


def bev_loss_fixture(gen):
    head_mod = official('bevformer.dense_heads.bevformer_head')
    assign_mod = official('core.bbox.assigners.hungarian_assigner_3d')
    from mmdet.models.losses import FocalLoss, SmoothL1Loss

    class Head:
        """The official loss methods on the attributes they read."""
        loss = head_mod.BEVFormerHead_GroupDETR.loss
        loss_single = head_mod.BEVFormerHead.loss_single
        get_targets = head_mod.BEVFormerHead.get_targets
        _get_target_single = head_mod.BEVFormerHead._get_target_single

    groups, per_group, layers, bs, ncls = 2, 5, 2, 2, 10
    head = Head()
    head.group_detr, head.num_query = groups, groups * per_group
    head.num_classes = head.cls_out_channels = ncls
    head.bg_cls_weight, head.sync_cls_avg_factor = 0, True
    head.pc_range = PC_RANGE
    head.code_weights = nn.Parameter(torch.tensor([1.0] * 8 + [0.2, 0.2]).double(),
                                     requires_grad=False)  # float32 as built, then .double()
    head.assigner = assign_mod.HungarianAssigner3D(
        cls_cost=dict(type='FocalLossCost', weight=2.0),
        reg_cost=dict(type='SmoothL1Cost', weight=0.75),
        iou_cost=dict(type='IoUCost', weight=0.0), pc_range=PC_RANGE)
    head.sampler = _PseudoSampler()
    head.loss_cls = FocalLoss(use_sigmoid=True, gamma=2.0, alpha=0.25, loss_weight=2.0)
    head.loss_bbox = SmoothL1Loss(beta=1.0, loss_weight=0.75)
    # GT in mmdet3d 0.17's convention: bottom centre, w, l, h, yaw, vx, vy
    gts, labels = [], []
    for n in (3, 2):
        xy = (torch.rand(n, 2, generator=gen, dtype=torch.float64) - 0.5) * 80
        z = torch.rand(n, 1, generator=gen, dtype=torch.float64) * 2 - 2
        wlh = 0.5 + 4 * torch.rand(n, 3, generator=gen, dtype=torch.float64)
        yaw = (torch.rand(n, 1, generator=gen, dtype=torch.float64) - 0.5) * 2 * math.pi
        vel = torch.randn(n, 2, generator=gen, dtype=torch.float64)
        gts.append(torch.cat([xy, z, wlh, yaw, vel], 1))
        labels.append(torch.randint(0, ncls, (n, ), generator=gen))
    gts[0][1, 7] = float('nan')  # an unknown velocity
    cls = torch.randn(layers, bs, groups * per_group, ncls, generator=gen, dtype=torch.float64)
    box = torch.randn(layers, bs, groups * per_group, 10, generator=gen, dtype=torch.float64)
    box[..., :2] *= 30
    # make some queries close to the GT so the matching is not arbitrary
    box[:, 0, :3, [0, 1, 4]] = gts[0][:, [0, 1, 2]] + 0.3
    cls.requires_grad_(True)
    box.requires_grad_(True)
    losses = head.loss([_LiDARBoxes(g) for g in gts], labels,
                       dict(all_cls_scores=cls, all_bbox_preds=box, enc_cls_scores=None,
                            enc_bbox_preds=None))
    total = sum(losses.values())
    cls_grad, box_grad = torch.autograd.grad(total, [cls, box])
    return dict(gt_bboxes=gts, gt_labels=labels, cls_scores=cls.detach(),
                bbox_preds=box.detach(), losses={k: v.detach() for k, v in losses.items()},
                cls_grad=cls_grad, bbox_grad=box_grad,
                config=dict(group_detr=groups, num_query=per_group, num_classes=ncls))


CANON_WLH = [[2.3524184, 0.5062202, 1.0413622], [0.61416006, 1.7016163, 1.3054738],
             [2.9139307, 10.725025, 3.2832346], [1.9751819, 4.641267, 1.74352],
             [2.772134, 6.565072, 3.2474296], [0.7800532, 2.138673, 1.4437162],
             [0.6667362, 0.7181772, 1.7616143], [0.40246472, 0.4027083, 1.0084083],
             [3.0059454, 12.8197, 4.1213827], [2.4986045, 6.9310856, 2.8382742]]
DD3D_STRIDES = [8, 16, 32, 64, 128]
DD3D_IMG = (128, 192)


def dd3d_config(channels, num_convs):
    """The released configs' ``fcos3d_bbox_head`` (BN for SyncBN)."""
    return dict(
        num_classes=10, in_channels=channels, strides=DD3D_STRIDES, box3d_on=True,
        feature_locations_offset='none',
        fcos2d_cfg=dict(num_cls_convs=num_convs, num_box_convs=num_convs, norm='BN',
                        use_deformable=False, use_scale=True, box2d_scale_init_factor=1.0),
        fcos2d_loss_cfg=dict(focal_loss_alpha=0.25, focal_loss_gamma=2.0, loc_loss_type='giou'),
        fcos3d_cfg=dict(num_convs=num_convs, norm='BN', use_scale=True,
                        depth_scale_init_factor=0.3, proj_ctr_scale_init_factor=1.0,
                        use_per_level_predictors=False, class_agnostic=False,
                        use_deformable=False,
                        mean_depth_per_level=[44.921, 20.252, 11.712, 7.166, 8.548],
                        std_depth_per_level=[24.331, 9.833, 6.223, 4.611, 8.275]),
        fcos3d_loss_cfg=dict(min_depth=0.1, max_depth=80.0, box3d_loss_weight=2.0,
                             conf3d_loss_weight=1.0, conf_3d_temperature=1.0,
                             smooth_l1_loss_beta=0.05, max_loss_per_group=20,
                             predict_allocentric_rot=True, scale_depth_by_focal_lengths=True,
                             scale_depth_by_focal_lengths_factor=500.0, class_agnostic=False,
                             predict_distance=False, canon_box_sizes=CANON_WLH),
        target_assign_cfg=dict(center_sample=True, pos_radius=1.5,
                               sizes_of_interest=((-1, 64), (64, 128), (128, 256), (256, 512),
                                                  (512, 100000000.0))),
        nusc_loss_weight=dict(attr_loss_weight=0.2, speed_loss_weight=0.2))


def _rot_z(yaw):
    c, s = math.cos(yaw), math.sin(yaw)
    return torch.tensor([[c, -s, 0.], [s, c, 0.], [0., 0., 1.]], dtype=torch.float64)


def dd3d_inputs(gen):
    """Features of 2 images (front and back camera) and 4 GT objects per image
    given in the lidar frame (ours: bottom centre, l, w, h, yaw) and in DD3D's
    camera-frame terms (allocentric-free quaternion, projected centre, depth,
    w, l, h)."""
    from pyquaternion import Quaternion
    h, w = DD3D_IMG
    k = torch.tensor([[80., 0., 96.], [0., 80., 64.], [0., 0., 1.]], dtype=torch.float64)
    _, lidar2cam, _ = camera_rig()
    feats = [torch.randn(2, C, math.ceil(h / s), math.ceil(w / s), generator=gen,
                         dtype=torch.float64) for s in DD3D_STRIDES]
    images = []
    for cam, sign in enumerate((1., -1.)):
        n = 4
        labels = torch.randint(0, 10, (n, ), generator=gen)
        lidar_boxes, quats, ctrs, depths, sizes = [], [], [], [], []
        for i in range(n):
            wlh = torch.tensor(CANON_WLH[int(labels[i])], dtype=torch.float64) * (
                0.8 + 0.4 * torch.rand(3, generator=gen, dtype=torch.float64))
            x = float(torch.rand(1, generator=gen)) * 8 - 4
            y = sign * (6 + float(torch.rand(1, generator=gen)) * 14)
            z = -1.5 + float(torch.rand(1, generator=gen))
            yaw = float(torch.rand(1, generator=gen)) * 2 * math.pi - math.pi
            lidar_boxes.append([x, y, z, wlh[1], wlh[0], wlh[2], yaw, 0., 0.])
            r = lidar2cam[cam, :3, :3] @ _rot_z(yaw)
            c = lidar2cam[cam, :3, :3] @ torch.tensor([x, y, z + wlh[2] / 2],
                                                      dtype=torch.float64) + lidar2cam[cam, :3, 3]
            p = k @ c
            quats.append(Quaternion(matrix=r.numpy(), atol=1e-8).elements.tolist())
            ctrs.append((p[:2] / p[2]).tolist())
            depths.append([float(c[2])])
            sizes.append(wlh.tolist())
        attrs = torch.randint(0, 4, (n, ), generator=gen)  # 3: no attribute
        speeds = torch.rand(n, generator=gen, dtype=torch.float64) * 5
        if cam == 0:
            speeds[1] = float('nan')
        images.append(dict(labels=labels, quat=torch.tensor(quats, dtype=torch.float64),
                           proj_ctr=torch.tensor(ctrs, dtype=torch.float64),
                           depth=torch.tensor(depths, dtype=torch.float64),
                           size=torch.tensor(sizes, dtype=torch.float64),
                           bboxes_3d=torch.tensor(lidar_boxes, dtype=torch.float64),
                           attrs=attrs, speeds=speeds))
    boxes3d = official('dd3d.structures.boxes3d')
    inv_k = torch.linalg.inv(k)
    for im in images:  # 2D boxes: the clipped hull of the projected corners
        n = len(im['labels'])
        corners = boxes3d.Boxes3D(im['quat'].float(), im['proj_ctr'].float(),
                                  im['depth'].float(), im['size'].float(),
                                  inv_k[None].expand(n, 3, 3).float()).corners.double()
        uv = torch.einsum('ij,nkj->nki', k, corners)
        uv = uv[..., :2] / uv[..., 2:3]
        xyxy = torch.cat([uv.min(1)[0], uv.max(1)[0]], -1)
        xyxy[:, 0::2] = xyxy[:, 0::2].clamp(0, w)
        xyxy[:, 1::2] = xyxy[:, 1::2].clamp(0, h)
        im['bboxes'] = xyxy
    cam2img = torch.eye(4, dtype=torch.float64).repeat(2, 1, 1)
    cam2img[:, :3, :3] = k
    return dict(feats=feats, images=images, inv_k=inv_k, cam2img=cam2img, lidar2cam=lidar2cam)


def dd3d_run(state_dict, data, dtype):
    """The official training forward on ``data``: dense outputs, losses and
    the gradients of their sum w.r.t. the features (float64: without
    ``loss_cls``, which fvcore computes in float32)."""
    dd3d = official('dd3d.modeling.nuscenes_dd3d')
    boxes3d = official('dd3d.structures.boxes3d')
    head = dd3d.NuscenesDD3D(**dd3d_config(C, 1))
    head.load_state_dict(state_dict)
    head.to(dtype).train()
    h, w = DD3D_IMG
    batched = []
    for im in data['images']:
        n = len(im['labels'])
        inv_k = data['inv_k'].to(dtype)
        box3d = boxes3d.Boxes3D(*(im[k].to(dtype) for k in ('quat', 'proj_ctr', 'depth', 'size')),
                                inv_k[None].expand(n, 3, 3))
        inst = _Instances((h, w), gt_boxes=_Boxes(im['bboxes'].to(dtype)),
                          gt_classes=im['labels'], gt_boxes3d=box3d, gt_attributes=im['attrs'],
                          gt_speeds=im['speeds'].to(dtype))
        batched.append(dict(inv_intrinsics=inv_k, instances=inst))
    feats = [f.to(dtype).requires_grad_(True) for f in data['feats']]
    dense = {}
    hooks = [head.fcos2d_head.register_forward_hook(
        lambda m, i, o: dense.update(cls=o[0], box2d=o[1], centerness=o[2])),
        head.fcos3d_head.register_forward_hook(
        lambda m, i, o: dense.update(quat=o[0], ctr=o[1], depth=o[2], size=o[3], conf=o[4]))]
    losses = head(feats, batched)
    for hk in hooks:
        hk.remove()
    if dtype == torch.float64:  # fvcore's focal loss is float32 whatever the input
        total = sum(v for k, v in losses.items() if k != 'loss_cls')
    else:
        total = sum(losses.values())
    grads = torch.autograd.grad(total, feats)
    return dict(dense={k: [t.detach() for t in v] for k, v in dense.items()},
                losses={k: v.detach() for k, v in losses.items()}, feat_grads=list(grads))


def dd3d_fixture(gen):
    """float32: the official code as is. float64: the same weights and inputs
    with the official 3D-box code's explicit float32 casts (``.to(torch.
    float32)`` in the disentangled loss, the float32 defaults of
    boxes3d/transform3d) made float64, by aliasing ``torch.float32`` to
    ``torch.float64`` (and making float64 the default dtype, for its
    ``torch.as_tensor(1.)`` comparisons) while the dd3d modules are imported
    again and run."""
    dd3d = official('dd3d.modeling.nuscenes_dd3d')
    head = dd3d.NuscenesDD3D(**dd3d_config(C, 1))
    randomise(head, gen)
    state_dict = tensors(head.state_dict())
    data = dd3d_inputs(gen)
    f32 = dd3d_run(state_dict, data, torch.float32)
    real_float32 = torch.float32
    for name in [n for n, m in sys.modules.items()
                 if n.startswith('projects.mmdet3d_plugin.dd3d.') and getattr(m, '__file__', None)]:
        del sys.modules[name]
    torch.float32 = torch.float64
    torch.set_default_dtype(torch.float64)
    try:
        f64 = dd3d_run(state_dict, data, torch.float64)
    finally:
        torch.float32 = real_float32
        torch.set_default_dtype(real_float32)
    gts = [dict(bboxes=im['bboxes'], labels=im['labels'], bboxes_3d=im['bboxes_3d'],
                attr_labels=torch.where(im['attrs'] == 3, -1, im['attrs']), speeds=im['speeds'])
           for im in data['images']]
    return dict(state_dict=state_dict, feats=data['feats'], gts=gts, cam2img=data['cam2img'],
                lidar2cam=data['lidar2cam'], f32=f32, f64=f64,
                canon_box_sizes_wlh=torch.tensor(CANON_WLH),
                config=dict(in_channels=C, num_convs=1, strides=DD3D_STRIDES))


INIT_FNS = ('uniform_', 'normal_', 'constant_', 'ones_', 'zeros_', 'xavier_uniform_',
            'xavier_normal_', 'kaiming_uniform_', 'kaiming_normal_', 'trunc_normal_')


class InitRecorder:
    """Records which ``torch.nn.init`` function last wrote each tensor."""

    def __init__(self):
        self.last = {}
        self.saved = {}

    def __enter__(self):
        for name in INIT_FNS:
            fn = getattr(nn.init, name)
            self.saved[name] = fn

            def wrapped(tensor, *args, _fn=fn, _name=name, **kwargs):
                self.last[id(tensor)] = _name
                return _fn(tensor, *args, **kwargs)

            setattr(nn.init, name, wrapped)
        return self

    def __exit__(self, *exc):
        for name, fn in self.saved.items():
            setattr(nn.init, name, fn)

    def kinds(self, module):
        return {k: self.last.get(id(p), 'none') for k, p in module.named_parameters()}


def transformer_config(channels, frames, heads, ffn, levels, num_cams, group, layers=1):
    """``PerceptionTransformerV2`` of the released configs at a given size."""
    ffn_cfg = dict(type='FFN', embed_dims=channels, feedforward_channels=ffn, num_fcs=2,
                   ffn_drop=0.1, act_cfg=dict(type='ReLU', inplace=True))
    order = ('self_attn', 'norm', 'cross_attn', 'norm', 'ffn', 'norm')
    return dict(
        type='PerceptionTransformerV2', embed_dims=channels, frames=frames, num_cams=num_cams,
        num_feature_levels=levels,
        inter_channels=None if len(frames) < 8 else channels * 2,
        encoder=dict(
            type='BEVFormerEncoder', num_layers=layers, pc_range=PC_RANGE,
            num_points_in_pillar=4, return_intermediate=False,
            transformerlayers=dict(
                type='BEVFormerLayer',
                attn_cfgs=[dict(type='TemporalSelfAttention', embed_dims=channels,
                                num_heads=heads, num_levels=1),
                           dict(type='SpatialCrossAttention', pc_range=PC_RANGE,
                                num_cams=num_cams,
                                deformable_attention=dict(type='MSDeformableAttention3D',
                                                          embed_dims=channels, num_heads=heads,
                                                          num_points=8, num_levels=levels),
                                embed_dims=channels)],
                feedforward_channels=ffn, ffn_dropout=0.1, ffn_cfgs=ffn_cfg,
                operation_order=order)),
        decoder=dict(
            type='DetectionTransformerDecoder', num_layers=layers, return_intermediate=True,
            transformerlayers=dict(
                type='DetrTransformerDecoderLayer',
                attn_cfgs=[dict(type='GroupMultiheadAttention', group=group,
                                embed_dims=channels, num_heads=heads, dropout=0.1),
                           dict(type='CustomMSDeformableAttention', embed_dims=channels,
                                num_heads=heads, num_levels=1)],
                ffn_cfgs=ffn_cfg, operation_order=order)))


def build_transformer(cfg):
    for name in ('encoder', 'decoder', 'group_attention', 'temporal_self_attention',
                 'spatial_cross_attention'):
        official('bevformer.modules.' + name)
    cfg = dict(cfg)
    assert cfg.pop('type') == 'PerceptionTransformerV2'
    return official('bevformer.modules.transformerV2').PerceptionTransformerV2(**cfg)


def init_fixture():
    cfg = transformer_config(C, (-1, 0), HEADS, FFN, 2, 2, 2)
    with InitRecorder() as rec:
        t = build_transformer(cfg)
        t.init_weights()  # as BEVFormerHead.init_weights calls it
    kinds = rec.kinds(t)
    fixed = {k: v.detach().clone() for k, v in t.named_parameters() if 'sampling_offsets.bias' in k}
    return dict(kinds=kinds, values=fixed, config=dict(
        embed_dims=C, num_heads=HEADS, feedforward_channels=FFN, num_levels=2, num_cams=2,
        group=2, frames=[-1, 0]))


def head_forward(gen, transformer, feats, img_metas, prev):
    """``BEVFormerHead_GroupDETR.forward`` in eval mode (the first query group)
    around ``transformer``: its branches, embeddings and positional encoding
    are built by the official ``_init_layers``, randomised, and stored."""
    from mmdet.models.layers import LearnedPositionalEncoding
    head_mod = official('bevformer.dense_heads.bevformer_head')
    per_group, groups = 4, 2
    head = types.SimpleNamespace(
        embed_dims=C, num_reg_fcs=2, cls_out_channels=10, code_size=10, with_box_refine=True,
        as_two_stage=False, bev_h=BEV_H, bev_w=BEV_W, num_query=per_group * groups,
        group_detr=groups, transformer=transformer, training=False, pc_range=PC_RANGE,
        real_h=PC_RANGE[4] - PC_RANGE[1], real_w=PC_RANGE[3] - PC_RANGE[0])
    head_mod.BEVFormerHead._init_layers(head)
    head.positional_encoding = LearnedPositionalEncoding(C // 2, BEV_H, BEV_W)
    parts = nn.ModuleDict(dict(
        cls_branches=head.cls_branches, reg_branches=head.reg_branches,
        bev_embedding=head.bev_embedding, query_embedding=head.query_embedding,
        positional_encoding=head.positional_encoding))
    randomise(parts, gen)
    parts.double().eval()
    with torch.no_grad():
        outs = head_mod.BEVFormerHead_GroupDETR.forward(head, feats, img_metas,
                                                        prev_bev=[prev, None])
    return dict(state_dict=tensors(parts.state_dict()), all_cls_scores=outs['all_cls_scores'],
                all_bbox_preds=outs['all_bbox_preds'],
                config=dict(num_query=per_group, group_detr=groups, num_feats=C // 2))


def transformer_fixture(gen):
    """``PerceptionTransformerV2.forward`` end to end: camera/level embeddings,
    1 encoder layer, the BEV augmentation warp (``aug_param`` with rotation,
    scale and an x flip, ``only_gt``), the fusion of a given history BEV with
    the current one, the learned reference points and 2 decoder layers with
    box refinement (eval mode)."""
    levels = LEVELS[:2]
    cfg = transformer_config(C, (-1, 0), HEADS, FFN, len(levels), 2, 2, layers=1)
    cfg['decoder']['num_layers'] = 2
    t = build_transformer(dict(cfg, num_fusion=1, inter_channels=24))
    branches = nn.ModuleList([reg_branch() for _ in range(2)])
    randomise(t, gen)
    randomise(branches, gen)
    t.double().eval()
    branches.double()
    _, _, lidar2img = camera_rig()
    hw, nq = BEV_H * BEV_W, 6
    feats = [torch.randn(1, 2, C, h, w, generator=gen, dtype=torch.float64) for h, w in levels]
    bev_queries = torch.randn(hw, C, generator=gen, dtype=torch.float64)
    bev_pos = torch.randn(1, C, BEV_H, BEV_W, generator=gen, dtype=torch.float64)
    query_embed = torch.randn(nq, 2 * C, generator=gen, dtype=torch.float64)
    prev = torch.randn(1, hw, C, generator=gen, dtype=torch.float64)
    angle, scale, flip_dx, flip_dy = 0.3, 1.03, True, False
    c, s_ = math.cos(angle), math.sin(angle)
    rot = torch.tensor([[c, -s_, 0.], [s_, c, 0.], [0., 0., 1.]], dtype=torch.float64)
    flip = torch.diag(torch.tensor([-1. if flip_dx else 1., -1. if flip_dy else 1., 1.],
                                   dtype=torch.float64))
    aug = flip @ (scale * torch.eye(3, dtype=torch.float64)) @ rot  # applied to the GT boxes
    img_metas = [dict(lidar2img=lidar2img.numpy(), img_shape=[(IMG_H, IMG_W, 3)] * 2,
                      aug_param=dict(GlobalRotScaleTransImage_param=(
                          angle, scale, flip_dx, flip_dy, torch.inverse(aug), True)))]
    with torch.no_grad():
        bev, states, init_ref, refs = t(
            feats, bev_queries, query_embed, BEV_H, BEV_W, bev_pos=bev_pos,
            reg_branches=branches, prev_bev=[prev, None], img_metas=img_metas)
    head = head_forward(gen, t, feats, img_metas, prev)
    return dict(state_dict=tensors(t.state_dict()), reg_branches=tensors(branches.state_dict()),
                head=head,
                feats=feats, bev_queries=bev_queries, bev_pos=bev_pos, query_embed=query_embed,
                prev_bev=prev, lidar2img=lidar2img.float(), img_shape=[IMG_H, IMG_W],
                bda_mat=aug, bev=bev.transpose(0, 1), states=states.transpose(1, 2),
                init_reference=init_ref, references=refs,
                config=dict(embed_dims=C, num_heads=HEADS, feedforward_channels=FFN,
                            num_levels=len(levels), num_cams=2, bev_h=BEV_H, bev_w=BEV_W,
                            frames=[-1, 0], encoder_layers=1, decoder_layers=2,
                            num_fusion=1, inter_channels=24))


def keys_fixture():
    """Key -> shape of the official ``pts_bbox_head`` and ``fcos3d_bbox_head``
    at the released r50 t8 and t1 sizes (meta device: no memory)."""
    head_mod = official('bevformer.dense_heads.bevformer_head')
    dd3d = official('dd3d.modeling.nuscenes_dd3d')
    from mmdet.models.layers import LearnedPositionalEncoding
    out = {}
    for name, frames, group in (('t8', tuple(range(-7, 1)), 11), ('t1', (0, ), 11)):
        with torch.device('meta'):
            shim = types.SimpleNamespace(
                embed_dims=256, num_reg_fcs=2, cls_out_channels=10, code_size=10,
                with_box_refine=True, as_two_stage=False, bev_h=200, bev_w=200,
                num_query=900 * group)
            shim.transformer = build_transformer(
                transformer_config(256, frames, 8, 512, 4, 6, group, layers=6))
            head_mod.BEVFormerHead._init_layers(shim)
            pos = LearnedPositionalEncoding(128, 200, 200)
            dd = dd3d.NuscenesDD3D(**dd3d_config(256, 4))
        keys = []
        for part, mod in (('transformer', shim.transformer), ('cls_branches', shim.cls_branches),
                          ('reg_branches', shim.reg_branches),
                          ('bev_embedding', shim.bev_embedding),
                          ('query_embedding', shim.query_embedding),
                          ('positional_encoding', pos)):
            keys += [(f'pts_bbox_head.{part}.{k}', list(v.shape))
                     for k, v in mod.state_dict().items()]
        keys.append(('pts_bbox_head.code_weights', [10]))
        keys += [(f'fcos3d_bbox_head.{k}', list(v.shape)) for k, v in dd.state_dict().items()]
        out[name] = keys
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('official', type=Path, help='fundamentalvision/BEVFormer checkout')
    parser.add_argument('fvcore', type=Path, help='fvcore source (sdist) directory')
    parser.add_argument('--out', type=Path, default=OUT)
    args = parser.parse_args(argv)
    install_shims(args.official.resolve(), args.fvcore.resolve())
    gen = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    data = dict(encoder=encoder_fixture(gen), fusion=fusion_fixture(gen),
                decoder=decoder_fixture(gen), bev_loss=bev_loss_fixture(gen),
                dd3d=dd3d_fixture(gen), transformer=transformer_fixture(gen),
                init=init_fixture(), keys=keys_fixture(),
                source='fundamentalvision/BEVFormer@66b65f3 projects/mmdet3d_plugin')
    args.out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(data, args.out)
    torch.load(args.out, weights_only=True)
    print(f'wrote {args.out} ({args.out.stat().st_size / 1e6:.2f} MB)')


if __name__ == '__main__':
    main()
