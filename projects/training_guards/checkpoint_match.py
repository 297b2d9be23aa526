"""Does a checkpoint fit the model it is evaluated with?

mmengine loads ``load_from`` with ``strict=False``: model keys that the
checkpoint lacks, or holds with another shape, keep their random
initialisation and the log only warns. :func:`match_checkpoint` counts them
as mmengine loads (the ``state_dict`` entry, ``module.`` prefixes stripped,
BN ``num_batches_tracked`` ignored, the model inside a wrapper or TTA
model); :func:`check_checkpoint` refuses a checkpoint of another model.
"""
import re
from collections import Counter
from dataclasses import dataclass, field

from mmengine.model import BaseTTAModel, is_model_wrapper
from mmengine.runner.checkpoint import CheckpointLoader

MODULE_PREFIX = (r'^module\.', '')


class CheckpointMismatchError(ValueError):
    """Most of the model, or a whole part of it, would stay randomly
    initialised with this checkpoint."""


def _module(key):
    return key.split('.', 1)[0]


@dataclass
class KeyMatch:
    """Model keys against checkpoint keys.

    Attributes:
        checkpoint (str): the checkpoint file.
        total (int): model keys (without ``num_batches_tracked``).
        missing (list[str]): model keys the checkpoint lacks.
        mismatched (dict): ``{key: (checkpoint shape, model shape)}``.
        unexpected (list[str]): checkpoint keys the model lacks.
        modules (dict): ``{top-level module: number of model keys}``.
    """
    checkpoint: str
    total: int
    missing: list = field(default_factory=list)
    mismatched: dict = field(default_factory=dict)
    unexpected: list = field(default_factory=list)
    modules: dict = field(default_factory=dict)

    @property
    def loaded(self):
        """Model keys that get their value from the checkpoint."""
        return self.total - len(self.missing) - len(self.mismatched)

    def not_loaded_by_module(self):
        """``{module: model keys of it not loaded}``, most first."""
        counts = Counter(map(_module, [*self.missing, *self.mismatched]))
        return dict(counts.most_common())

    def empty_modules(self):
        """Top-level modules of which no key is loaded."""
        bad = self.not_loaded_by_module()
        return [m for m, n in self.modules.items() if bad.get(m) == n]

    def refused(self):
        """Fewer than half of the model keys, or none of a top-level
        module's keys, would be loaded."""
        return 2 * self.loaded < self.total or bool(self.empty_modules())

    def summary(self):
        """One line: what would not be loaded, by module, with examples."""
        by_module = ', '.join(f'{m} {n} of {self.modules[m]}'
                              for m, n in self.not_loaded_by_module().items())
        text = (f'{self.loaded} of {self.total} model keys would be loaded; '
                f'{len(self.missing)} are missing and '
                f'{len(self.mismatched)} have another shape '
                f'(by module: {by_module or "none"})')
        if self.missing:
            text += f'; missing e.g. {", ".join(self.missing[:3])}'
        if self.mismatched:
            shown = [f'{k} {list(a)} in the checkpoint vs {list(b)}'
                     for k, (a, b) in list(self.mismatched.items())[:3]]
            text += f'; shapes e.g. {", ".join(shown)}'
        if self.unexpected:
            text += (f'; {len(self.unexpected)} checkpoint keys are not in '
                     f'the model')
        return text

    def as_dict(self):
        """The record written next to the metrics."""
        return dict(checkpoint=self.checkpoint, total=self.total,
                    loaded=self.loaded, missing=list(self.missing),
                    mismatched={k: [list(a), list(b)] for k, (a, b) in
                                self.mismatched.items()},
                    unexpected=len(self.unexpected))


def model_to_load(model):
    """The module mmengine loads ``load_from`` into."""
    if is_model_wrapper(model):
        model = model.module
    if isinstance(model, BaseTTAModel):
        model = model.module
    return model


def match_checkpoint(model, checkpoint, revise_keys=(MODULE_PREFIX, )):
    """Compare the keys and shapes of ``model`` and of the ``checkpoint``
    file (read through mmengine's loaders: the weights-only policy for
    local files).

    Returns:
        KeyMatch: the comparison.
    """
    ckpt = CheckpointLoader.load_checkpoint(checkpoint, map_location='cpu')
    if not isinstance(ckpt, dict):
        raise CheckpointMismatchError(
            f'checkpoint {checkpoint} holds a {type(ckpt).__name__}, not a '
            'state dict (or a dict with one under "state_dict")')
    state = ckpt.get('state_dict', ckpt)
    for pattern, repl in revise_keys:
        state = {re.sub(pattern, repl, k): v for k, v in state.items()}
    expected = {k: v.shape for k, v in model_to_load(model).state_dict()
                .items() if 'num_batches_tracked' not in k}
    match = KeyMatch(checkpoint, len(expected),
                     modules=dict(Counter(map(_module, expected))))
    for key, shape in expected.items():
        if key not in state:
            match.missing.append(key)
        elif tuple(getattr(state[key], 'shape', ())) != tuple(shape):
            match.mismatched[key] = (tuple(getattr(state[key], 'shape', ())),
                                     tuple(shape))
    match.unexpected = [k for k in state if k not in expected
                        and 'num_batches_tracked' not in k]
    return match


def check_checkpoint(model, checkpoint, allow_mismatch=False):
    """:func:`match_checkpoint`, raising when the checkpoint does not fit.

    Raises:
        CheckpointMismatchError: fewer than half of the model keys, or none
            of a top-level module's keys (``backbone``, ``neck``,
            ``bbox_head`` ...), would be loaded, and ``allow_mismatch`` is
            False.
    """
    match = match_checkpoint(model, checkpoint)
    if match.refused() and not allow_mismatch:
        empty = match.empty_modules()
        why = (f'nothing of {", ".join(empty)} would be loaded' if empty
               else 'most of the model would not be loaded')
        raise CheckpointMismatchError(
            f'checkpoint {checkpoint} does not fit this model: {why}, so it '
            f'would be evaluated at random initialisation. '
            f'{match.summary()}. Check the config and the checkpoint, or '
            'pass --allow-mismatch to evaluate anyway.')
    return match
