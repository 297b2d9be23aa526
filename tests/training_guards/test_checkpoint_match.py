"""Checkpoint key matching: counts as mmengine loads, refusal rules and the
message that names the checkpoint and what would not be loaded."""
import pytest
import torch
from torch import nn

from projects.training_guards import (CheckpointMismatchError,
                                      check_checkpoint, match_checkpoint)


class Detector(nn.Module):
    """backbone (conv + BN: 7 keys, 6 counted without num_batches_tracked),
    neck (2 keys), head (4 keys): 12 counted keys."""

    def __init__(self, classes=3):
        super().__init__()
        self.backbone = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))
        self.neck = nn.Conv2d(4, 4, 1)
        self.head = nn.ModuleDict(dict(cls=nn.Linear(4, classes),
                                       reg=nn.Linear(4, 4)))


def save(tmp_path, state, name='ckpt.pth', wrap=True):
    path = tmp_path / name
    torch.save(dict(state_dict=state) if wrap else state, path)
    return str(path)


def test_own_checkpoint_matches_fully(tmp_path):
    model = Detector()
    # DDP-style prefixes are stripped, as mmengine's load does
    state = {f'module.{k}': v for k, v in model.state_dict().items()}
    match = check_checkpoint(model, save(tmp_path, state))
    assert (match.total, match.loaded) == (12, 12)
    assert match.missing == [] and match.mismatched == {}
    assert match.unexpected == [] and not match.refused()
    assert match.as_dict()['loaded'] == 12


def test_other_model_is_refused_with_counts(tmp_path):
    other = nn.Sequential(nn.Conv2d(3, 8, 3), nn.Linear(8, 2))
    path = save(tmp_path, other.state_dict(), wrap=False)
    with pytest.raises(CheckpointMismatchError) as err:
        check_checkpoint(Detector(), path)
    message = str(err.value)
    assert message.startswith(f'checkpoint {path} does not fit this model')
    assert 'nothing of backbone, neck, head would be loaded' in message
    assert '0 of 12 model keys would be loaded; 12 are missing' in message
    assert '(by module: backbone 6 of 6, head 4 of 4, neck 2 of 2)' in message
    assert '4 checkpoint keys are not in the model' in message
    assert '--allow-mismatch' in message
    match = check_checkpoint(Detector(), path, allow_mismatch=True)
    assert match.loaded == 0 and len(match.missing) == 12


def test_partial_checkpoint_loads_and_names_what_is_missing(tmp_path):
    model = Detector()
    state = model.state_dict()
    del state['head.reg.weight'], state['head.reg.bias']
    state['head.cls.weight'] = torch.zeros(5, 4)  # 5 classes instead of 3
    match = check_checkpoint(model, save(tmp_path, state))
    assert not match.refused() and match.loaded == 9
    assert match.missing == ['head.reg.weight', 'head.reg.bias']
    assert match.mismatched == {'head.cls.weight': ((5, 4), (3, 4))}
    assert match.not_loaded_by_module() == {'head': 3}
    summary = match.summary()
    assert '9 of 12 model keys would be loaded; 2 are missing and 1 have ' \
        'another shape (by module: head 3 of 4)' in summary
    assert 'head.cls.weight [5, 4] in the checkpoint vs [3, 4]' in summary
    record = match.as_dict()
    assert record['mismatched'] == {'head.cls.weight': [[5, 4], [3, 4]]}


def test_whole_module_missing_is_refused_even_if_most_keys_load(tmp_path):
    model = Detector()
    state = {k: v for k, v in model.state_dict().items()
             if not k.startswith('neck.')}  # 10 of 12 keys load
    match = match_checkpoint(model, save(tmp_path, state))
    assert match.loaded == 10 and match.empty_modules() == ['neck']
    with pytest.raises(CheckpointMismatchError, match='nothing of neck'):
        check_checkpoint(model, save(tmp_path, state))


def test_half_the_keys_mismatched_is_refused(tmp_path):
    model = Detector()
    state = {k: torch.zeros(*v.shape, 2) if v.dim() else v
             for k, v in model.state_dict().items()}
    state['neck.bias'] = model.neck.bias  # one key of each module matches
    state['head.reg.bias'] = model.head.reg.bias
    state['backbone.1.running_var'] = model.backbone[1].running_var
    match = match_checkpoint(model, save(tmp_path, state))
    assert match.loaded == 3 and match.empty_modules() == []
    assert match.refused()
    with pytest.raises(CheckpointMismatchError,
                       match='most of the model would not be loaded'):
        check_checkpoint(model, save(tmp_path, state))


def test_not_a_state_dict_is_refused(tmp_path):
    path = tmp_path / 'list.pth'
    torch.save([1, 2], path)
    with pytest.raises(CheckpointMismatchError, match='holds a list'):
        match_checkpoint(Detector(), str(path))
