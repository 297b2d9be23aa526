"""Hiera with dense multi-scale outputs at any input size (timm's Hiera)."""
import math

import torch
import torch.nn.functional as F
from mmengine.registry import MODELS
from timm.layers import resample_abs_pos_embed
from timm.models.hiera import Hiera, Reroll, Unroll

ARCH_ZOO = {
    'tiny': dict(embed_dim=96, num_heads=1, stages=(1, 2, 7, 2)),
    'small': dict(embed_dim=96, num_heads=1, stages=(1, 2, 11, 2)),
    'base': dict(embed_dim=96, num_heads=1, stages=(2, 3, 16, 3)),
    'base_plus': dict(embed_dim=112, num_heads=2, stages=(2, 3, 16, 3)),
    'large': dict(embed_dim=144, num_heads=2, stages=(2, 6, 36, 4)),
    'huge': dict(embed_dim=256, num_heads=4, stages=(2, 6, 36, 4)),
    # timm's absolute-window position embedding variants (Bolya et al.,
    # "Window Attention is Bugged", 2023): a global pos_embed (NCHW, a
    # fixed 16x16 / 14x14 grid) resampled to the token grid plus one
    # mask-unit-sized window embedding tiled over the mask units;
    # layer scale 1e-5, jax init (timm hiera_{small,base}_abswin_256)
    'small_abswin': dict(embed_dim=96, num_heads=1, stages=(1, 2, 11, 2),
                         abs_win_pos_embed=True, global_pos_size=(16, 16),
                         init_values=1e-5, weight_init='jax',
                         use_expand_proj=False),
    'base_abswin': dict(embed_dim=96, num_heads=1, stages=(2, 3, 16, 3),
                        abs_win_pos_embed=True, global_pos_size=(14, 14),
                        init_values=1e-5, weight_init='jax'),
}
ARCH_ALIASES = {'t': 'tiny', 's': 'small', 'b': 'base', 'b+': 'base_plus',
                'base-plus': 'base_plus', 'l': 'large', 'h': 'huge',
                's-abswin': 'small_abswin', 'small-abswin': 'small_abswin',
                'b-abswin': 'base_abswin', 'base-abswin': 'base_abswin'}
# input size the released weights were trained at (the default img_size)
ARCH_IMG_SIZE = {'small_abswin': 256, 'base_abswin': 256}


def resolve_arch(arch):
    """Arch name (T/S/B/B+/L/H, the abswin variants or the long names) or
    dict -> settings."""
    if isinstance(arch, dict):
        missing = {'embed_dim', 'num_heads', 'stages'} - set(arch)
        if missing:
            raise ValueError(f'HieraDense: a custom arch dict needs the keys '
                             f'embed_dim, num_heads, stages; missing '
                             f'{sorted(missing)}')
        return dict(arch)
    name = str(arch).lower()
    name = ARCH_ALIASES.get(name, name)
    if name not in ARCH_ZOO:
        valid = ', '.join(list(ARCH_ZOO) + list(ARCH_ALIASES))
        raise ValueError(f'HieraDense: unknown arch {arch!r}; valid archs: '
                         f'{valid} (or a dict with embed_dim, num_heads, '
                         f'stages)')
    return dict(ARCH_ZOO[name])


def default_img_size(arch):
    """224, or 256 for the abswin archs (their released training size)."""
    if isinstance(arch, dict):
        return 256 if arch.get('abs_win_pos_embed') else 224
    name = str(arch).lower()
    return ARCH_IMG_SIZE.get(ARCH_ALIASES.get(name, name), 224)


@MODELS.register_module()
class HieraDense(Hiera):
    """Hiera (Ryali et al., ICML 2023) as a multi-scale backbone.

    Subclasses ``timm.models.hiera.Hiera`` (same parameter names, so timm
    and official weights load after ``tools/model_converters/
    hiera_to_visionplug.py``) and removes its fixed input size: the
    unroll/reroll orders are built for each input size (and cached) and the
    absolute position embedding, learnt on the ``img_size / 4`` token grid,
    is resampled bicubically (timm's ``resample_abs_pos_embed``) to the
    input's grid. The abswin archs (``abs_win_pos_embed=True``) do what
    timm's ``Hiera._pos_embed`` does when built at the input size: the
    window embedding (one mask unit, 8x8 tokens) is tiled over the input's
    mask units and the global embedding (a fixed grid, e.g. 16x16) is
    resampled to the token grid (bicubic, ``antialias=True``); their
    parameters do not depend on the input size. Heights and widths must be
    multiples of ``size_multiple``
    (32 for the standard archs: patch stride 4 times the 8x8-token mask
    unit and the three 2x2 q-poolings).

    Args:
        arch (str | dict): ``'tiny'|'small'|'base'|'base_plus'|'large'|
            'huge'`` (or ``t/s/b/b+/l/h``), ``'small_abswin'|'base_abswin'``
            (timm's ``hiera_{small,base}_abswin_256``), or a dict with
            ``embed_dim``, ``num_heads`` and ``stages`` (and further timm
            ``Hiera`` arguments, e.g. ``abs_win_pos_embed``).
        img_size (int | tuple[int, int], optional): Size the position
            embedding is learnt at (default: 224, or 256 for the abswin
            archs, the released weights' sizes). Inputs may differ.
        out_indices (Sequence[int]): Stages to output (0..3: strides
            4, 8, 16, 32; channels C, 2C, 4C, 8C).
        out_type (str): ``'featmap'``: the stage maps [N, C_i, H_i, W_i]
            (detection / segmentation). ``'avg_featmap'``: the mean of the
            last stage's tokens after a LayerNorm (the classification
            pre-logits, as the official head), appended after the maps of
            ``out_indices`` (use ``out_indices=()`` for classification).
        drop_path_rate (float): Stochastic depth rate (linear over blocks).
        init_cfg (dict, optional): e.g. ``dict(type='Pretrained',
            checkpoint=..., prefix='backbone.')``.
        **kwargs: Further ``timm.models.hiera.Hiera`` arguments.
    """

    OUT_TYPES = ('featmap', 'avg_featmap')

    def __init__(self,
                 arch='tiny',
                 img_size=None,
                 out_indices=(0, 1, 2, 3),
                 out_type='featmap',
                 drop_path_rate=0.,
                 init_cfg=None,
                 **kwargs):
        settings = resolve_arch(arch)
        settings.update(kwargs)
        if img_size is None:
            img_size = default_img_size(settings)
        for key in ('num_classes', 'global_pool'):
            if key in settings:
                raise ValueError(f'HieraDense has no classifier; drop '
                                 f'{key!r} (use an mmpretrain head)')
        super().__init__(img_size=img_size, num_classes=0,
                         drop_path_rate=drop_path_rate, **settings)
        if out_type not in self.OUT_TYPES:
            raise ValueError(f'HieraDense: out_type must be one of '
                             f'{self.OUT_TYPES}, got {out_type!r}')
        num_stages = len(self.stage_ends)
        out_indices = tuple(int(i) for i in out_indices)
        bad = [i for i in out_indices if not 0 <= i < num_stages]
        if bad:
            raise ValueError(f'HieraDense: out_indices {bad} out of range '
                             f'0..{num_stages - 1}')
        if not out_indices and out_type == 'featmap':
            raise ValueError('HieraDense: out_indices is empty')
        if self.pos_embed is None:
            raise ValueError('HieraDense supports the absolute position '
                             'embeddings (plain or abs_win_pos_embed), not '
                             'sep_pos_embed (video)')
        self.arch_settings = settings
        self.out_indices = out_indices
        self.out_type = out_type
        self.init_cfg = init_cfg
        self.channels = [f['num_chs'] for f in self.feature_info]
        # the grid the (global) position embedding is learnt on
        self.pos_embed_size = (tuple(self.pos_embed.shape[-2:])
                               if self.abs_win else
                               tuple(self.tokens_spatial_shape))
        q_stride = self.q_stride
        patch = self.patch_stride
        self.size_multiple = tuple(
            math.lcm(p * mu, p * q ** self.q_pool)
            for p, mu, q in zip(patch, self.mask_unit_size, q_stride))
        # the classifier head of timm is replaced by an optional pre-logits
        # LayerNorm; dense models carry no unused parameters
        norm_layer = type(self.head.norm)
        eps = getattr(self.head.norm, 'eps', 1e-6)
        del self.head
        if out_type == 'avg_featmap':
            self.fc_norm = norm_layer(self.num_features, eps=eps)
        self._rolls = {}
        self._register_load_state_dict_pre_hook(self._resize_pos_embed_hook)

    @property
    def abs_win(self):
        """Whether the position embedding is the absolute-window one."""
        return self.pos_embed_win is not None

    # -- weights ---------------------------------------------------------
    def init_weights(self):
        """Timm's initialisation is done at construction; ``Pretrained``
        ``init_cfg`` loads a (converted) checkpoint on top of it."""
        if self.init_cfg is None:
            return
        cfg = dict(self.init_cfg)
        if cfg.get('type') != 'Pretrained':
            raise ValueError(f'HieraDense supports init_cfg type '
                             f"'Pretrained' only, got {cfg.get('type')!r}")
        from mmengine.runner.checkpoint import load_checkpoint
        prefix = cfg.get('prefix')
        if prefix is None:
            load_checkpoint(self, cfg['checkpoint'], map_location='cpu',
                            strict=False)
        else:
            from mmengine.runner.checkpoint import _load_checkpoint_with_prefix
            state = _load_checkpoint_with_prefix(prefix, cfg['checkpoint'],
                                                 map_location='cpu')
            self.load_state_dict(state, strict=False)

    def _resize_pos_embed_hook(self, state_dict, prefix, *args, **kwargs):
        """Resample a checkpoint's position embedding grid to ours."""
        key = prefix + 'pos_embed'
        value = state_dict.get(key)
        if value is None or value.shape == self.pos_embed.shape:
            return
        if value.dim() != self.pos_embed.dim():
            kinds = {3: 'plain [1, N, C]', 4: 'abswin global [1, C, H, W]'}
            raise ValueError(
                f'HieraDense: checkpoint pos_embed {tuple(value.shape)} is '
                f'a {kinds.get(value.dim(), "unknown")} embedding, the model '
                f'({"abswin" if self.abs_win else "plain"}) expects '
                f'{tuple(self.pos_embed.shape)}; use the matching arch')
        if self.abs_win:
            state_dict[key] = F.interpolate(
                value, size=self.pos_embed_size, mode='bicubic',
                antialias=True)
            return
        side = math.isqrt(value.shape[1])
        if side * side != value.shape[1]:
            raise ValueError(f'HieraDense: cannot resample a pos_embed of '
                             f'{value.shape[1]} tokens (not a square grid)')
        state_dict[key] = resample_abs_pos_embed(
            value, list(self.pos_embed_size), [side, side],
            num_prefix_tokens=0)

    # -- forward ---------------------------------------------------------
    def _rollers(self, hw):
        if hw not in self._rolls:
            schedule = [self.q_stride] * len(self.stage_ends[:-1])
            self._rolls[hw] = (
                Unroll(hw, self.patch_stride, schedule),
                Reroll(hw, self.patch_stride, schedule, self.stage_ends,
                       self.q_pool))
        return self._rolls[hw]

    def check_input_size(self, hw):
        """Raise a clear error for sizes Hiera cannot unroll."""
        mult = self.size_multiple
        if any(s % m for s, m in zip(hw, mult)):
            raise ValueError(
                f'HieraDense: input height and width must be multiples of '
                f'{mult[0] if len(set(mult)) == 1 else mult} (patch stride x '
                f'mask unit / q-pool strides), got {tuple(hw)}; pad the '
                f'input, e.g. pad_size_divisor={max(mult)}')

    def pos_embed_at(self, tokens):
        """Position embedding [1, H*W, C] for a ``tokens`` = (H, W) grid.

        Plain: the learnt grid resampled bicubically (identity at the
        construction size). Abswin: as timm's ``Hiera._pos_embed`` for a
        model built at this size: the window embedding tiled over the
        (H / 8) x (W / 8) mask units plus the global embedding resampled
        to (H, W) (bicubic, antialias=True, as timm).
        """
        if not self.abs_win:
            return resample_abs_pos_embed(self.pos_embed, list(tokens),
                                          list(self.pos_embed_size),
                                          num_prefix_tokens=0)
        windows = [t // m for t, m in zip(tokens, self.mask_unit_size)]
        win = self.pos_embed_win.tile(windows)
        glob = F.interpolate(self.pos_embed, size=win.shape[-2:],
                             mode='bicubic', antialias=True)
        return (glob + win).flatten(2).transpose(1, 2)

    def forward(self, x):
        """Return the stage maps of ``out_indices`` (and the pooled,
        normalised vector when ``out_type='avg_featmap'``)."""
        hw = tuple(x.shape[-2:])
        self.check_input_size(hw)
        unroll, reroll = self._rollers(hw)
        tokens = [s // p for s, p in zip(hw, self.patch_stride)]
        x = self.patch_embed(x)
        x = x + self.pos_embed_at(tokens)
        x = unroll(x)
        take = {self.stage_ends[i]: i for i in self.out_indices}
        last = (len(self.blocks) - 1 if self.out_type == 'avg_featmap'
                else max(take))
        outs = []
        for i, blk in enumerate(self.blocks[:last + 1]):
            x = blk(x)
            if i in take:
                outs.append(reroll(x, i).permute(0, 3, 1, 2).contiguous())
        if self.out_type == 'avg_featmap':
            outs.append(self.fc_norm(x.mean(dim=1)))
        return tuple(outs)

    def forward_features(self, *args, **kwargs):
        raise NotImplementedError('HieraDense: use forward()')


def hiera_param_count(arch, with_classifier=True, num_classes=1000):
    """Parameters of an arch built on the meta device (no memory used)."""
    with torch.device('meta'):
        model = HieraDense(arch=arch, out_type='avg_featmap', out_indices=())
    n = sum(p.numel() for p in model.parameters())
    if with_classifier:
        n += (model.num_features + 1) * num_classes
    return n


__all__ = ['HieraDense', 'ARCH_ZOO', 'ARCH_ALIASES', 'resolve_arch',
           'default_img_size', 'hiera_param_count']
