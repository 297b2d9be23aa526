"""RevCol backbone: Reversible Column Networks (Cai et al., ICLR 2023).

Parameter names follow the official code (``stem``, ``subnet{i}.alpha{l}``,
``subnet{i}.level{l}.fusion.{down,up}``, ``...blocks.{j}.{dwconv,norm,
pwconv1,pwconv2,gamma}``), so official checkpoints load after stripping
prefixes and classifier keys (``tools/model_converters/revcol_to_visionplug.py``).
"""
from typing import Optional, Sequence, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn.bricks import DropPath
from mmengine.model import BaseModule
from mmengine.registry import MODELS

from .reversible import RevColumnsFunction


class LayerNorm2d(nn.LayerNorm):
    """LayerNorm over the channels of an ``(N, C, H, W)`` tensor."""

    def forward(self, x):
        x = x.permute(0, 2, 3, 1)
        x = F.layer_norm(x, self.normalized_shape, self.weight, self.bias,
                         self.eps)
        return x.permute(0, 3, 1, 2)


class ConvNextBlock(nn.Module):
    """ConvNeXt block as in RevCol: depthwise conv (kernel 3 by default),
    LayerNorm, Linear x4, GELU, Linear, layer scale, drop path."""

    def __init__(self, channels, kernel_size=3, expansion=4,
                 layer_scale_init_value=1e-6, drop_path=0.):
        super().__init__()
        self.dwconv = nn.Conv2d(channels, channels, kernel_size,
                                padding=(kernel_size - 1) // 2,
                                groups=channels)
        self.norm = nn.LayerNorm(channels, eps=1e-6)
        self.pwconv1 = nn.Linear(channels, expansion * channels)
        self.act = nn.GELU()
        self.pwconv2 = nn.Linear(expansion * channels, channels)
        self.gamma = nn.Parameter(
            torch.full((channels, ), float(layer_scale_init_value))) \
            if layer_scale_init_value > 0 else None
        self.drop_path = DropPath(drop_path) if drop_path > 0 else \
            nn.Identity()

    def forward(self, x):
        y = self.dwconv(x).permute(0, 2, 3, 1)
        y = self.pwconv2(self.act(self.pwconv1(self.norm(y))))
        if self.gamma is not None:
            y = self.gamma * y
        return x + self.drop_path(y.permute(0, 3, 1, 2))


class UpSample(nn.Module):
    """Up branch of a fusion: Linear ``C[l+1] -> C[l]``, LayerNorm, nearest
    upsampling to the down branch's size (x2 for sizes divisible by 32)."""

    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.channel_reschedule = nn.Sequential(
            nn.Linear(in_channels, out_channels),
            nn.LayerNorm(out_channels, eps=1e-6))

    def forward(self, x, size):
        x = self.channel_reschedule(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
        return F.interpolate(x, size=size, mode='nearest')


class Fusion(nn.Module):
    """Input of level ``l``: down branch (2x2 stride-2 conv + LN from the
    level below of this column; identity on the stem output for level 0)
    plus up branch (from level ``l+1`` of the previous column).

    With ``extra_up`` (RevCol-H), level 0 of a non-first column adds a
    second up branch ``up2`` from level 3 of the previous column (Linear
    ``C[3] -> C[0]`` + LN, nearest x8), as the official ``revcol_huge.py``.
    """

    def __init__(self, level, channels, first_col, extra_up=False):
        super().__init__()
        self.level = level
        if level > 0:
            self.down = nn.Sequential(
                nn.Conv2d(channels[level - 1], channels[level], 2, stride=2),
                LayerNorm2d(channels[level], eps=1e-6))
        else:
            self.down = nn.Identity()
        self.with_up = not first_col and level < 3
        if self.with_up:
            self.up = UpSample(channels[level + 1], channels[level])
        self.with_up2 = extra_up and not first_col and level == 0
        if self.with_up2:
            self.up2 = UpSample(channels[3], channels[level])

    def forward(self, c_down, c_up=None, c_up2=None):
        x = self.down(c_down)
        if self.with_up:
            x = x + self.up(c_up, x.shape[-2:])
        if self.with_up2:
            x = x + self.up2(c_up2, x.shape[-2:])
        return x


class Level(nn.Module):
    """``Level_l(down, *up)``: a fusion followed by ``layers[l]`` blocks."""

    def __init__(self, level, channels, layers, kernel_size, first_col,
                 dp_rates, extra_up=False):
        super().__init__()
        start = sum(layers[:level])
        self.fusion = Fusion(level, channels, first_col, extra_up)
        self.blocks = nn.Sequential(*[
            ConvNextBlock(channels[level], kernel_size,
                          drop_path=dp_rates[start + i])
            for i in range(layers[level])
        ])

    def forward(self, c_down, *ups):
        return self.blocks(self.fusion(c_down, *ups))


class RevColumn(nn.Module):
    """One column (the official ``SubNet``): four levels with the reversible
    update ``y_l = alpha_l * c_l + Level_l(y_{l-1}, c_{l+1})``.

    The first column has neither up branches nor ``alpha`` (its input
    features are zero; the official code keeps ``alpha`` there, multiplied
    by zero, and the converter drops those four dead tensors).

    With ``extra_up`` (RevCol-H) level 0 also reads ``c_3``:
    ``y_0 = alpha_0 * c_0 + Level_0(x, c_1, c_3)``. The update stays
    invertible top-down (``c_3`` is rebuilt first).
    """

    def __init__(self, channels, layers, kernel_size, first_col, dp_rates,
                 alpha_init=0.5, extra_up=False):
        super().__init__()
        self.first_col = first_col
        self.extra_up = extra_up
        if not first_col:
            for lvl in range(4):
                self.register_parameter(
                    f'alpha{lvl}',
                    nn.Parameter(torch.full((1, channels[lvl], 1, 1),
                                            float(alpha_init))))
        for lvl in range(4):
            self.add_module(
                f'level{lvl}',
                Level(lvl, channels, layers, kernel_size, first_col,
                      dp_rates, extra_up))

    def up_sources(self, lvl):
        """Levels of the previous column that feed level ``lvl`` (all above
        ``lvl``, so the inverse can run top-down)."""
        if self.first_col:
            return []
        src = [lvl + 1] if lvl < 3 else []
        if self.extra_up and lvl == 0:
            src.append(3)
        return src

    def levels(self):
        return [self.level0, self.level1, self.level2, self.level3]

    def alphas(self):
        return [self.alpha0, self.alpha1, self.alpha2, self.alpha3]

    @torch.no_grad()
    def clamp_alpha(self, min_abs=1e-3):
        """Keep ``|alpha| >= min_abs`` with its sign (as the official code
        does before every forward), so the update stays invertible."""
        if self.first_col:
            return
        for a in self.alphas():
            a.copy_(torch.where(a >= 0, a.clamp(min=min_abs),
                                a.clamp(max=-min_abs)))

    def forward_levels(self, x, c=None, before_level=None):
        """Plain forward; ``c`` is ``None`` for the first column."""
        levels = self.levels()
        y = []
        for lvl in range(4):
            if before_level is not None:
                before_level()
            down = x if lvl == 0 else y[lvl - 1]
            if self.first_col:
                y.append(levels[lvl](down))
            else:
                ups = [c[k] for k in self.up_sources(lvl)]
                y.append(getattr(self, f'alpha{lvl}') * c[lvl] +
                         levels[lvl](down, *ups))
        return tuple(y)

    forward = forward_levels


@MODELS.register_module()
class RevCol(BaseModule):
    """Reversible Column Network backbone.

    Args:
        arch (str | dict): ``'t'``, ``'s'``, ``'b'``, ``'l'``, ``'xl'``,
            ``'h'`` (or ``'tiny'``, ``'small'``, ``'base'``, ``'large'``,
            ``'xlarge'``, ``'huge'``), or a dict with ``channels`` (4 ints),
            ``layers`` (4 ints) and ``num_subnet`` (number of columns), and
            optionally ``kernel_size`` and ``extra_up_branch``.
        kernel_size (int, optional): Depthwise kernel of the blocks.
            Defaults to the arch's: 3, and 7 for H (the official det/seg H
            pads its 3x3 pre-trained kernels to 7x7; the classification H
            checkpoints are 3x3: pass ``kernel_size=3`` for them, or pad
            them with the converter's ``--pad-kernel 7``).
        extra_up_branch (bool, optional): RevCol-H's second up branch into
            level 0 from level 3 of the previous column
            (``subnet{i}.level0.fusion.up2``). Defaults to the arch's: on
            for H only (the official README calls it unnecessary, but the
            released H weights have it).
        drop_path_rate (float): Stochastic depth, linear from 0 over the
            blocks of a column; every column uses the same schedule.
        save_memory (bool): Reversible backward (recompute in backward,
            save only some columns' outputs). ``False``: plain autograd.
        keep_every (int): With ``save_memory``, keep the outputs of every
            ``keep_every``-th column (and the last) for backward; the other
            columns' inputs are rebuilt by inverting the reversible update.
            1 (default) keeps every column (what the official code saves);
            0 keeps only the last column (memory independent of depth).
        out_indices (Sequence[int]): Levels of the last column to return
            (0..3 at strides 4, 8, 16, 32).
        inter_supv (bool): Also return ``c3`` of the intermediately
            supervised columns (every ``num_subnet // 4``-th, the last
            excluded), in front of the ``out_indices`` features, for
            :class:`RevColClsHead` (the paper's compound loss).
        frozen_stages (int): -1 trains everything; 0 freezes the stem;
            ``k > 0`` also freezes the first ``k`` columns.
        alpha_init (float): Initial shortcut scale. Defaults to 0.5.
        init_cfg: Defaults to truncated normal (std 0.02) for Conv2d and
            Linear weights, zero biases (as the official code).
    """

    arch_zoo = {
        **dict.fromkeys(['t', 'tiny'], dict(
            channels=[64, 128, 256, 512], layers=[2, 2, 4, 2], num_subnet=4)),
        **dict.fromkeys(['s', 'small'], dict(
            channels=[64, 128, 256, 512], layers=[2, 2, 4, 2], num_subnet=8)),
        **dict.fromkeys(['b', 'base'], dict(
            channels=[72, 144, 288, 576], layers=[1, 1, 3, 2],
            num_subnet=16)),
        **dict.fromkeys(['l', 'large'], dict(
            channels=[128, 256, 512, 1024], layers=[1, 2, 6, 2],
            num_subnet=8)),
        **dict.fromkeys(['xl', 'xlarge'], dict(
            channels=[224, 448, 896, 1792], layers=[1, 2, 6, 2],
            num_subnet=8)),
        # official models/revcol_huge.py (2.16B parameters with kernel 3
        # and the 1000-class head)
        **dict.fromkeys(['h', 'huge'], dict(
            channels=[360, 720, 1440, 2880], layers=[1, 2, 6, 2],
            num_subnet=8, kernel_size=7, extra_up_branch=True)),
    }

    def __init__(self,
                 arch: Union[str, dict] = 't',
                 kernel_size: Optional[int] = None,
                 extra_up_branch: Optional[bool] = None,
                 drop_path_rate: float = 0.,
                 save_memory: bool = True,
                 keep_every: int = 1,
                 out_indices: Sequence[int] = (0, 1, 2, 3),
                 inter_supv: bool = False,
                 frozen_stages: int = -1,
                 alpha_init: float = 0.5,
                 init_cfg: Optional[Union[dict, list]] = (
                     dict(type='TruncNormal', layer=['Conv2d', 'Linear'],
                          std=.02, bias=0.), )):
        super().__init__(init_cfg=list(init_cfg)
                         if isinstance(init_cfg, tuple) else init_cfg)
        arch = self._parse_arch(arch)
        self.channels = list(arch['channels'])
        self.layers = list(arch['layers'])
        self.num_subnet = int(arch['num_subnet'])
        if kernel_size is None:
            kernel_size = arch.get('kernel_size', 3)
        if extra_up_branch is None:
            extra_up_branch = arch.get('extra_up_branch', False)
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f'RevCol: kernel_size must be odd, got '
                             f'{kernel_size}')
        self.kernel_size = int(kernel_size)
        self.extra_up_branch = bool(extra_up_branch)
        self.save_memory = save_memory
        self.keep_every = int(keep_every)
        self.inter_supv = inter_supv
        self.frozen_stages = frozen_stages
        self.out_indices = self._parse_out_indices(out_indices)
        self.drop_path_rate = drop_path_rate

        self.stem = nn.Sequential(
            nn.Conv2d(3, self.channels[0], kernel_size=4, stride=4),
            LayerNorm2d(self.channels[0], eps=1e-6))
        n = sum(self.layers)
        dp_rates = [drop_path_rate * i / (n - 1) if n > 1 else 0.
                    for i in range(n)]
        for i in range(self.num_subnet):
            self.add_module(f'subnet{i}', RevColumn(
                self.channels, self.layers, self.kernel_size, i == 0,
                dp_rates, alpha_init, self.extra_up_branch))
        interval = max(self.num_subnet // 4, 1)
        self.inter_columns = [i for i in range(self.num_subnet - 1)
                              if (i + 1) % interval == 0] if inter_supv else []
        self._freeze_stages()

    @classmethod
    def _parse_arch(cls, arch):
        if isinstance(arch, str):
            key = arch.lower()
            if key not in cls.arch_zoo:
                raise ValueError(
                    f'RevCol: unknown arch {arch!r}; valid archs are '
                    f'{sorted(cls.arch_zoo)} or a dict with keys channels, '
                    'layers, num_subnet')
            return cls.arch_zoo[key]
        if not isinstance(arch, dict):
            raise TypeError(f'RevCol: arch must be a str or dict, got '
                            f'{type(arch).__name__}')
        missing = {'channels', 'layers', 'num_subnet'} - set(arch)
        if missing:
            raise ValueError(f'RevCol: custom arch misses {sorted(missing)}')
        if len(arch['channels']) != 4 or len(arch['layers']) != 4:
            raise ValueError('RevCol: arch channels and layers need 4 '
                             f'entries (one per level), got {arch}')
        if int(arch['num_subnet']) < 1:
            raise ValueError('RevCol: num_subnet must be >= 1')
        unknown = set(arch) - {'channels', 'layers', 'num_subnet',
                               'kernel_size', 'extra_up_branch'}
        if unknown:
            raise ValueError(f'RevCol: unknown arch keys {sorted(unknown)}; '
                             'allowed: channels, layers, num_subnet, '
                             'kernel_size, extra_up_branch')
        return arch

    @staticmethod
    def _parse_out_indices(out_indices):
        if isinstance(out_indices, int):
            out_indices = [out_indices]
        out = []
        for i in out_indices:
            if not -4 <= i < 4:
                raise ValueError(f'RevCol: out_indices must be in [-4, 3] '
                                 f'(levels at strides 4/8/16/32), got {i}')
            out.append(i % 4)
        return tuple(out)

    def columns(self):
        return [getattr(self, f'subnet{i}') for i in range(self.num_subnet)]

    def _freeze_stages(self):
        if self.frozen_stages < 0:
            return
        modules = [self.stem] + self.columns()[:self.frozen_stages]
        for m in modules:
            m.eval()
            for p in m.parameters():
                p.requires_grad = False

    def train(self, mode=True):
        super().train(mode)
        self._freeze_stages()
        return self

    def forward(self, x):
        x = self.stem(x)
        columns = self.columns()
        for col in columns:
            col.clamp_alpha()
        params = [p for col in columns for p in col.parameters()
                  if p.requires_grad]
        use_rev = self.save_memory and torch.is_grad_enabled() and (
            x.requires_grad or len(params) > 0)
        if use_rev:
            record_rng = self.training and self.drop_path_rate > 0
            outs = RevColumnsFunction.apply(
                columns, self.inter_columns, self.keep_every, record_rng, x,
                *params)
            last, inter = outs[:4], list(outs[4:])
        else:
            c, inter = None, []
            for k, col in enumerate(columns):
                c = col(x, c)
                if k in self.inter_columns:
                    inter.append(c[3])
            last = c
        return tuple(inter) + tuple(last[i] for i in self.out_indices)
