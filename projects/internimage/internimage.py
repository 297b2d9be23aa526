"""InternImage backbone (Wang et al., CVPR 2023) in the root MODELS registry.

Module and parameter names follow the official implementation
(OpenGVLab/InternImage ``intern_image.py``): ``patch_embed.*``,
``levels.{i}.blocks.{j}.{norm1,dcn,norm2,mlp,gamma1,gamma2}``,
``levels.{i}.{norm,downsample}``, so official backbone weights load
unchanged (classification checkpoints after
``tools/model_converters/internimage_to_visionplug.py``).
"""
import copy

import torch
import torch.nn as nn
import torch.utils.checkpoint as cp
from mmcv.cnn.bricks import DropPath
from mmengine.model import BaseModule
from mmengine.model.weight_init import trunc_normal_
from mmengine.registry import MODELS

from .dcnv3 import DCNv3, build_act, build_norm

_FROM_ARCH = object()  # an argument left to the ``arch`` table

ARCH_KEYS = ('channels', 'depths', 'groups', 'layer_scale', 'post_norm',
             'offset_scale', 'dw_kernel_size', 'res_post_norm',
             'center_feature_scale', 'level2_post_norm_block_ids',
             'drop_path_rate')

_BASE = dict(layer_scale=None, post_norm=False, offset_scale=1.0,
             dw_kernel_size=None, res_post_norm=False,
             center_feature_scale=False, level2_post_norm_block_ids=None)


def _arch(**kwargs):
    return dict(_BASE, **kwargs)


#: Official variants (classification configs of OpenGVLab/InternImage);
#: ``drop_path_rate`` is the ImageNet-1k (T/S/B) or 22k->1k fine-tuning
#: (L/XL/H) value. ``nano`` is a small CPU test arch, not an official one.
ARCH_SETTINGS = {
    't': _arch(channels=64, depths=(4, 4, 18, 4), groups=(4, 8, 16, 32),
               drop_path_rate=0.1),
    's': _arch(channels=80, depths=(4, 4, 21, 4), groups=(5, 10, 20, 40),
               layer_scale=1e-5, post_norm=True, drop_path_rate=0.4),
    'b': _arch(channels=112, depths=(4, 4, 21, 4), groups=(7, 14, 28, 56),
               layer_scale=1e-5, post_norm=True, drop_path_rate=0.5),
    'l': _arch(channels=160, depths=(5, 5, 22, 5), groups=(10, 20, 40, 80),
               layer_scale=1e-5, post_norm=True, offset_scale=2.0,
               drop_path_rate=0.1),
    'xl': _arch(channels=192, depths=(5, 5, 24, 5),
                groups=(12, 24, 48, 96), layer_scale=1e-5, post_norm=True,
                offset_scale=2.0, drop_path_rate=0.2),
    'h': _arch(channels=320, depths=(6, 6, 32, 6), groups=(10, 20, 40, 80),
               dw_kernel_size=5, res_post_norm=True,
               center_feature_scale=True,
               level2_post_norm_block_ids=(5, 11, 17, 23, 29),
               drop_path_rate=0.2),
    'nano': _arch(channels=16, depths=(1, 1, 2, 1), groups=(1, 2, 4, 8),
                  drop_path_rate=0.0),
}


class StemLayer(nn.Module):
    """Conv 3x3/2 -> norm -> act -> conv 3x3/2 -> norm (NCHW in, NHWC out)."""

    def __init__(self, in_channels=3, out_channels=64, act_layer='GELU',
                 norm_layer='LN'):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels // 2, 3, 2, 1)
        self.norm1 = build_norm(norm_layer, out_channels // 2,
                                'channels_first', 'channels_first')
        self.act = build_act(act_layer)
        self.conv2 = nn.Conv2d(out_channels // 2, out_channels, 3, 2, 1)
        self.norm2 = build_norm(norm_layer, out_channels, 'channels_first',
                                'channels_last')

    def forward(self, x):
        return self.norm2(self.conv2(self.act(self.norm1(self.conv1(x)))))


class DownsampleLayer(nn.Module):
    """Conv 3x3/2 (no bias, 2x channels) -> norm (NHWC in and out)."""

    def __init__(self, channels, norm_layer='LN'):
        super().__init__()
        self.conv = nn.Conv2d(channels, 2 * channels, 3, 2, 1, bias=False)
        self.norm = build_norm(norm_layer, 2 * channels, 'channels_first',
                               'channels_last')

    def forward(self, x):
        return self.norm(self.conv(x.permute(0, 3, 1, 2)))


class MLPLayer(nn.Module):
    """fc1 -> act -> dropout -> fc2 -> dropout."""

    def __init__(self, in_features, hidden_features, act_layer='GELU',
                 drop=0.0):
        super().__init__()
        self.fc1 = nn.Linear(in_features, hidden_features)
        self.act = build_act(act_layer)
        self.fc2 = nn.Linear(hidden_features, in_features)
        self.drop = nn.Dropout(drop)

    def forward(self, x):
        return self.drop(self.fc2(self.drop(self.act(self.fc1(x)))))


class InternImageLayer(nn.Module):
    """One block: DCNv3 and MLP residual branches.

    pre-norm: ``x + dp(g * op(norm(x)))``; ``post_norm``:
    ``x + dp(g * norm(op(x)))``; ``res_post_norm`` (H/G, without layer
    scale): ``x + dp(norm'(op(norm(x))))``. ``g`` is the layer scale
    (absent when ``layer_scale`` is None).
    """

    def __init__(self, channels, groups, mlp_ratio=4.0, drop=0.0,
                 drop_path=0.0, act_layer='GELU', norm_layer='LN',
                 post_norm=False, layer_scale=None, offset_scale=1.0,
                 with_cp=False, dw_kernel_size=None, res_post_norm=False,
                 center_feature_scale=False, remove_center=False,
                 impl='auto'):
        super().__init__()
        self.with_cp = with_cp
        self.post_norm = post_norm
        self.res_post_norm = res_post_norm
        self.norm1 = build_norm('LN', channels)
        self.dcn = DCNv3(channels, kernel_size=3, dw_kernel_size=dw_kernel_size,
                         stride=1, pad=1, dilation=1, group=groups,
                         offset_scale=offset_scale, act_layer=act_layer,
                         norm_layer=norm_layer,
                         center_feature_scale=center_feature_scale,
                         remove_center=remove_center, impl=impl)
        self.drop_path = DropPath(drop_path) if drop_path > 0 \
            else nn.Identity()
        self.norm2 = build_norm('LN', channels)
        self.mlp = MLPLayer(channels, int(channels * mlp_ratio), act_layer,
                            drop)
        self.layer_scale = layer_scale is not None
        if self.layer_scale:
            self.gamma1 = nn.Parameter(layer_scale * torch.ones(channels))
            self.gamma2 = nn.Parameter(layer_scale * torch.ones(channels))
        if res_post_norm:
            self.res_post_norm1 = build_norm('LN', channels)
            self.res_post_norm2 = build_norm('LN', channels)

    def _branch(self, x, op, norm, res_norm, gamma):
        if self.post_norm:
            y = norm(op(x))
        elif self.res_post_norm and not self.layer_scale:
            y = res_norm(op(norm(x)))
        else:
            y = op(norm(x))
        if self.layer_scale:
            y = gamma * y
        return x + self.drop_path(y)

    def _forward(self, x):
        x = self._branch(x, self.dcn, self.norm1,
                         getattr(self, 'res_post_norm1', None),
                         getattr(self, 'gamma1', None))
        return self._branch(x, self.mlp, self.norm2,
                            getattr(self, 'res_post_norm2', None),
                            getattr(self, 'gamma2', None))

    def forward(self, x):
        if self.with_cp and x.requires_grad:
            return cp.checkpoint(self._forward, x, use_reentrant=False)
        return self._forward(x)


class InternImageBlock(nn.Module):
    """One level: blocks, optional extra post norms (H/G), the level norm
    (absent with ``post_norm`` unless ``center_feature_scale``), then the
    downsampling to the next level."""

    def __init__(self, channels, depth, groups, downsample=True,
                 drop_path=0.0, norm_layer='LN', post_norm=False,
                 center_feature_scale=False, post_norm_block_ids=None,
                 **layer_kwargs):
        super().__init__()
        drop_path = drop_path if isinstance(drop_path, (list, tuple)) \
            else [drop_path] * depth
        self.blocks = nn.ModuleList([
            InternImageLayer(channels, groups, drop_path=drop_path[i],
                             norm_layer=norm_layer, post_norm=post_norm,
                             center_feature_scale=center_feature_scale,
                             **layer_kwargs)
            for i in range(depth)])
        self.has_norm = not post_norm or center_feature_scale
        if self.has_norm:
            self.norm = build_norm('LN', channels)
        self.post_norm_block_ids = list(post_norm_block_ids or [])
        if self.post_norm_block_ids:
            self.post_norms = nn.ModuleList(
                [build_norm('LN', channels) for _ in self.post_norm_block_ids])
        self.downsample = DownsampleLayer(channels, norm_layer) \
            if downsample else None

    def forward(self, x):
        """Returns ``(input of the next level, this level's output)``."""
        for i, block in enumerate(self.blocks):
            x = block(x)
            if i in self.post_norm_block_ids:
                x = self.post_norms[self.post_norm_block_ids.index(i)](x)
        if self.has_norm:
            x = self.norm(x)
        out = x
        if self.downsample is not None:
            x = self.downsample(x)
        return x, out


@MODELS.register_module()
class InternImage(BaseModule):
    """InternImage: a hierarchical backbone of DCNv3 blocks.

    Outputs NCHW maps at strides 4/8/16/32 with ``C, 2C, 4C, 8C`` channels.
    Any input size works (no padding to a multiple of 32, as in the
    official code): each stride-2 conv (kernel 3, padding 1) maps a side
    ``s`` to ``ceil(s / 2)``, so level ``i`` has side
    ``ceil(s / 2**(i + 2))`` obtained by repeated ceil-halving.

    Args:
        arch (str | dict): a key of ``ARCH_SETTINGS`` (``'t'``, ``'s'``,
            ``'b'``, ``'l'``, ``'xl'``, ``'h'``, or the small test arch
            ``'nano'``) or a dict with at least ``channels``, ``depths``
            and ``groups`` (other keys of ``ARCH_KEYS`` default to T's).
        channels, depths, groups, layer_scale, post_norm, offset_scale,
        dw_kernel_size, res_post_norm, center_feature_scale,
        level2_post_norm_block_ids, drop_path_rate: override the arch
            value when given (e.g. ``layer_scale=1.0`` as in the official
            detection and segmentation configs; ``layer_scale=None`` means
            no layer scale).
        mlp_ratio (float): MLP hidden ratio. Default: 4.
        drop_rate (float): dropout after the stem and in the MLPs.
        drop_path_type (str): 'linear' (0 -> rate over all blocks) or
            'uniform'.
        act_layer (str): 'GELU' (default), 'ReLU' or 'SiLU'.
        norm_layer (str): norm of the stem, downsampling and DCNv3 offset
            branch: 'LN' (default) or 'BN'. Block norms are always LN.
        remove_center (bool): DCNv3 without the centre kernel point.
        out_indices (Sequence[int]): levels to return. Default: (0, 1, 2, 3).
        frozen_stages (int): freeze the stem and the first ``frozen_stages``
            levels (mmdet convention; -1: nothing). Default: -1.
        with_cp (bool): activation checkpointing per block.
        impl (str): DCNv3 core backend, 'auto' (compiled op on CUDA when
            the official ``DCNv3`` extension is installed), 'pytorch' or
            'compiled'.
        init_cfg (dict, optional): e.g. ``dict(type='Pretrained',
            checkpoint=..., prefix='backbone.')``.
    """

    def __init__(self, arch='t', channels=_FROM_ARCH, depths=_FROM_ARCH,
                 groups=_FROM_ARCH, layer_scale=_FROM_ARCH,
                 post_norm=_FROM_ARCH, offset_scale=_FROM_ARCH,
                 dw_kernel_size=_FROM_ARCH, res_post_norm=_FROM_ARCH,
                 center_feature_scale=_FROM_ARCH,
                 level2_post_norm_block_ids=_FROM_ARCH,
                 drop_path_rate=_FROM_ARCH, mlp_ratio=4.0, drop_rate=0.0,
                 drop_path_type='linear', act_layer='GELU', norm_layer='LN',
                 remove_center=False, out_indices=(0, 1, 2, 3),
                 frozen_stages=-1, with_cp=False, impl='auto',
                 init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        given = dict(channels=channels, depths=depths, groups=groups,
                     layer_scale=layer_scale, post_norm=post_norm,
                     offset_scale=offset_scale, dw_kernel_size=dw_kernel_size,
                     res_post_norm=res_post_norm,
                     center_feature_scale=center_feature_scale,
                     level2_post_norm_block_ids=level2_post_norm_block_ids,
                     drop_path_rate=drop_path_rate)
        setting = self._resolve_arch(arch)
        setting.update({k: v for k, v in given.items() if v is not _FROM_ARCH})
        self.arch_settings = setting
        depths, groups = list(setting['depths']), list(setting['groups'])
        if len(groups) != len(depths):
            raise ValueError(f'arch has {len(depths)} depths but '
                             f'{len(groups)} groups')
        if drop_path_type not in ('linear', 'uniform'):
            raise ValueError("drop_path_type must be 'linear' or 'uniform', "
                             f'got {drop_path_type!r}')
        self.num_levels = len(depths)
        out_indices = [out_indices] if isinstance(out_indices, int) \
            else list(out_indices)
        out_indices = [i + self.num_levels if i < 0 else i
                       for i in out_indices]
        for i in out_indices:
            if not 0 <= i < self.num_levels:
                raise ValueError(f'out_indices must be in [0, '
                                 f'{self.num_levels}), got {i}')
        if not out_indices:
            raise ValueError('out_indices must name at least one level')
        self.out_indices = tuple(out_indices)
        self.frozen_stages = frozen_stages
        self.depths = depths
        self.channels = setting['channels']
        self.num_features = [self.channels * 2 ** i
                             for i in range(self.num_levels)]
        self.patch_embed = StemLayer(3, self.channels, act_layer, norm_layer)
        self.pos_drop = nn.Dropout(drop_rate)
        rate = setting['drop_path_rate']
        total = sum(depths)
        dpr = [rate * i / max(total - 1, 1) for i in range(total)] \
            if drop_path_type == 'linear' else [rate] * total
        self.levels = nn.ModuleList()
        for i in range(self.num_levels):
            self.levels.append(InternImageBlock(
                self.num_features[i], depths[i], groups[i],
                downsample=i < self.num_levels - 1,
                drop_path=dpr[sum(depths[:i]):sum(depths[:i + 1])],
                norm_layer=norm_layer, post_norm=setting['post_norm'],
                center_feature_scale=setting['center_feature_scale'],
                post_norm_block_ids=setting['level2_post_norm_block_ids']
                if i == 2 else None,
                mlp_ratio=mlp_ratio, drop=drop_rate, act_layer=act_layer,
                layer_scale=setting['layer_scale'],
                offset_scale=setting['offset_scale'], with_cp=with_cp,
                dw_kernel_size=setting['dw_kernel_size'],
                res_post_norm=setting['res_post_norm'],
                remove_center=remove_center, impl=impl))
        self._init_official()
        self._freeze_stages()

    @staticmethod
    def _resolve_arch(arch):
        if isinstance(arch, str):
            if arch.lower() not in ARCH_SETTINGS:
                raise ValueError(
                    f'unknown InternImage arch {arch!r}; valid archs: '
                    f'{sorted(ARCH_SETTINGS)} or a dict with channels, '
                    'depths and groups')
            return copy.deepcopy(ARCH_SETTINGS[arch.lower()])
        if not isinstance(arch, dict):
            raise TypeError(f'arch must be a str or a dict, got {type(arch)}')
        missing = {'channels', 'depths', 'groups'} - set(arch)
        unknown = set(arch) - set(ARCH_KEYS)
        if missing or unknown:
            raise ValueError(
                f'custom arch dict: missing keys {sorted(missing)}, unknown '
                f'keys {sorted(unknown)}; allowed keys: {list(ARCH_KEYS)}')
        return dict(copy.deepcopy(ARCH_SETTINGS['t']), **arch)

    def _init_official(self):
        """Official init: trunc-normal(0.02) linears with zero bias, unit
        LayerNorms, then DCNv3's own reset (zero offset/mask linears).
        Skipped on the meta device (shapes only, e.g. to count parameters).
        """
        if self.patch_embed.conv1.weight.is_meta:
            return
        for m in self.modules():
            if isinstance(m, nn.Linear):
                trunc_normal_(m.weight, std=0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.LayerNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        for m in self.modules():
            if isinstance(m, DCNv3):
                m.reset_parameters()

    def _freeze_stages(self):
        if self.frozen_stages < 0:
            return
        frozen = [self.patch_embed, *self.levels[:self.frozen_stages]]
        for module in frozen:
            module.eval()
            for param in module.parameters():
                param.requires_grad = False

    def train(self, mode=True):
        super().train(mode)
        self._freeze_stages()
        return self

    def forward(self, x):
        """``[N, 3, H, W]`` -> tuple of ``[N, C_i, H_i, W_i]`` maps."""
        x = self.pos_drop(self.patch_embed(x))
        outs = []
        for i, level in enumerate(self.levels):
            x, out = level(x)
            if i in self.out_indices:
                outs.append(out.permute(0, 3, 1, 2).contiguous())
            if i >= max(self.out_indices):
                break
        return tuple(outs)
