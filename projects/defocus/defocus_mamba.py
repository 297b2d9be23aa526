"""De-focus Mamba (Learning 1D Causal Visual Representation with De-focus
Attention Networks, NeurIPS 2024): a causal 1-D Mamba over image patches.

Parameter names follow the official classification checkpoints
(``patch_embed.proj``, ``cls_token``, ``blocks.{i}.norm``,
``blocks.{i}.mixer.{in_proj,conv1d,x_proj,dt_proj,A_log,D,out_proj,freq}``,
``norm``), so their backbone part loads as is.
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.utils.checkpoint as cp
from mmcv.cnn.bricks.drop import drop_path
from mmengine.model import BaseModule
from mmengine.model.weight_init import trunc_normal_
from mmengine.registry import MODELS

from .bandpass import bandpass_rotate, default_frequencies
from .selective_scan import causal_conv1d, selective_scan

# Official variants. Base and Large from the released configs; Small
# (25.1M parameters in the README, config not released) has the Base depth
# and expansion at width 384, which gives exactly that count.
ARCH_SETTINGS = {
    'small': dict(embed_dims=384, intermediate_size=768, num_layers=24),
    'base': dict(embed_dims=768, intermediate_size=1536, num_layers=24),
    'large': dict(embed_dims=1024, intermediate_size=2048, num_layers=48),
}
ARCH_ALIASES = {'s': 'small', 'b': 'base', 'l': 'large'}
ARCH_DEFAULTS = dict(state_size=16, time_step_rank=48, conv_kernel=4,
                     group_norm_size=64)
OUT_TYPES = ('featmap', 'raw', 'cls_token')


def resolve_arch(arch):
    """Arch name (or alias) or dict -> full settings dict."""
    if isinstance(arch, str):
        key = ARCH_ALIASES.get(arch.lower(), arch.lower())
        if key not in ARCH_SETTINGS:
            valid = sorted(ARCH_SETTINGS) + sorted(ARCH_ALIASES)
            raise ValueError(f'DefocusMamba: unknown arch {arch!r}; valid '
                             f'archs are {valid} or a dict')
        arch = ARCH_SETTINGS[key]
    if not isinstance(arch, dict):
        raise TypeError(f'DefocusMamba: arch must be a str or dict, got '
                        f'{type(arch).__name__}')
    required = {'embed_dims', 'intermediate_size', 'num_layers'}
    missing = required - set(arch)
    unknown = set(arch) - required - set(ARCH_DEFAULTS)
    if missing or unknown:
        raise ValueError(
            f'DefocusMamba: custom arch needs keys {sorted(required)} '
            f'(optional {sorted(ARCH_DEFAULTS)}); missing {sorted(missing)}, '
            f'unknown {sorted(unknown)}')
    settings = dict(ARCH_DEFAULTS, **arch)
    gsize = settings['group_norm_size']
    if gsize and settings['intermediate_size'] % gsize:
        raise ValueError(
            f'DefocusMamba: intermediate_size {settings["intermediate_size"]}'
            f' must be a multiple of group_norm_size {gsize}')
    return settings


class RMSNorm(nn.Module):
    """RMS norm with a learnable scale, computed in float32 (MambaRMSNorm)."""

    def __init__(self, dims, eps=1e-5):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dims))
        self.eps = eps

    def forward(self, x):
        x32 = x.float()
        x32 = x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * x32.to(x.dtype)


def group_rms_norm(y, group_size, eps=1e-6):
    """Normalise each group of ``group_size`` channels of y [b, E, L] to unit
    RMS per token (no affine; the official "RetNet GroupNorm")."""
    b, e, length = y.shape
    g = y.float().view(b, e // group_size, group_size, length)
    g = g * torch.rsqrt(g.pow(2).mean(2, keepdim=True) + eps)
    return g.view(b, e, length)


class DefocusMixer(nn.Module):
    """Mamba mixer with the learnable bandpass and grouped output norm.

    Args:
        embed_dims (int): D.
        intermediate_size (int): E (expanded width).
        state_size (int): N.
        time_step_rank (int): R, rank of the step-size projection.
        conv_kernel (int): Causal depthwise conv width.
        group_norm_size (int): Channels per RMS group of the scan output
            (0: none).
        use_rope (bool): Rotate B and C (the bandpass); adds ``freq``.
        delta_scale_factor (float): Step sizes are divided by it
            (resolution adaptation).
        rope_scale_factor (float): Token positions are divided by it.
        scan_impl (str): See :func:`~.selective_scan.selective_scan`.
        scan_chunk_size (int, optional): Chunk length of the parallel scan
            (None: chosen per shape).
    """

    def __init__(self, embed_dims, intermediate_size, state_size=16,
                 time_step_rank=48, conv_kernel=4, group_norm_size=64,
                 use_rope=True, delta_scale_factor=1.0, rope_scale_factor=1.0,
                 scan_impl='auto', scan_chunk_size=None):
        super().__init__()
        e, n, r = intermediate_size, state_size, time_step_rank
        self.intermediate_size, self.state_size, self.time_step_rank = e, n, r
        self.group_norm_size = group_norm_size
        self.delta_scale_factor = float(delta_scale_factor)
        self.rope_scale_factor = float(rope_scale_factor)
        self.scan_impl = scan_impl
        self.scan_chunk_size = scan_chunk_size
        self.in_proj = nn.Linear(embed_dims, 2 * e, bias=False)
        self.conv1d = nn.Conv1d(e, e, conv_kernel, groups=e,
                                padding=conv_kernel - 1, bias=True)
        self.x_proj = nn.Linear(e, r + 2 * n, bias=False)
        self.dt_proj = nn.Linear(r, e, bias=True)
        self.A_log = nn.Parameter(
            torch.log(torch.arange(1, n + 1, dtype=torch.float32))
            .expand(e, n).contiguous())
        self.D = nn.Parameter(torch.ones(e))
        self.out_proj = nn.Linear(e, embed_dims, bias=False)
        if use_rope:
            self.freq = nn.Parameter(default_frequencies(n))

    def forward(self, x):
        """x [b, L, D] -> [b, L, D]."""
        u, gate = self.in_proj(x).transpose(1, 2).chunk(2, dim=1)
        u = causal_conv1d(u, self.conv1d.weight, self.conv1d.bias,
                          activation='silu')
        dt, B, C = self.x_proj(u.transpose(1, 2)).split(
            [self.time_step_rank, self.state_size, self.state_size], dim=-1)
        if hasattr(self, 'freq'):
            pos = torch.arange(x.shape[1], device=x.device,
                               dtype=B.dtype) / self.rope_scale_factor
            B = bandpass_rotate(B, self.freq, pos)
            C = bandpass_rotate(C, self.freq, pos)
        dt = self.dt_proj.weight @ dt.transpose(1, 2)
        delta = F.softplus(dt + self.dt_proj.bias.float()[None, :, None])
        delta = delta / self.delta_scale_factor
        A = -torch.exp(self.A_log.float())
        y = selective_scan(u, delta, A, B.transpose(1, 2),
                           C.transpose(1, 2), impl=self.scan_impl,
                           chunk_size=self.scan_chunk_size)
        dtype = y.dtype
        if self.group_norm_size:
            y = group_rms_norm(y, self.group_norm_size)
        y = y + u * self.D.float()[None, :, None]
        y = (y * F.silu(gate.float())).to(dtype)
        return self.out_proj(y.transpose(1, 2))


class DefocusBlock(nn.Module):
    """``x + drop_path(mixer(rms_norm(x)))`` with the residual in float32."""

    def __init__(self, embed_dims, norm_eps=1e-5, **mixer_kwargs):
        super().__init__()
        self.norm = RMSNorm(embed_dims, eps=norm_eps)
        self.mixer = DefocusMixer(embed_dims, **mixer_kwargs)

    def forward(self, x, drop_prob=0.0):
        out = self.mixer(self.norm(x.to(self.norm.weight.dtype)))
        return x.float() + drop_path(out, drop_prob, self.training)


class PatchEmbed(nn.Module):
    """Non-overlapping conv patch embedding (official name ``proj``)."""

    def __init__(self, in_channels, embed_dims, patch_size):
        super().__init__()
        self.proj = nn.Conv2d(in_channels, embed_dims, patch_size,
                              stride=patch_size)

    def forward(self, x):
        return self.proj(x)


def window_order(x, window):
    """[b, C, H, W] -> [b, H*W, C] tokens, window by window (raster order of
    windows, raster order inside each); H, W multiples of ``window``."""
    b, c, h, w = x.shape
    x = x.view(b, c, h // window, window, w // window, window)
    return x.permute(0, 2, 4, 3, 5, 1).reshape(b, h * w, c)


def window_unorder(tokens, window, h, w):
    """Inverse of :func:`window_order`: [b, H*W, C] -> [b, C, H, W]."""
    b, _, c = tokens.shape
    x = tokens.view(b, h // window, w // window, window, window, c)
    return x.permute(0, 5, 1, 3, 2, 4).reshape(b, c, h, w)


@MODELS.register_module()
class DefocusMamba(BaseModule):
    """De-focus Mamba backbone.

    Patch tokens are scanned causally in raster order (or window by window
    with ``window_size``, the official ``PatchEmbedChangeRes`` /
    ``PatchChange`` for higher resolutions); a learnable cls token is
    appended at the END, so it is the only token that sees the whole image.

    Args:
        arch (str | dict): ``'small'``, ``'base'``, ``'large'`` (or ``s``,
            ``b``, ``l``), or a dict with ``embed_dims``,
            ``intermediate_size``, ``num_layers`` and optionally
            ``state_size`` (16), ``time_step_rank`` (48), ``conv_kernel`` (4),
            ``group_norm_size`` (64).
        patch_size (int): Patch size; input sizes must be multiples of it.
        in_channels (int): Image channels.
        drop_path_rate (float): Stochastic depth rate of the last block
            (linear from 0 over depth). An attribute read at every forward,
            so :class:`~.hooks.DefocusDropPathHook` can schedule it.
        out_type (str): ``'featmap'``: ``(x,)`` with x [b, D, H/p, W/p]
            (image tokens after the final norm; for SimpleFPN); ``'raw'``:
            ``(tokens,)`` [b, L + 1, D], cls token last (for
            :class:`~.heads.DefocusClsHead`); ``'cls_token'``: ``(cls,)``
            [b, D].
        window_size (int, optional): Scan windows of this many tokens per
            side; the image is zero-padded to multiples of
            ``window_size * patch_size`` (official detection: 14 at 1024
            px) and the feature map cropped back.
        use_rope (bool): The learnable bandpass (rotation of B and C).
        delta_scale_factor (float): Step-size divisor (official: about the
            resolution ratio to pre-training, e.g. 4.57 for 224 -> 1024).
        rope_scale_factor (float): Position divisor (about the ratio
            squared, e.g. 20.0 for 224 -> 1024).
        norm_eps (float): Epsilon of the block RMS norms.
        final_norm_eps (float): Epsilon of the final LayerNorm.
        scan_impl (str): ``'auto'`` (on GPU the mamba_ssm CUDA kernel when
            installed, else the Triton kernels when Triton is; on CPU the
            pure-PyTorch parallel scan), ``'parallel'``, ``'sequential'``,
            ``'triton'`` or ``'cuda'``.
        scan_chunk_size (int, optional): Chunk length of the parallel scan
            (None: chosen per shape, see
            :func:`~.selective_scan.plan_chunks`).
        with_cp (bool): Gradient checkpointing per block.
        init_cfg (dict, optional): e.g. ``dict(type='Pretrained',
            checkpoint=..., prefix='backbone.')``. Without it the official
            initialisation is applied at construction.
    """

    def __init__(self, arch='base', patch_size=16, in_channels=3,
                 drop_path_rate=0.0, out_type='featmap', window_size=None,
                 use_rope=True, delta_scale_factor=1.0, rope_scale_factor=1.0,
                 norm_eps=1e-5, final_norm_eps=1e-6, scan_impl='auto',
                 scan_chunk_size=None, with_cp=False, init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        settings = resolve_arch(arch)
        if out_type not in OUT_TYPES:
            raise ValueError(f'DefocusMamba: out_type must be one of '
                             f'{OUT_TYPES}, got {out_type!r}')
        if window_size is not None and (not isinstance(window_size, int)
                                        or window_size < 1):
            raise ValueError(f'DefocusMamba: window_size must be a positive '
                             f'int or None, got {window_size!r}')
        self.arch_settings = settings
        self.embed_dims = dims = settings['embed_dims']
        self.num_layers = settings['num_layers']
        self.patch_size = patch_size
        self.drop_path_rate = float(drop_path_rate)
        self.out_type = out_type
        self.window_size = window_size
        self.with_cp = with_cp
        self.patch_embed = PatchEmbed(in_channels, dims, patch_size)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dims))
        mixer = dict(intermediate_size=settings['intermediate_size'],
                     state_size=settings['state_size'],
                     time_step_rank=settings['time_step_rank'],
                     conv_kernel=settings['conv_kernel'],
                     group_norm_size=settings['group_norm_size'],
                     use_rope=use_rope,
                     delta_scale_factor=delta_scale_factor,
                     rope_scale_factor=rope_scale_factor,
                     scan_impl=scan_impl, scan_chunk_size=scan_chunk_size)
        self.blocks = nn.ModuleList(
            DefocusBlock(dims, norm_eps=norm_eps, **mixer)
            for _ in range(self.num_layers))
        self.norm = nn.LayerNorm(dims, eps=final_norm_eps)
        self._official_init()

    def _official_init(self):
        """Official init: trunc-normal(0.02) Linear weights and cls token,
        zero biases, and Mamba's step-size init of ``dt_proj``."""
        trunc_normal_(self.cls_token, std=0.02)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                trunc_normal_(m.weight, std=0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.LayerNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        for blk in self.blocks:
            mixer = blk.mixer
            std = mixer.time_step_rank ** -0.5
            nn.init.uniform_(mixer.dt_proj.weight, -std, std)
            dt = torch.exp(torch.linspace(math.log(1e-3), math.log(0.1),
                                          mixer.intermediate_size))
            dt = dt.clamp(min=1e-4)
            with torch.no_grad():  # inverse softplus
                mixer.dt_proj.bias.copy_(dt + torch.log(-torch.expm1(-dt)))

    def init_weights(self):
        if self.init_cfg is not None:
            super().init_weights()

    def no_weight_decay(self):
        return {'cls_token'}

    def block_drop_rates(self):
        """Per-block drop-path rates: linear from 0 to ``drop_path_rate``."""
        if self.num_layers == 1:
            return [self.drop_path_rate]
        return torch.linspace(0, self.drop_path_rate,
                              self.num_layers).tolist()

    def _check_size(self, h, w):
        p = self.patch_size
        if h % p or w % p:
            raise ValueError(
                f'DefocusMamba: input size {h}x{w} must be a multiple of the '
                f'patch size {p} (e.g. {math.ceil(h / p) * p}x'
                f'{math.ceil(w / p) * p}); pad it, e.g. with the data '
                f'preprocessor\'s pad_size_divisor or size_divisor')

    def forward(self, x):
        """x [b, C, H, W] -> tuple with one tensor (see ``out_type``)."""
        b, _, h, w = x.shape
        self._check_size(h, w)
        gh, gw = h // self.patch_size, w // self.patch_size
        if self.window_size:
            step = self.window_size * self.patch_size
            x = F.pad(x, (0, (-w) % step, 0, (-h) % step))
        feat = self.patch_embed(x)
        ph, pw = feat.shape[-2:]
        if self.window_size:
            tokens = window_order(feat, self.window_size)
        else:
            tokens = feat.flatten(2).transpose(1, 2)
        tokens = torch.cat([tokens, self.cls_token.expand(b, -1, -1)], dim=1)
        rates = self.block_drop_rates() if self.training else \
            [0.0] * self.num_layers
        for blk, rate in zip(self.blocks, rates):
            if self.with_cp and tokens.requires_grad:
                tokens = cp.checkpoint(blk, tokens, rate, use_reentrant=False)
            else:
                tokens = blk(tokens, rate)
        tokens = self.norm(tokens)
        if self.out_type == 'raw':
            return (tokens, )
        if self.out_type == 'cls_token':
            return (tokens[:, -1], )
        image = tokens[:, :-1]
        if self.window_size:
            fmap = window_unorder(image, self.window_size, ph, pw)
        else:
            fmap = image.transpose(1, 2).reshape(b, -1, ph, pw)
        return (fmap[:, :, :gh, :gw].contiguous(), )
