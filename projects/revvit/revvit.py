"""RevViT with reproducible, local drop-path seeding (mmpretrain's class)."""
import torch
from mmengine.registry import MODELS
from mmpretrain.models.backbones.revvit import (RevTransformerEncoderLayer,
                                                RevVisionTransformer)

from .seeded_rng import preserve_global_rng

_SEED_RANGE = 2 ** 62


def draw_seed(generator):
    return int(torch.randint(_SEED_RANGE, (1, ), generator=generator))


class SeededRevLayer(RevTransformerEncoderLayer):
    """mmpretrain's reversible layer with its seeds from a local stream.

    Upstream ``seed_cuda`` reseeds the global RNG non-deterministically
    (``torch.seed()``) before each stochastic part, and the forward and the
    reversible backward then ``torch.manual_seed`` the global RNG with the
    stored seeds: seeded runs are not reproducible and every later random
    draw of the program changes. Here the seeds come from ``self.rng`` (the
    owning backbone's ``torch.Generator``) and the upstream forward and
    backward run inside :func:`preserve_global_rng`, so their reseeding
    stays local: the backward replays the forward's masks and the global
    RNG is left as it was.
    """

    rng = None  # a torch.Generator, set by RevViT

    def seed_cuda(self, key):
        if self.rng is None:
            raise RuntimeError('SeededRevLayer needs .rng (built by RevViT)')
        self.seeds[key] = draw_seed(self.rng)
        torch.manual_seed(self.seeds[key])  # local: see forward()

    def forward(self, x1, x2):
        with preserve_global_rng():
            return super().forward(x1, x2)

    def backward_pass(self, y1, y2, d_y1, d_y2):
        with preserve_global_rng():
            return super().backward_pass(y1, y2, d_y1, d_y2)


@MODELS.register_module()
class RevViT(RevVisionTransformer):
    """Reversible ViT (Mangalam et al., CVPR 2022) for cls / det / seg.

    mmpretrain's ``RevVisionTransformer`` whose layers are
    :class:`SeededRevLayer`: drop-path and dropout seeds come from a
    ``torch.Generator`` owned by the backbone, seeded once at construction
    from the global RNG (so ``randomness=dict(seed=...)`` makes runs
    reproducible) or from ``rng_seed``. A forward / backward leaves the
    global RNG state unchanged, and the reversible backward replays the
    masks of the forward.

    For detection and segmentation use ``out_type='featmap'``: one
    stride-16 map with ``2 * embed_dims`` channels (``fusion_mode='concat'``)
    for :class:`projects.simple_fpn.SimpleFPN`.

    Args:
        arch (str | dict): mmpretrain's arch names (``deit-small`` is
            Rev-ViT-S, ``deit-base`` Rev-ViT-B) or a dict.
        rng_seed (int, optional): Seed of the backbone's stream; None draws
            it from the global RNG at construction.
        **kwargs: ``mmpretrain.models.RevVisionTransformer`` arguments
            (``img_size``, ``drop_path_rate``, ``out_type``, ...).
    """

    def __init__(self, arch='deit-small', rng_seed=None, **kwargs):
        if isinstance(arch, str) and arch.lower() not in self.arch_zoo:
            raise ValueError(f'RevViT: unknown arch {arch!r}; valid archs: '
                             f'{", ".join(self.arch_zoo)} (or a dict with '
                             f'embed_dims, num_layers, num_heads, '
                             f'feedforward_channels)')
        super().__init__(arch=arch, **kwargs)
        if rng_seed is None:
            rng_seed = int(torch.randint(_SEED_RANGE, (1, )))
        self.rng = torch.Generator()
        self.rng.manual_seed(int(rng_seed))
        for layer in self.layers:
            # Same module, seeded behaviour: SeededRevLayer only overrides
            # methods and adds the `rng` attribute, so switching the class
            # of the layers mmpretrain built is exact (no rebuild, no
            # re-initialisation).
            layer.__class__ = SeededRevLayer
            layer.rng = self.rng

    @property
    def out_channels(self):
        return (2 * self.embed_dims if self.fusion_layer.mode == 'concat'
                else self.embed_dims)

    def forward(self, x):
        # patch dropout (drop_after_pos) runs on the local stream too
        with preserve_global_rng():
            torch.manual_seed(draw_seed(self.rng))
            return super().forward(x)
