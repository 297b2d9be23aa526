"""BEVFormer v2 against the official modules (fundamentalvision/BEVFormer).

``tests/data/official/bevformer_v2.pt`` is written by
``tools/model_converters/official_fixtures/bevformer_v2.py`` from the official
code with seeded random weights. The official state dicts go through our
converter (``tools/model_converters/bevformer_v2_to_visionplug.py``, with the
detector prefix of each module) and load strictly; the official code is not
needed here.
"""
import importlib.util
import math
from pathlib import Path

import pytest
import torch
from mmengine.registry import DefaultScope
from mmengine.structures import InstanceData

from mmdet.registry import MODELS
from projects.bevformer_v2.models import (NuscenesDD3D, PerceptionTransformerV2, ResNetFusion,
                                          SpatialCrossAttention, TemporalSelfAttention)
from projects.bevformer_v2.models.decoder import DetectionTransformerDecoder
from projects.bevformer_v2.models.encoder import (BEVFormerEncoder, bev_grid_2d, bev_grid_3d,
                                                  point_sampling)
from projects.bevformer_v2.models.perspective_head import CANON_SIZES_LWH
from projects.run_config import load_config

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / 'tests/data/official/bevformer_v2.pt'
F64, F32 = 1e-10, 1e-5


@pytest.fixture(scope='module')
def ref():
    return torch.load(FIXTURE, weights_only=True)


@pytest.fixture(scope='module')
def conv():
    path = ROOT / 'tools/model_converters/bevformer_v2_to_visionplug.py'
    spec = importlib.util.spec_from_file_location('bevformer_v2_converter', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def rel_err(a, b):
    a, b = torch.as_tensor(a).detach().double(), torch.as_tensor(b).double()
    return float((a - b).abs().max() / b.abs().max().clamp(min=1e-12))


def load(module, state_dict, prefix, conv):
    """Official module state dict -> our converter (as a detector key) -> ours, strict."""
    converted, dropped = conv.convert({prefix + k: v for k, v in state_dict.items()})
    assert dropped == []
    result = module.load_state_dict({k[len(prefix):]: v for k, v in converted.items()},
                                    strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    return module


# ------------------------------------------------------------------ encoder
def _encoder(ref, conv, official_unseen):
    e = ref['encoder']
    cfg = e['config']
    enc = BEVFormerEncoder(
        num_layers=cfg['num_layers'], pc_range=e['pc_range'],
        num_points_in_pillar=e['num_points_in_pillar'], embed_dims=cfg['embed_dims'],
        feedforward_channels=cfg['feedforward_channels'], num_cams=cfg['num_cams'],
        tsa_cfg=dict(num_heads=cfg['num_heads'], num_levels=1),
        sca_cfg=dict(keep_unseen_residual=not official_unseen,
                     deformable_attention=dict(num_heads=cfg['num_heads'],
                                               num_points=cfg['sca_points'],
                                               num_levels=cfg['num_levels'])))
    load(enc, e['state_dict'], 'pts_bbox_head.transformer.encoder.', conv)
    return enc.double().eval()


def _level_start(shapes):
    return torch.cat([shapes.new_zeros(1), shapes.prod(1).cumsum(0)[:-1]])


def test_reference_points_and_camera_projection(ref):
    e = ref['encoder']
    h, w = e['config']['bev_h'], e['config']['bev_w']
    z = e['pc_range'][5] - e['pc_range'][2]
    ref_3d = bev_grid_3d(h, w, 4, 1, 'cpu', torch.float64, z_size=z)
    assert rel_err(ref_3d[0], e['ref_3d']) == 0
    assert rel_err(bev_grid_2d(h, w, 1, 'cpu', torch.float64)[0], e['ref_2d']) == 0
    # the pillar heights: 0.5 m above the bottom, then every (Z - 1) / (D - 1) m
    heights = ref_3d[0, :, 0, 2] * z + e['pc_range'][2]
    torch.testing.assert_close(heights, torch.tensor([-4.5, -2.5 + 1 / 3, 0.5 - 1 / 3, 2.5],
                                                     dtype=torch.float64))
    uv, mask = point_sampling(ref_3d, e['pc_range'], e['lidar2img'][None], e['img_shape'],
                              e['img_shape'])
    assert torch.equal(mask[0], e['bev_mask'])
    assert 0 < int(mask.sum()) < mask.numel()
    m = e['bev_mask']
    assert rel_err(uv[0][m], e['ref_cam'][m]) <= F32


def test_temporal_self_attention_matches_official(ref, conv):
    e = ref['encoder']
    enc = _encoder(ref, conv, official_unseen=True)
    tsa = enc.layers[0].attentions[0]
    assert isinstance(tsa, TemporalSelfAttention)
    shapes = torch.tensor([[e['config']['bev_h'], e['config']['bev_w']]])
    with torch.no_grad():
        out = tsa(e['bev_query'][None], e['bev_pos'][None], e['ref_2d'][None], shapes,
                  shapes.new_zeros(1))
    assert rel_err(out[0], e['tsa_out']) <= F64


def test_spatial_cross_attention_matches_official(ref, conv):
    e = ref['encoder']
    shapes = e['spatial_shapes']
    args = (e['bev_query'][None], e['value'][None], e['ref_cam'][None].double(),
            e['bev_mask'][None], shapes, _level_start(shapes))
    seen = e['bev_mask'].any(-1).any(0)
    assert 0 < int(seen.sum()) < seen.numel()
    official = _encoder(ref, conv, official_unseen=True).layers[0].attentions[1]
    ours = _encoder(ref, conv, official_unseen=False).layers[0].attentions[1]
    assert isinstance(ours, SpatialCrossAttention)
    with torch.no_grad():
        out_official, out_ours = official(*args)[0], ours(*args)[0]
    assert rel_err(out_official, e['sca_out']) <= F64
    # the deliberate difference: a query no camera sees keeps its residual
    assert rel_err(out_ours[seen], e['sca_out'][seen]) <= F64
    torch.testing.assert_close(out_ours[~seen], e['bev_query'][~seen], rtol=0, atol=0)
    torch.testing.assert_close(e['sca_out'][~seen] - e['bev_query'][~seen],
                               ours.output_proj.bias.expand(int((~seen).sum()), -1))


def test_encoder_matches_official(ref, conv):
    """Two layers end to end, with our own reference points and projection;
    the official ``point_sampling`` runs in float32 by design, as ours."""
    e = ref['encoder']
    enc = _encoder(ref, conv, official_unseen=True)
    shapes = e['spatial_shapes']
    with torch.no_grad():
        out = enc(e['bev_query'][None], e['value'][None], e['config']['bev_h'],
                  e['config']['bev_w'], e['bev_pos'][None], shapes, _level_start(shapes),
                  e['lidar2img'][None], e['img_shape'], e['img_shape'])
    assert rel_err(out[0], e['out']) <= F64


# ------------------------------------------------------------ fusion, decoder
def test_temporal_fusion_matches_official(ref, conv):
    f = ref['fusion']
    cfg = f['config']
    fusion = ResNetFusion(cfg['in_channels'], cfg['out_channels'], cfg['inter_channels'],
                          cfg['num_layer'])
    load(fusion, f['state_dict'], 'pts_bbox_head.transformer.fusion.', conv)
    fusion.double().eval()
    with torch.no_grad():
        out = fusion(f['inputs'])
    assert rel_err(out[0], f['out']) <= F64


def _reg_branch(c):
    return torch.nn.Sequential(torch.nn.Linear(c, c), torch.nn.ReLU(), torch.nn.Linear(c, c),
                               torch.nn.ReLU(), torch.nn.Linear(c, 10))


@pytest.mark.parametrize('mode', ['eval', 'train'])
def test_decoder_matches_official(ref, conv, mode):
    """Eval: plain self-attention; train (dropout 0): Group-DETR groups."""
    d = ref['decoder']
    cfg = d['config']
    dec = DetectionTransformerDecoder(
        num_layers=cfg['num_layers'], embed_dims=cfg['embed_dims'], num_heads=cfg['num_heads'],
        feedforward_channels=cfg['feedforward_channels'], group=cfg['group'])
    load(dec, d['state_dict'], 'pts_bbox_head.transformer.decoder.', conv)
    branches = torch.nn.ModuleList([_reg_branch(cfg['embed_dims']) for _ in range(2)])
    branches.load_state_dict(d['reg_branches'])  # refinement uses the raw rows 0, 1, 4
    dec.double().train(mode == 'train')
    branches.double()
    if mode == 'train':
        for m in dec.modules():
            if isinstance(m, torch.nn.Dropout):
                m.p = 0.0
            elif isinstance(m, torch.nn.MultiheadAttention):
                m.dropout = 0.0
    shapes = torch.tensor([[cfg['bev_h'], cfg['bev_w']]])
    with torch.no_grad():
        states, refs = dec(d['query'], d['query_pos'], d['value'], d['reference_points'],
                           shapes, shapes.new_zeros(1), branches)
    assert rel_err(states, d[f'states_{mode}']) <= F64
    assert rel_err(refs, d[f'refs_{mode}']) <= F64


def test_transformer_matches_official(ref, conv):
    """``PerceptionTransformerV2`` end to end: camera/level embeddings, the
    encoder, the BEV-augmentation warp (rotation, scale, x flip), the fusion
    with a history BEV, learned reference points, the refining decoder."""
    d = ref['transformer']
    cfg = d['config']
    heads = cfg['num_heads']
    t = PerceptionTransformerV2(
        encoder=dict(num_layers=cfg['encoder_layers'],
                     pc_range=[-51.2, -51.2, -5.0, 51.2, 51.2, 3.0],
                     feedforward_channels=cfg['feedforward_channels'],
                     tsa_cfg=dict(num_heads=heads),
                     sca_cfg=dict(keep_unseen_residual=False, deformable_attention=dict(
                         num_heads=heads, num_levels=cfg['num_levels']))),
        decoder=dict(num_layers=cfg['decoder_layers'], num_heads=heads,
                     feedforward_channels=cfg['feedforward_channels'], group=2),
        embed_dims=cfg['embed_dims'], num_feature_levels=cfg['num_levels'],
        num_cams=cfg['num_cams'], frames=tuple(cfg['frames']), num_fusion=cfg['num_fusion'],
        inter_channels=cfg['inter_channels'])
    load(t, d['state_dict'], 'pts_bbox_head.transformer.', conv)
    branches = torch.nn.ModuleList([_reg_branch(cfg['embed_dims']) for _ in range(2)])
    branches.load_state_dict(d['reg_branches'])
    t.double().eval()
    branches.double()
    h, w, c = cfg['bev_h'], cfg['bev_w'], cfg['embed_dims']
    bda = torch.eye(4, dtype=torch.float64)
    bda[:3, :3] = d['bda_mat']
    with torch.no_grad():
        bev = t.get_bev_features(d['feats'], d['bev_queries'], h, w,
                                 d['bev_pos'].flatten(2).transpose(1, 2), d['lidar2img'][None],
                                 d['img_shape'], d['img_shape'], bda[None])
        fused = t.fuse([d['prev_bev'], bev], h, w)
        query_pos, query = d['query_embed'].split(c, 1)
        init_ref = t.reference_points(query_pos).sigmoid()[None]
        states, refs = t.decode(fused, h, w, query[None], query_pos[None], init_ref, branches)
    assert rel_err(fused, d['bev']) <= F64
    assert rel_err(init_ref, d['init_reference']) <= F64
    assert rel_err(states, d['states']) <= F64
    assert rel_err(refs, d['references']) <= F64


def test_bev_head_forward_matches_official(ref, conv):
    """``BEVFormerHead`` eval forward around the transformer above (first
    query group, cls/reg branches, box decoding): class logits equal, and the
    box codes equal the official ones mapped to our convention (the converter's
    regression-row map)."""
    d = ref['transformer']
    h = d['head']
    cfg, hcfg = d['config'], h['config']
    heads, pc = cfg['num_heads'], [-51.2, -51.2, -5.0, 51.2, 51.2, 3.0]
    head_cfg = dict(
        type='BEVFormerHead', bev_h=cfg['bev_h'], bev_w=cfg['bev_w'],
        num_query=hcfg['num_query'], group_detr=hcfg['group_detr'],
        embed_dims=cfg['embed_dims'], pc_range=pc,
        positional_encoding=dict(type='LearnedPositionalEncoding', num_feats=hcfg['num_feats']),
        bbox_coder=dict(type='NMSFreeCoder', pc_range=pc),
        transformer=dict(
            type='PerceptionTransformerV2', num_feature_levels=cfg['num_levels'],
            num_cams=cfg['num_cams'], frames=tuple(cfg['frames']),
            num_fusion=cfg['num_fusion'], inter_channels=cfg['inter_channels'],
            encoder=dict(num_layers=cfg['encoder_layers'], pc_range=pc,
                         feedforward_channels=cfg['feedforward_channels'],
                         tsa_cfg=dict(num_heads=heads),
                         sca_cfg=dict(keep_unseen_residual=False, deformable_attention=dict(
                             num_heads=heads, num_levels=cfg['num_levels']))),
            decoder=dict(num_layers=cfg['decoder_layers'], num_heads=heads,
                         feedforward_channels=cfg['feedforward_channels'],
                         group=hcfg['group_detr'])))
    with DefaultScope.overwrite_default_scope('mmdet'):
        head = MODELS.build(head_cfg)
    official = {'transformer.' + k: v for k, v in d['state_dict'].items()}
    official.update(h['state_dict'])
    official['code_weights'] = torch.tensor([1.0] * 8 + [0.2, 0.2])
    load(head, official, 'pts_bbox_head.', conv)
    head.double().eval()
    bda = torch.eye(4, dtype=torch.float64)
    bda[:3, :3] = d['bda_mat']
    with torch.no_grad():
        outs = head(d['feats'], d['lidar2img'][None], d['img_shape'], d['img_shape'],
                    prev_bevs=[d['prev_bev']], bda_mat=bda[None])
    assert outs['all_cls_scores'].shape[2] == hcfg['num_query']
    assert rel_err(outs['all_cls_scores'], h['all_cls_scores']) <= F64
    mapped = conv.map_box_rows(h['all_bbox_preds'].movedim(-1, 0)).movedim(0, -1)
    assert rel_err(outs['all_bbox_preds'], mapped) <= F64


# ----------------------------------------------------------------- BEV loss
def _tiny_head(cfg, pc_range):
    c = 16
    head = dict(
        type='BEVFormerHead', bev_h=2, bev_w=2, num_query=cfg['num_query'],
        group_detr=cfg['group_detr'], num_classes=cfg['num_classes'], embed_dims=c,
        pc_range=pc_range,
        positional_encoding=dict(type='LearnedPositionalEncoding', num_feats=c // 2),
        bbox_coder=dict(type='NMSFreeCoder', pc_range=pc_range),
        transformer=dict(
            type='PerceptionTransformerV2', num_feature_levels=1, num_cams=1,
            encoder=dict(num_layers=1, pc_range=pc_range, feedforward_channels=c,
                         tsa_cfg=dict(num_heads=2), sca_cfg=dict(
                             deformable_attention=dict(num_heads=2, num_levels=1))),
            decoder=dict(num_layers=2, num_heads=2, feedforward_channels=c)))
    with DefaultScope.overwrite_default_scope('mmdet'):
        return MODELS.build(head)


def _ours_from_official_boxes(b):
    """mmdet3d 0.17 (w, l, yaw0 = -yaw - pi/2) -> ours (l, w, yaw)."""
    yaw = -b[:, 6] - math.pi / 2
    yaw = torch.atan2(yaw.sin(), yaw.cos())
    return torch.cat([b[:, :3], b[:, 4:5], b[:, 3:4], b[:, 5:6], yaw[:, None], b[:, 7:]], 1)


def test_bev_head_loss_matches_official(ref, conv):
    L = ref['bev_loss']
    head = _tiny_head(L['config'], [-51.2, -51.2, -5.0, 51.2, 51.2, 3.0]).double().train()
    gts = [InstanceData(bboxes_3d=_ours_from_official_boxes(b), labels_3d=lab)
           for b, lab in zip(L['gt_bboxes'], L['gt_labels'])]
    cls = L['cls_scores'].clone().requires_grad_(True)
    box = conv.map_box_rows(L['bbox_preds'].movedim(-1, 0)).movedim(0, -1)
    box.requires_grad_(True)
    losses = head.loss_by_feat(dict(all_cls_scores=cls, all_bbox_preds=box), gts)
    assert sorted(losses) == sorted(L['losses'])
    for k, v in L['losses'].items():
        assert rel_err(losses[k], v.reshape(())) <= F64, k
    cls_grad, box_grad = torch.autograd.grad(sum(losses.values()), [cls, box])
    assert rel_err(cls_grad, L['cls_grad']) <= F64
    box_grad = conv.map_box_rows(box_grad.movedim(-1, 0)).movedim(0, -1)
    assert rel_err(box_grad, L['bbox_grad']) <= F64


# ---------------------------------------------------------- perspective head
def _dd3d(ref, conv):
    d = ref['dd3d']
    cfg = d['config']
    # the official loss clamp is discarded (a no-op): no clamp to compare with it
    head = NuscenesDD3D(in_channels=cfg['in_channels'], strides=cfg['strides'],
                        num_convs=cfg['num_convs'], max_loss_per_group=math.inf,
                        attr_loss_weighted=False, box3d_smooth_l1_over_beta=False)
    return load(head, d['state_dict'], 'fcos3d_bbox_head.', conv).train()


def _dd3d_gts(d, dtype):
    return [InstanceData(bboxes=g['bboxes'].to(dtype), labels=g['labels'],
                         bboxes_3d=g['bboxes_3d'].to(dtype), attr_labels=g['attr_labels'],
                         speeds=g['speeds'].to(dtype)) for g in d['gts']]


@pytest.mark.parametrize('dtype', [torch.float64, torch.float32])
def test_perspective_head_matches_official(ref, conv, dtype):
    """Dense outputs, all ten losses and the feature gradients of a training
    step. float64 against the official run with its float32 casts lifted;
    float32 against the unmodified official code. The focal loss is float32
    in both (fvcore casts its inputs)."""
    d = ref['dd3d']
    torch.testing.assert_close(torch.tensor(CANON_SIZES_LWH),
                               d['canon_box_sizes_wlh'][:, [1, 0, 2]], rtol=0, atol=0)
    official = d['f64' if dtype == torch.float64 else 'f32']
    tol = F64 if dtype == torch.float64 else F32
    head = _dd3d(ref, conv).to(dtype)
    feats = [f.to(dtype).requires_grad_(True) for f in d['feats']]
    out = head(feats)
    for key, maps in official['dense'].items():
        for lvl, o in enumerate(maps):
            if key == 'size':
                o = conv.map_size_channels(o.transpose(0, 1)).transpose(0, 1)
            assert rel_err(out[key][lvl], o) <= tol, (key, lvl)
    losses = head.loss(out, _dd3d_gts(d, dtype), d['cam2img'].to(dtype),
                       d['lidar2cam'].to(dtype))
    assert sorted(losses) == sorted(official['losses'])
    assert all(float(v) > 0 for v in losses.values())
    for k, v in official['losses'].items():
        assert rel_err(losses[k], v) <= (F32 if k == 'loss_cls' else tol), k
    # float64: the official gradient leaves out the float32 focal loss
    total = sum(v for k, v in losses.items() if k != 'loss_cls' or dtype == torch.float32)
    grads = torch.autograd.grad(total, feats)
    for g, o in zip(grads, official['feat_grads']):
        assert rel_err(g, o) <= tol


def test_perspective_head_attribute_loss_flag(ref, conv):
    """Ours weights the attribute cross-entropy per location by centerness;
    the official (flag off) takes its plain mean: they differ on the fixture."""
    d = ref['dd3d']
    head = _dd3d(ref, conv).double()
    gts = _dd3d_gts(d, torch.float64)
    cam2img, lidar2cam = d['cam2img'], d['lidar2cam']
    with torch.no_grad():
        out = head(d['feats'])
        official = head.loss(out, gts, cam2img, lidar2cam)
        head.attr_loss_weighted = True
        weighted = head.loss(out, gts, cam2img, lidar2cam)
    assert rel_err(official['loss_attr'], d['f64']['losses']['loss_attr']) <= F64
    assert abs(float(weighted['loss_attr'] - official['loss_attr'])) > 1e-4
    for k in official:
        if k != 'loss_attr':
            assert float(weighted[k]) == float(official[k])


# ------------------------------------------------------------- init, keys
def test_transformer_init_matches_official(ref):
    """The function that last wrote each parameter (xavier_uniform_ on every
    matrix incl. level/camera embeddings, the attentions' constant/offset
    init, torch defaults for FFN biases, ...) and the offset directions."""
    from projects.bevformer_v2.models import attention as attn_module
    cfg = ref['init']['config']
    recorder = _InitRecorder()
    with recorder:
        t = PerceptionTransformerV2(
            encoder=dict(num_layers=1, pc_range=[-51.2, -51.2, -5.0, 51.2, 51.2, 3.0],
                         feedforward_channels=cfg['feedforward_channels'],
                         tsa_cfg=dict(num_heads=cfg['num_heads']),
                         sca_cfg=dict(deformable_attention=dict(
                             num_heads=cfg['num_heads'], num_levels=cfg['num_levels']))),
            decoder=dict(num_layers=1, num_heads=cfg['num_heads'],
                         feedforward_channels=cfg['feedforward_channels'], group=cfg['group']),
            embed_dims=cfg['embed_dims'], num_feature_levels=cfg['num_levels'],
            num_cams=cfg['num_cams'], frames=tuple(cfg['frames']))
    assert attn_module.nn.init is torch.nn.init
    kinds = recorder.kinds(t)
    assert kinds == ref['init']['kinds']
    params = dict(t.named_parameters())
    for k, v in ref['init']['values'].items():
        torch.testing.assert_close(params[k], v, rtol=0, atol=0)


class _InitRecorder:
    """Records which ``torch.nn.init`` function last wrote each tensor (the
    fixture script records the official transformer the same way)."""
    NAMES = ('uniform_', 'normal_', 'constant_', 'ones_', 'zeros_', 'xavier_uniform_',
             'xavier_normal_', 'kaiming_uniform_', 'kaiming_normal_', 'trunc_normal_')

    def __enter__(self):
        self.last, self.saved = {}, {}
        for name in self.NAMES:
            fn = getattr(torch.nn.init, name)
            self.saved[name] = fn

            def wrapped(tensor, *args, _fn=fn, _name=name, **kwargs):
                self.last[id(tensor)] = _name
                return _fn(tensor, *args, **kwargs)

            setattr(torch.nn.init, name, wrapped)
        return self

    def __exit__(self, *exc):
        for name, fn in self.saved.items():
            setattr(torch.nn.init, name, fn)

    def kinds(self, module):
        return {k: self.last.get(id(p), 'none') for k, p in module.named_parameters()}


@pytest.mark.parametrize('name,config', [
    ('t8', 'bevformer-v2_r50_t8_16xb1-24e_nuscenes.py'),
    ('t1', 'bevformer-v2_r50_t1_16xb1-24e_nuscenes.py')])
def test_converter_maps_every_official_key(ref, conv, name, config):
    """The official heads' real key list and shapes (r50 t8 / t1) through our
    converter equal our detector's head keys and shapes, nothing missing."""
    cfg = load_config(str(ROOT / 'configs/bevformer_v2' / config)).model
    with DefaultScope.overwrite_default_scope('mmdet'):
        with torch.device('meta'):
            model = MODELS.build(cfg)
    ours = {k: tuple(v.shape) for k, v in model.state_dict().items()
            if k.startswith(('pts_bbox_head.', 'fcos3d_bbox_head.'))}
    official = {}
    for k, shape in ref['keys'][name]:
        n = math.prod(shape)
        official[k] = torch.zeros(shape) if n < 100_000 else torch.empty(shape, device='meta')
    converted, dropped = conv.convert(official)
    assert dropped == []
    assert {k: tuple(v.shape) for k, v in converted.items()} == ours
