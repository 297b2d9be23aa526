"""Official-code fixture for G2SD (tests/data/official/g2sd.pt).

    python tools/model_converters/official_fixtures/g2sd.py CHECKOUT
        [--out tests/data/official/g2sd.pt]

``CHECKOUT``: pengzhiliang/G2SD at commit 6146adf; ``G2SD/models_mae.py``,
``G2SD/engine_distill.py`` (generic distillation) and
``G2SD/engine_finetune_dis.py`` (specific distillation, classification)
are imported from its ``G2SD`` folder, and the channel-wise distillation
loss of the segmentation stage from
``G2SD_seg_dis/src/distillation/losses/cwd.py`` (its package imports,
``.utils`` and ``..builder``, are stubs: only the ``DISTILL_LOSSES``
registry decorator is used). The detection distillation terms exist only
inline in the training loop of the authors' detectron2 fork
(``G2SD_det_dis/tools/plain_distill_net.py``, ``do_train``); their lines,
from ``layers = len(stu_adapt_feature)`` to the weighting of
``distill_cls_loss``, are read from that file and executed unchanged on
prepared tensors (detectron2 itself is not imported).

Shims (outside the official math): ``util/misc.py`` imports ``inf`` from
``torch._six`` (gone in torch 2), given by a stub module; ``np.float``
(removed in numpy 1.24, ``util/pos_embed.py``) is set to ``float``;
``torch.cuda.synchronize`` (called every iteration) is a no-op on this
CPU machine; ``torch.cuda.amp.autocast`` is disabled on CPU by torch.

Generic distillation: one iteration of the official
``engine_distill.train_one_epoch`` on a one-batch loader. The engine draws
``noise = torch.rand(B, 196)``, so the models use 56 px images with 4 px
patches (14 x 14 grid) at a small width: teacher ``MaskedAutoencoderViT``
(``teacher=True``, width 32, depth 2, 2 heads, decoder 24 wide, 3 blocks,
``suplayer=2``), student (width 16, depth 2, 2 heads, decoder 16 wide,
2 blocks, feature predictors to the teacher widths), MLP ratio 2, LayerNorm
eps 1e-6, ``supervise_all=True``, mask ratio 0.75. Every parameter
(LayerNorms, position embeddings and tokens included) is seeded random.
The loss scaler is replaced by a recorder that calls ``loss.backward()``
and keeps the loss and the student's gradients (no optimiser step); forward
hooks keep the engine's noise, the teacher's decoder hidden states and the
student's prediction.

Specific distillation (classification): ``engine_finetune_dis.
train_one_epoch`` (``enable_nkd=False``: ``(CE(outputs, labels) +
CE(distill_pred, argmax teacher)) / 2``) on seeded logits: the student is a
module returning fixed leaf tensors ``(outputs, distill_pred)``, the teacher
one returning fixed logits; the loss and the gradients with respect to both
student outputs are stored.

Specific distillation (segmentation): ``ChannelWiseDivergence(
student_channels=C, teacher_channels=C, tau, weight=1)`` on seeded
(N, C, H, W) logits for tau 1 and 4; the loss and its gradient with respect
to the student logits are stored.

Specific distillation (detection): those ``do_train`` lines on seeded
student (adapted) and teacher FPN features (3 levels, 4 channels) and RPN
objectness logits (3 anchors), ``cfg.distill_feat_weight =
cfg.distill_cls_weight = 1``; the two losses and their gradients with
respect to the student features and logits are stored.

float64: the official attention computes ``attn.float()``; for this run
``Tensor.float`` leaves float64 tensors unchanged (float32 casts otherwise).

The file holds plain tensors, dicts, numbers and strings
(``torch.load(..., weights_only=True)``); ``tests/g2sd/
test_g2sd_official_fixture.py`` checks our G2SD on it.
"""
import argparse
import contextlib
import importlib.util
import sys
import textwrap
import types
from functools import partial
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

ROOT = Path(__file__).resolve().parents[3]
OFFICIAL_COMMIT = '6146adf'
CFG = dict(img_size=56, patch_size=4, mask_ratio=0.75, batch=2,
           mlp_ratio=2, target_layer=2,
           teacher=dict(embed_dim=32, depth=2, num_heads=2,
                        decoder_embed_dim=24, decoder_depth=3,
                        decoder_num_heads=2),
           student=dict(embed_dim=16, depth=2, num_heads=2,
                        decoder_embed_dim=16, decoder_depth=2,
                        decoder_num_heads=2),
           sd=dict(batch=5, classes=7))


def import_official(checkout):
    six = types.ModuleType('torch._six')
    six.inf = float('inf')
    sys.modules['torch._six'] = six
    np.float = float
    sys.path.insert(0, str(checkout / 'G2SD'))
    import engine_distill
    import engine_finetune_dis
    import models_mae
    return models_mae, engine_distill, engine_finetune_dis


@contextlib.contextmanager
def official_cpu_float64():
    float_, sync = torch.Tensor.float, torch.cuda.synchronize
    torch.Tensor.float = lambda self, *a, **k: (
        self if self.dtype == torch.float64 else float_(self, *a, **k))
    torch.cuda.synchronize = lambda *a, **k: None
    try:
        yield
    finally:
        torch.Tensor.float, torch.cuda.synchronize = float_, sync


@torch.no_grad()
def randomise(model, gen):
    for name, tensor in model.state_dict().items():
        noise = torch.randn(tensor.shape, generator=gen, dtype=torch.float64)
        if 'norm' in name and name.endswith('weight'):
            tensor.copy_(1 + 0.2 * noise)
        else:
            tensor.copy_(0.2 * noise)


class Recorder:
    """Stands in for the loss scaler: backward, keep loss and gradients."""

    def __init__(self, model):
        self.model, self.seen = model, {}

    def __call__(self, loss, optimizer, parameters=None, update_grad=True,
                 **kwargs):
        loss.backward()
        self.seen['loss'] = loss.detach().clone()
        self.seen['grads'] = {n: p.grad.clone()
                              for n, p in self.model.named_parameters()
                              if p.grad is not None}


def generic(models_mae, engine, gen):
    common = dict(img_size=CFG['img_size'], patch_size=CFG['patch_size'],
                  mlp_ratio=CFG['mlp_ratio'],
                  norm_layer=partial(nn.LayerNorm, eps=1e-6),
                  supervise_all=True)
    t, s = CFG['teacher'], CFG['student']
    teacher = models_mae.MaskedAutoencoderViT(
        teacher=True, suplayer=CFG['target_layer'], **t, **common).double()
    student = models_mae.MaskedAutoencoderViT(
        encoder_pred_channel=t['embed_dim'],
        decoder_pred_channel=t['decoder_embed_dim'], **s, **common).double()
    randomise(teacher, gen)
    randomise(student, gen)
    for p in teacher.parameters():
        p.requires_grad = False
    state = dict(teacher={k: v.clone() for k, v in
                          teacher.state_dict().items()},
                 student={k: v.clone() for k, v in
                          student.state_dict().items()})
    img = torch.randn(CFG['batch'], 3, CFG['img_size'], CFG['img_size'],
                      generator=gen, dtype=torch.float64)
    seen = {}
    hooks = [
        student.register_forward_pre_hook(
            lambda m, a: seen.__setitem__('noise', a[1].clone())),
        teacher.register_forward_hook(
            lambda m, a, out: seen.__setitem__('teacher_hidden',
                                               out[1].clone())),
        student.register_forward_hook(
            lambda m, a, out: seen.__setitem__('student_pred',
                                               out[0].detach().clone())),
    ]
    args = argparse.Namespace(accum_iter=1, mask_ratio=CFG['mask_ratio'],
                              lr=1e-3, min_lr=0., warmup_epochs=1, epochs=2)
    optimizer = torch.optim.SGD(student.parameters(), lr=0.)
    recorder = Recorder(student)
    torch.manual_seed(0)
    with official_cpu_float64():
        engine.train_one_epoch(student, [(img, torch.zeros(CFG['batch']))],
                               optimizer, torch.device('cpu'), 0, recorder,
                               args=args, model_teacher=teacher)
    for h in hooks:
        h.remove()
    return dict(state_dict=state, img=img, **seen, **recorder.seen)


def specific(engine, gen):
    sd = CFG['sd']
    outputs = torch.randn(sd['batch'], sd['classes'], generator=gen,
                          dtype=torch.float64).requires_grad_()
    distill = torch.randn(outputs.shape, generator=gen,
                          dtype=torch.float64).requires_grad_()
    teacher_logits = torch.randn(outputs.shape, generator=gen,
                                 dtype=torch.float64)
    labels = torch.randint(sd['classes'], (sd['batch'], ), generator=gen)

    class Student(nn.Module):
        def forward(self, x):
            return outputs, distill

    recorder = Recorder(nn.Module())
    args = argparse.Namespace(accum_iter=1, lr=1e-3, min_lr=0.,
                              warmup_epochs=1, epochs=2, enable_nkd=False)
    optimizer = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=0.)
    with official_cpu_float64():
        engine.train_one_epoch(
            Student(), lambda x: teacher_logits, torch.nn.CrossEntropyLoss(),
            [(torch.zeros(sd['batch'], 1), labels)], optimizer,
            torch.device('cpu'), 0, recorder, args=args)
    return dict(outputs=outputs.detach(), distill_pred=distill.detach(),
                teacher_logits=teacher_logits, labels=labels,
                loss=recorder.seen['loss'], grad_outputs=outputs.grad,
                grad_distill_pred=distill.grad)


def import_cwd(checkout):
    """``cwd.py`` as module ``g2sd_seg_losses.cwd`` with stub siblings."""
    pkg, losses = 'g2sd_seg', 'g2sd_seg.losses'
    builder = types.ModuleType(f'{pkg}.builder')
    builder.DISTILL_LOSSES = types.SimpleNamespace(
        register_module=lambda *a, **k: (lambda cls: cls))
    utils = types.ModuleType(f'{losses}.utils')
    utils.weight_reduce_loss = None  # imported, never called by cwd.py
    for name, module in ((pkg, types.ModuleType(pkg)),
                         (losses, types.ModuleType(losses)),
                         (f'{pkg}.builder', builder),
                         (f'{losses}.utils', utils)):
        module.__path__ = []
        sys.modules[name] = module
    path = checkout / 'G2SD_seg_dis/src/distillation/losses/cwd.py'
    spec = importlib.util.spec_from_file_location(f'{losses}.cwd', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.ChannelWiseDivergence


def segmentation(cwd, gen):
    cases = []
    for tau in (1.0, 4.0):
        student = torch.randn(2, 5, 6, 7, generator=gen,
                              dtype=torch.float64).requires_grad_()
        teacher = torch.randn(student.shape, generator=gen,
                              dtype=torch.float64)
        loss = cwd(5, 5, 'loss_cwd', tau=tau, weight=1.0)(student, teacher)
        loss.backward()
        cases.append(dict(tau=tau, student=student.detach(),
                          teacher=teacher, loss=loss.detach(),
                          grad_student=student.grad))
    return cases


DET_START = 'layers = len(stu_adapt_feature)'
DET_END = 'distill_cls_loss = distill_cls_loss * cfg.distill_cls_weight'


def detection_lines(checkout):
    """The official distillation-loss lines of ``do_train``, dedented."""
    path = checkout / 'G2SD_det_dis/tools/plain_distill_net.py'
    lines = path.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if DET_START in line)
    end = next(i for i, line in enumerate(lines) if DET_END in line)
    return textwrap.dedent('\n'.join(lines[start:end + 1]))


def detection(code, gen):
    shapes = [(2, 4, 6, 5), (2, 4, 3, 3), (2, 4, 2, 2)]
    feats_s, feats_t, scores_s, scores_t = [], [], [], []
    for n, c, h, w in shapes:
        feats_s.append(torch.randn(n, c, h, w, generator=gen,
                                   dtype=torch.float64).requires_grad_())
        feats_t.append(torch.randn(n, c, h, w, generator=gen,
                                   dtype=torch.float64))
        scores_s.append((2 * torch.randn(n, 3, h, w, generator=gen,
                                         dtype=torch.float64)
                         ).requires_grad_())
        scores_t.append(2 * torch.randn(n, 3, h, w, generator=gen,
                                        dtype=torch.float64))
    scope = dict(torch=torch, F=torch.nn.functional,
                 stu_adapt_feature=feats_s, tea_adapt_feature=feats_t,
                 pred_objectness_logits_student=scores_s,
                 pred_objectness_logits_teacher=scores_t,
                 cfg=argparse.Namespace(distill_feat_weight=1.0,
                                        distill_cls_weight=1.0))
    exec(compile(code, 'plain_distill_net.py:do_train', 'exec'), scope)
    feat, cls = scope['distill_feat_loss'], scope['distill_cls_loss']
    grads = torch.autograd.grad(feat + cls, feats_s + scores_s)
    return dict(student_feats=[f.detach() for f in feats_s],
                teacher_feats=feats_t,
                student_scores=[s.detach() for s in scores_s],
                teacher_scores=scores_t, feat_loss=feat.detach(),
                cls_loss=cls.detach(), grad_feats=list(grads[:3]),
                grad_scores=list(grads[3:]))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('official', help='G2SD checkout')
    parser.add_argument('--out', default=str(ROOT /
                                             'tests/data/official/g2sd.pt'))
    args = parser.parse_args()
    models_mae, engine_gd, engine_sd = import_official(
        Path(args.official).resolve())
    gen = torch.Generator().manual_seed(0)
    gd = generic(models_mae, engine_gd, gen)
    sd = specific(engine_sd, gen)
    seg = segmentation(import_cwd(Path(args.official).resolve()), gen)
    det = detection(detection_lines(Path(args.official).resolve()), gen)
    torch.save(dict(official=f'pengzhiliang/G2SD @ {OFFICIAL_COMMIT}, '
                    'G2SD/models_mae.py, engine_distill.py, '
                    'engine_finetune_dis.py, G2SD_seg_dis/src/distillation/'
                    'losses/cwd.py, G2SD_det_dis/tools/plain_distill_net.py',
                    config=CFG, generic=gd, specific=sd, segmentation=seg,
                    detection=det), args.out)
    print(f"generic loss {float(gd['loss']):.8f} ({len(gd['grads'])} "
          f"gradients), specific loss {float(sd['loss']):.8f}; "
          f'wrote {args.out}')


if __name__ == '__main__':
    main()
