"""Write the De-focus Mamba fidelity fixture from an official checkout.

    python tools/model_converters/official_fixtures/defocus.py \
        /path/to/De-focus-Attention-Networks [--out tests/data/official/defocus.pt]

Run with OpenGVLab/De-focus-Attention-Networks at commit
9406511ff2b89dc14b549996504f2e9ec7b6f0e0 (2024-06-07), torch 2.13, timm 1.0,
mmdet 3.3 / mmcv 2.x (the detection backbone) and ``yacs`` importable.

Builds the official classification ``DefocusAttentionNetwork``
(``classification/models/defocus_attention_network.py`` with
``mamba_block.MambaBlock``, the ``defocus_mamba_*`` recipe: LayerNorm eps
1e-6, ``IN1k_cls`` head with ``head2``, ``use_rope``) at a tiny size:
embed dim 32, E 64, depth 2, N 8, time-step rank 4, group-norm size 32,
patch 8, a 2x3x32x32 input (16 tokens + cls), 5 classes,
``delta_scale_factor`` 1.5 and ``rope_scale_factor`` 2.0. Every parameter
is randomised (seeded; drawn and stored in float32, exact in float64):
Linear / conv weights ~ N(0, 1/fan_in), all biases, RMS / LayerNorm
weights and biases, ``cls_token``, ``A_log``, ``D`` and ``freq`` moved away
from their constant inits.

Only the CUDA extensions (and the unused ``transformers`` helpers and
``easydict`` when they are not installed) are stubbed while the official
files are imported: ``mamba_ssm``'s ``selective_scan_fn`` is the sequential
reference scan (``projects/defocus/reference.py``, mamba_ssm's
``selective_scan_ref`` semantics) and ``causal_conv1d_fn`` is
``causal_conv1d_ref`` (padded depthwise conv, cropped, then SiLU).

Saved (plain tensors / dicts / str; ``torch.load(weights_only=True)``):
``state_dict`` (official keys), ``input``, and per dtype (``float64``,
``float32``) the official ``forward`` output ``logits`` [b, L + 1, K]
(``head2`` on the image tokens, ``head`` on the cls token last) and
``features`` (``forward_features``: all tokens after the final norm).
``detection``: the official mmdet ``Defocus_Mamba_Backbone``
(``detection/mmdet_custom/models/mamba``; its package ``__init__`` is
skipped) with ``PatchChange`` (``pretrain_size`` 64 px = windows of 4x4
tokens scanned one after another, the image corner-padded to whole
windows and the map cropped back), patch 16, final LayerNorm eps 1e-5,
``delta_scale_factor`` 2.5, ``rope_scale_factor`` 3.0, on a 2x3x80x112 input
(5x7 patches, padded to 8x8): its state dict under ``backbone.`` (mmdet
layout, ``patch_embed.projection``), the input and the stride-16 map
``featmap`` [2, 32, 5, 7] per dtype.

The official code casts to float32 in places meant for bf16 training
(RMSNorm, ``residual_in_fp32``, the scan outputs, ``A``, ``D``, gate);
in the float64 run these casts are made identities (``keep_float64``),
which the test applies to our model in the same way.
"""
import argparse
import contextlib
import math
import sys
import types
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[3]
COMMIT = '9406511ff2b89dc14b549996504f2e9ec7b6f0e0'
TINY = dict(embed_dim=32, depth=2, intermediate_size=64, state_size=8,
            time_step_rank=4, group_norm_size=32, patch_size=8, img_size=32,
            num_classes=5, delta_scale_factor=1.5, rope_scale_factor=2.0)


@contextlib.contextmanager
def keep_float64():
    """``x.float()`` / ``x.to(torch.float32)`` leave float64 tensors as
    they are (the official bf16-era up-casts become identities)."""
    orig_float, orig_to = torch.Tensor.float, torch.Tensor.to

    def _float(self, *args, **kwargs):
        if self.dtype == torch.float64:
            return self
        return orig_float(self, *args, **kwargs)

    def _to(self, *args, **kwargs):
        if self.dtype == torch.float64 and (
                (args and args[0] is torch.float32)
                or kwargs.get('dtype') is torch.float32):
            return self
        return orig_to(self, *args, **kwargs)

    torch.Tensor.float, torch.Tensor.to = _float, _to
    try:
        yield
    finally:
        torch.Tensor.float, torch.Tensor.to = orig_float, orig_to


def _module(name, **attrs):
    mod = types.ModuleType(name)
    mod.__dict__.update(attrs)
    sys.modules[name] = mod
    return mod


def causal_conv1d_ref(x, weight, bias=None, activation=None):
    """causal_conv1d's reference: depthwise conv, left-padded, SiLU."""
    width = weight.shape[-1]
    out = F.conv1d(x, weight[:, None], bias, padding=width - 1,
                   groups=x.shape[1])[..., :x.shape[-1]]
    return F.silu(out) if activation in ('silu', 'swish') else out


def install_stubs():
    """Stand-ins for the CUDA extensions (and absent helper packages)."""
    sys.path.insert(0, str(ROOT))
    from projects.defocus.reference import selective_scan_ref
    _module('mamba_ssm')
    _module('mamba_ssm.ops')
    _module('mamba_ssm.ops.selective_scan_interface',
            selective_scan_fn=selective_scan_ref,
            mamba_inner_fn=lambda *a, **k: None)
    _module('mamba_ssm.ops.triton')
    _module('mamba_ssm.ops.triton.selective_state_update',
            selective_state_update=lambda *a, **k: None)
    _module('causal_conv1d', causal_conv1d_fn=causal_conv1d_ref,
            causal_conv1d_update=lambda *a, **k: None)
    try:
        import transformers.activations  # noqa: F401
        import transformers.utils.import_utils as iu
        iu.is_mamba_ssm_available = lambda: True
        iu.is_causal_conv1d_available = lambda: True
    except ImportError:
        import logging
        logging_ns = types.SimpleNamespace(get_logger=logging.getLogger)
        noop = lambda *a, **k: (lambda f: f)  # noqa: E731
        _module('transformers')
        _module('transformers.activations',
                ACT2FN={'silu': nn.SiLU(), 'swish': nn.SiLU()})
        _module('transformers.modeling_utils', PreTrainedModel=nn.Module)
        _module('transformers.utils', ModelOutput=dict,
                add_code_sample_docstrings=noop, add_start_docstrings=noop,
                add_start_docstrings_to_model_forward=noop,
                logging=logging_ns)
        _module('transformers.utils.import_utils',
                is_causal_conv1d_available=lambda: True,
                is_mamba_ssm_available=lambda: True)
        _module('transformers.models')
        _module('transformers.models.mamba')
        _module('transformers.models.mamba.configuration_mamba',
                MambaConfig=dict)
    try:
        import easydict  # noqa: F401
    except ImportError:
        class EasyDict(dict):
            __getattr__ = dict.__getitem__
            __setattr__ = dict.__setitem__
        _module('easydict', EasyDict=EasyDict)


class Cfg(dict):
    __getattr__ = dict.__getitem__


def build_official(checkout):
    """The official network at the tiny size (official initialisation)."""
    install_stubs()
    sys.path.insert(0, str(Path(checkout) / 'classification'))
    from functools import partial

    from models.defocus_attention_network import DefocusAttentionNetwork
    from models.mamba_block import MambaBlock
    t = TINY
    mamba = Cfg(state_size=t['state_size'], conv_kernel=4,
                intermediate_size=t['intermediate_size'],
                time_step_rank=t['time_step_rank'], time_step_scale=1.0,
                time_step_init_scheme='random', time_step_max=0.1,
                time_step_min=0.001, time_step_floor=1e-4,
                use_conv_bias=True, hidden_act='silu', use_bias=False,
                residual_in_fp32=True, layer_norm_epsilon=1e-5,
                initializer_range=0.1, rescale_prenorm_residual=False,
                use_out_norm=False, group_norm_size=t['group_norm_size'],
                rope_scale_factor=t['rope_scale_factor'],
                delta_scale_factor=t['delta_scale_factor'])
    args = Cfg(MODEL=Cfg(TYPE='mamba', depth=t['depth'], drop_path_rate=0.0,
                         use_rope=True, use_pos_embed=False,
                         use_aux_loss=True, head_type='IN1k_cls',
                         patch_embed_change_res=False, MAMBA=mamba),
               TRAIN=Cfg(USE_CHECKPOINT=False))
    return DefocusAttentionNetwork(
        img_size=t['img_size'], patch_size=t['patch_size'],
        num_classes=t['num_classes'], embed_dim=t['embed_dim'],
        depth=t['depth'], norm_layer=partial(nn.LayerNorm, eps=1e-6),
        block_layers=MambaBlock, args=args).eval()


@torch.no_grad()
def randomise(model, seed=0):
    """Seeded float32 values for every parameter, none left at its init."""
    g = torch.Generator().manual_seed(seed)

    def randn(shape):
        return torch.randn(shape, generator=g)

    for name, p in model.named_parameters():
        leaf = name.rsplit('.', 1)[-1]
        if leaf == 'A_log':   # A = -exp(A_log) in about [-4, -0.25]
            v = (torch.rand(p.shape, generator=g) * 4 - 1.5) * math.log(2)
        elif leaf == 'D' or leaf == 'cls_token':
            v = randn(p.shape)
        elif leaf == 'freq':
            v = torch.rand(p.shape, generator=g)
        elif name.endswith('dt_proj.bias'):   # softplus -> about 0.01..0.5
            v = torch.rand(p.shape, generator=g) * 4 - 4
        elif leaf == 'weight' and p.dim() == 1:   # RMS / LayerNorm scales
            v = 1 + 0.2 * randn(p.shape)
        elif leaf == 'bias':
            v = 0.1 * randn(p.shape)
        else:
            fan_in = p[0].numel()
            v = randn(p.shape) / math.sqrt(fan_in)
        p.copy_(v)


DET = dict(embed_dim=32, depth=2, intermediate_size=64, state_size=8,
           time_step_rank=4, group_norm_size=32, patch_size=16,
           pretrain_size=64, height=80, width=112,
           delta_scale_factor=2.5, rope_scale_factor=3.0)


def build_official_detection(checkout):
    """The official mmdet ``Defocus_Mamba_Backbone`` with ``PatchChange``
    (windows of ``pretrain_size`` px scanned one after another)."""
    install_stubs()
    folder = Path(checkout) / 'detection/mmdet_custom/models/mamba'
    pkg = _module('defocus_official_det')
    pkg.__path__ = [str(folder)]   # skip __init__ (simple_fpn)
    from defocus_official_det.defocus_mamba_backbone import \
        Defocus_Mamba_Backbone
    t = DET
    cfg = dict(hidden_size=t['embed_dim'], depth=t['depth'],
               intermediate_size=t['intermediate_size'],
               state_size=t['state_size'],
               time_step_rank=t['time_step_rank'],
               group_norm_size=t['group_norm_size'], use_rope=True,
               delta_scale_factor=t['delta_scale_factor'],
               rope_scale_factor=t['rope_scale_factor'])
    return Defocus_Mamba_Backbone(
        mamba_config_dict=cfg, img_size=(t['height'], t['width']),
        patch_size=t['patch_size'], use_fp32=True, PatchChange=True,
        pretrain_size=t['pretrain_size']).eval()


def make_detection_fixture(checkout, seed=0):
    torch.manual_seed(seed)
    model = build_official_detection(checkout)
    randomise(model, seed + 2)
    state = {f'backbone.{k}': v.detach().clone().float().contiguous()
             for k, v in model.state_dict().items()}
    g = torch.Generator().manual_seed(seed + 3)
    x = torch.randn(2, 3, DET['height'], DET['width'], generator=g)
    out = dict(state_dict=state, input=x,
               config={k: torch.tensor(v) for k, v in DET.items()})
    for dtype in (torch.float64, torch.float32):
        m = model.to(dtype)
        ctx = keep_float64() if dtype == torch.float64 else \
            contextlib.nullcontext()
        with torch.no_grad(), ctx:
            out[str(dtype).split('.')[-1]] = dict(
                featmap=m(x.to(dtype)).contiguous())
    return out


def make_fixture(checkout, seed=0):
    torch.manual_seed(seed)
    model = build_official(checkout)
    randomise(model, seed)
    state = {k: v.detach().clone().float().contiguous()
             for k, v in model.state_dict().items()}
    g = torch.Generator().manual_seed(seed + 1)
    s = TINY['img_size']
    x = torch.randn(2, 3, s, s, generator=g)
    out = dict(commit=COMMIT, state_dict=state, input=x,
               config={k: torch.tensor(v) for k, v in TINY.items()})
    for dtype in (torch.float64, torch.float32):
        m = model.to(dtype)
        ctx = keep_float64() if dtype == torch.float64 else \
            contextlib.nullcontext()
        with torch.no_grad(), ctx:
            xi = x.to(dtype)
            out[str(dtype).split('.')[-1]] = dict(
                features=m.forward_features(xi).contiguous(),
                logits=m(xi).contiguous())
    out['detection'] = make_detection_fixture(checkout, seed)
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('checkout', help='official repository root')
    parser.add_argument('--out', default=str(
        ROOT / 'tests/data/official/defocus.pt'))
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args(argv)
    fixture = make_fixture(args.checkout, args.seed)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    torch.save(fixture, args.out)
    print(f'wrote {args.out}: {len(fixture["state_dict"])} official keys, '
          f'logits {tuple(fixture["float64"]["logits"].shape)}')


if __name__ == '__main__':
    main()
