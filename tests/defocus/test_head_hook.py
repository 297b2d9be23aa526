"""Auxiliary loss (official per-token form and the pooled form) and the
scheduled drop path hook."""
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F
from mmengine.logging import MessageHub
from mmengine.registry import init_default_scope
from mmpretrain.structures import DataSample

from projects.defocus import (DefocusClsHead, DefocusDropPathHook,
                              DefocusMamba, scheduled_rate)

TINY = dict(embed_dims=16, intermediate_size=32, num_layers=5,
            time_step_rank=2, group_norm_size=16, state_size=4)


def samples(labels, num_classes=None):
    out = []
    for y in labels:
        s = DataSample().set_gt_label(y)
        if num_classes:
            s.set_gt_score(F.one_hot(torch.tensor(y), num_classes).float()
                           * 0.8 + 0.2 / num_classes)
        out.append(s)
    return out


@pytest.mark.parametrize('aux', ['tokens', 'avg', None])
def test_aux_loss_closed_forms(aux):
    init_default_scope('mmpretrain')
    torch.manual_seed(0)
    head = DefocusClsHead(num_classes=5, in_channels=16, aux_loss=aux)
    tokens = torch.randn(3, 7, 16)  # 6 image tokens + cls last
    labels = [0, 3, 4]
    target = torch.tensor(labels)
    losses = head.loss((tokens, ), samples(labels))
    ce_cls = F.cross_entropy(head.head(tokens[:, -1]), target)
    if aux is None:
        assert set(losses) == {'loss'}
        assert torch.allclose(losses['loss'], ce_cls)
        return
    if aux == 'tokens':  # official main.py: mean over tokens of per-token CE
        logits = head.head2(tokens[:, :-1])
        ce_aux = torch.stack([F.cross_entropy(logits[:, i], target)
                              for i in range(6)]).mean()
    else:  # paper wording: CE of the average-pooled features
        ce_aux = F.cross_entropy(head.head2(tokens[:, :-1].mean(1)), target)
    assert torch.allclose(losses['loss_cls'], ce_cls / 2, atol=1e-6)
    assert torch.allclose(losses['loss_aux'], ce_aux / 2, atol=1e-6)
    # prediction uses the cls token only
    preds = head.predict((tokens, ))
    assert torch.allclose(preds[0].pred_score,
                          head.head(tokens[:, -1]).softmax(-1)[0])


def test_aux_loss_soft_targets_and_22k_head():
    init_default_scope('mmpretrain')
    torch.manual_seed(0)
    head = DefocusClsHead(num_classes=5, in_channels=16, hidden_dims=48,
                          loss=dict(type='CrossEntropyLoss', use_soft=True))
    assert isinstance(head.head[1], torch.nn.Tanh)
    tokens = torch.randn(2, 4, 16)
    data = samples([1, 2], num_classes=5)
    losses = head.loss((tokens, ), data)
    soft = torch.stack([d.gt_score for d in data])
    logp = head.head2(tokens[:, :-1]).log_softmax(-1)
    expected = -(soft[:, None] * logp).sum(-1).mean() / 2
    assert torch.allclose(losses['loss_aux'], expected, atol=1e-6)
    with pytest.raises(ValueError, match='aux_loss'):
        DefocusClsHead(num_classes=5, in_channels=16, aux_loss='cls')


def test_scheduled_rate_official_values():
    # Base on ImageNet-1k: 0.1 -> 0.75 over 300 epochs
    assert scheduled_rate(0, 300, 0.1, 0.75) == pytest.approx(0.1)
    assert scheduled_rate(299, 300, 0.1, 0.75) == pytest.approx(0.75)
    assert scheduled_rate(150, 300, 0.1, 0.75) == pytest.approx(
        0.1 + 150 / 299 * 0.65)
    assert scheduled_rate(0, 1, 0.1, 0.75) == pytest.approx(0.1)


@pytest.mark.parametrize('by_epoch', [True, False])
def test_hook_sets_backbone_rate_and_block_rates(by_epoch):
    backbone = DefocusMamba(arch=TINY, patch_size=8, drop_path_rate=0.7)
    model = torch.nn.Module()
    model.backbone = backbone
    hub = MessageHub.get_instance('defocus_hook_test')
    runner = SimpleNamespace(model=model, epoch=0, max_epochs=11, iter=0,
                             max_iters=21, message_hub=hub)
    hook = DefocusDropPathHook(min_rate=0.2, by_epoch=by_epoch)
    hook.before_train(runner)
    step, total = (5, 11) if by_epoch else (10, 21)
    runner.epoch, runner.iter = (5, 0) if by_epoch else (0, 10)
    hook.before_train_epoch(runner)
    hook.before_train_iter(runner, 0)
    expected = 0.2 + step / (total - 1) * 0.5  # max from the backbone (0.7)
    assert backbone.drop_path_rate == pytest.approx(expected)
    assert hub.get_scalar('train/drop_path_rate').current() == \
        pytest.approx(expected)
    rates = backbone.block_drop_rates()
    assert rates == pytest.approx([expected * i / 4 for i in range(5)])
    with pytest.raises(RuntimeError, match='no DefocusMamba'):
        hook.before_train(SimpleNamespace(model=torch.nn.Linear(1, 1)))


def test_drop_path_only_in_training():
    torch.manual_seed(0)
    model = DefocusMamba(arch=TINY, patch_size=8, drop_path_rate=0.5)
    img = torch.randn(4, 3, 16, 16)
    model.eval()
    with torch.no_grad():
        a, b = model(img)[0], model(img)[0]
        assert torch.equal(a, b)
        model.train()
        c = model(img)[0]
    assert not torch.allclose(a, c)
