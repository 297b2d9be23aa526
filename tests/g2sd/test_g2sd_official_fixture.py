"""G2SD against the official code (official fixture).

``tests/data/official/g2sd.pt`` is written by
``tools/model_converters/official_fixtures/g2sd.py`` from pengzhiliang/G2SD
(one iteration of the official generic-distillation engine with seeded
random teacher and student MAEs; the specific-distillation classification
loss of the official fine-tuning engine). The official MAE keys are mapped
to mmpretrain's ``MAEViT`` / ``MAEPretrainDecoder`` keys below; the
official code is not needed here.
"""
import re
from pathlib import Path

import pytest
import torch
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

import projects.g2sd  # noqa: F401
from projects.g2sd.losses import (channel_wise_divergence,
                                  score_masked_distill_loss)

FIXTURE = Path(__file__).resolve().parents[2] / 'tests/data/official/g2sd.pt'
_BLOCK = {'norm1': 'ln1', 'norm2': 'ln2', 'attn.qkv': 'attn.qkv',
          'attn.proj': 'attn.proj', 'mlp.fc1': 'ffn.layers.0.0',
          'mlp.fc2': 'ffn.layers.1'}
_TOP = {'patch_embed.proj': 'backbone.patch_embed.projection',
        'norm': 'backbone.ln1', 'cls_token': 'backbone.cls_token',
        'pos_embed': 'backbone.pos_embed', 'mask_token': 'neck.mask_token',
        'decoder_pos_embed': 'neck.decoder_pos_embed',
        'decoder_embed': 'neck.decoder_embed', 'decoder_norm': 'neck.ln1',
        'decoder_pred': 'neck.decoder_pred',
        'decoderfeature_pred.fc1': 'head.mlp.0',
        'decoderfeature_pred.fc2': 'head.mlp.2'}


def official_to_ours(state_dict, prefix=''):
    """Official ``MaskedAutoencoderViT`` keys -> mmpretrain MAE keys."""
    out = {}
    for key, value in state_dict.items():
        m = re.match(r'^(blocks|decoder_blocks)\.(\d+)\.(.+)\.(weight|bias)$',
                     key)
        if m:
            part = ('backbone.layers' if m.group(1) == 'blocks' else
                    'neck.decoder_blocks')
            name = f'{part}.{m.group(2)}.{_BLOCK[m.group(3)]}.{m.group(4)}'
        else:
            base, _, kind = key.rpartition('.')
            if key in _TOP:
                name = _TOP[key]
            elif base in _TOP:
                name = f'{_TOP[base]}.{kind}'
            else:
                assert key.startswith('encoderfeature_pred.'), key
                continue  # weight 0 in the official loss, not built here
        out[prefix + name] = value
    return out


@pytest.fixture(scope='module')
def fixture():
    return torch.load(FIXTURE, weights_only=True)


def rel_err(a, b):
    return float((a - b).abs().max() / b.abs().max())


def _mae(cfg, part):
    arch = cfg[part]
    size = dict(img_size=cfg['img_size'], patch_size=cfg['patch_size'])
    backbone = dict(type='MAEViT', arch=dict(
        embed_dims=arch['embed_dim'], num_layers=arch['depth'],
        num_heads=arch['num_heads'],
        feedforward_channels=cfg['mlp_ratio'] * arch['embed_dim']),
        mask_ratio=cfg['mask_ratio'], **size)
    neck = dict(type='MAEPretrainDecoder',
                num_patches=(cfg['img_size'] // cfg['patch_size'])**2,
                patch_size=cfg['patch_size'], embed_dim=arch['embed_dim'],
                decoder_embed_dim=arch['decoder_embed_dim'],
                decoder_depth=arch['decoder_depth'],
                decoder_num_heads=arch['decoder_num_heads'],
                mlp_ratio=cfg['mlp_ratio'])
    return backbone, neck


def build(fixture):
    cfg = fixture['config']
    backbone, neck = _mae(cfg, 'student')
    t_backbone, t_neck = _mae(cfg, 'teacher')
    model = MODELS.build(dict(
        type='G2SD', backbone=backbone, neck=neck,
        head=dict(type='G2SDHead',
                  in_channels=cfg['student']['decoder_embed_dim'],
                  out_channels=cfg['teacher']['decoder_embed_dim'],
                  beta=2.0, supervise_all=True),
        teacher=dict(type='G2SDTeacher', backbone=t_backbone, neck=t_neck),
        target_layer=cfg['target_layer'], save_teacher=True)).double()
    state = fixture['generic']['state_dict']
    student = official_to_ours(state['student'])
    # the student's pixel head and decoder norm are not part of G2SD
    for key in [k for k in student
                if k.startswith(('neck.decoder_pred', 'neck.ln1'))]:
        del student[key]
    converted = dict(student, **official_to_ours(state['teacher'],
                                                 'teacher.'))
    result = model.load_state_dict(converted, strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    return model.train()


def test_generic_distillation_matches_official(fixture):
    ref = fixture['generic']
    model = build(fixture)
    img, noise = ref['img'], ref['noise']
    with torch.no_grad():
        target, teacher_mask = model.teacher_target(img, noise)
        # the official target is the raw hidden state, LayerNormed in the
        # engine (eps 1e-6, no affine)
        expected = torch.nn.functional.layer_norm(
            ref['teacher_hidden'], ref['teacher_hidden'].shape[-1:],
            eps=1e-6)
        assert rel_err(target, expected) < 1e-10
    model.zero_grad()
    hidden, mask = model.student_hidden(img, noise)
    assert torch.equal(mask, teacher_mask)
    assert rel_err(model.head(hidden), ref['student_pred']) < 1e-10
    loss = model.head.loss(hidden, target, mask)
    assert rel_err(loss, ref['loss']) < 1e-10
    loss.backward()
    ours = dict(model.named_parameters())
    official = ref['grads']
    # the encoder-feature predictor has weight 0 in the official loss
    assert all(not g.any() for k, g in official.items()
               if k.startswith('encoderfeature_pred.'))
    converted = official_to_ours(official)
    assert converted.keys() == {k for k, p in ours.items()
                                if p.grad is not None}
    for name, grad in converted.items():
        assert rel_err(ours[name].grad, grad) < 1e-10, name


def test_specific_distillation_loss_matches_official(fixture):
    ref = fixture['specific']
    classes = ref['outputs'].shape[1]
    head = MODELS.build(dict(type='G2SDDistillClsHead',
                             num_classes=classes, in_channels=classes,
                             distill_type='hard',
                             distill_weight=0.5)).double()
    with torch.no_grad():  # identity heads: logits = the tokens
        for fc in (head.layers.head, head.layers.head_dist):
            fc.weight.copy_(torch.eye(classes))
            fc.bias.zero_()
    cls_token = ref['outputs'].clone().requires_grad_()
    dist_token = ref['distill_pred'].clone().requires_grad_()
    samples = [DataSample().set_gt_label(int(y)) for y in ref['labels']]
    losses = head.loss(((cls_token, dist_token), ), samples,
                       teacher_logits=ref['teacher_logits'])
    # the official loss is (CE_gt + CE_dist) / 2: weights 0.5 and 0.5
    total = losses['loss_cls'] + losses['loss_distill']
    assert rel_err(total, ref['loss']) < 1e-10
    total.backward()
    assert rel_err(cls_token.grad, ref['grad_outputs']) < 1e-10
    assert rel_err(dist_token.grad, ref['grad_distill_pred']) < 1e-10


@pytest.mark.parametrize('case', [0, 1])
def test_channel_wise_divergence_matches_official(fixture, case):
    """Segmentation specific distillation: the official value with
    ``subtract_teacher_entropy=False``; the default (KL) differs by the
    teacher's entropy and has the same gradient."""
    ref = fixture['segmentation'][case]
    grads = []
    for subtract in (False, True):
        student = ref['student'].clone().requires_grad_()
        loss = channel_wise_divergence(student, ref['teacher'], ref['tau'],
                                       subtract_teacher_entropy=subtract)
        loss.backward()
        grads.append(student.grad)
        if not subtract:
            assert rel_err(loss, ref['loss']) < 1e-10
        else:
            assert float(loss) < float(ref['loss'])
    for grad in grads:
        assert rel_err(grad, ref['grad_student']) < 1e-10


def test_score_masked_detection_distillation_matches_official(fixture):
    """Detection specific distillation: the official feature and objectness
    terms (weights 1) with ``subtract_teacher_entropy=False``; the default
    (binary KL) has the same gradients."""
    ref = fixture['detection']
    for subtract in (False, True):
        feats = [f.clone().requires_grad_() for f in ref['student_feats']]
        scores = [s.clone().requires_grad_() for s in ref['student_scores']]
        feat, score = score_masked_distill_loss(
            feats, ref['teacher_feats'], scores, ref['teacher_scores'],
            subtract_teacher_entropy=subtract)
        assert rel_err(feat, ref['feat_loss']) < 1e-10
        if not subtract:
            assert rel_err(score, ref['cls_loss']) < 1e-10
        grads = torch.autograd.grad(feat + score, feats + scores)
        for ours, official in zip(grads, ref['grad_feats'] +
                                  ref['grad_scores']):
            assert rel_err(ours, official) < 1e-10
