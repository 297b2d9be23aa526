"""Derive a detection/segmentation config with another (pre-trained)
backbone: the new file inherits the base config and replaces the backbone,
the input channels of the neck (detection) or heads (segmentation), and the
backbone's ``init_cfg`` (``Pretrained`` with ``prefix='backbone.'``)."""
import copy
import difflib
import importlib
import os.path as osp
import warnings
from pathlib import Path

from mmengine.config import Config
from mmengine.registry import MODELS

import projects  # noqa: F401  (stack fixes before any config is read)
from .channels import backbone_channels, resolve_backbone_class
from .formatting import format_assignments, format_value
from .metafile import REPO_ROOT
from .provenance import display_path, to_plain
from .query import get_entry

SCOPES = ('mmdet', 'mmseg', 'mmpretrain')


def resolve_config_path(name_or_path, root=REPO_ROOT):
    """A config path, an upstream ``mmdet::path`` config, or the config of
    the zoo entry with that name."""
    if '::' in str(name_or_path):
        path, _ = Config._get_cfg_path(str(name_or_path), '')
        return Path(path).resolve()
    path = Path(name_or_path)
    if path.suffix == '.py' and path.is_file():
        return path.resolve()
    if path.suffix == '.py' and (Path(root) / path).is_file():
        return (Path(root) / path).resolve()
    return get_entry(str(name_or_path), root).config_path.resolve()


def _imports(cfg):
    ci = cfg.get('custom_imports') or {}
    imports = ci.get('imports', []) if isinstance(ci, dict) else []
    return [imports] if isinstance(imports, str) else list(imports)


def _all_model_names():
    names = set(MODELS.module_dict)
    for scope in SCOPES:
        importlib.import_module(f'{scope}.registry')
        child = MODELS.children.get(scope)
        if child is not None:
            child.import_from_location()
            names |= set(child.module_dict)
    return sorted(names)


def resolve_backbone(name, target_scope, backbone_args=None, imports=(),
                     root=REPO_ROOT):
    """``(backbone cfg, custom imports, description)`` for ``name``: a zoo
    entry (its ``model.backbone``) or a registered backbone type."""
    for module in imports:
        importlib.import_module(module)
    try:
        entry = get_entry(name, root)
    except KeyError:
        entry = None
    if entry is not None:
        cfg = Config.fromfile(str(entry.config_path))
        if 'backbone' not in cfg.get('model', {}):
            raise ValueError(f'zoo entry {name!r} ({entry.config}) has no '
                             'model.backbone')
        backbone = to_plain(cfg.model.backbone)
        scope = cfg.model.get('_scope_') or cfg.get('default_scope')
        if scope and scope != target_scope:
            backbone.setdefault('_scope_', scope)
        backbone.update(backbone_args or {})
        return (backbone, _imports(cfg) + list(imports),
                f'zoo entry {entry.name} ({entry.config})')
    backbone = dict(type=name, **(backbone_args or {}))
    if resolve_backbone_class(name, target_scope) is None:
        for scope in SCOPES:
            if scope != target_scope and \
                    resolve_backbone_class(name, scope) is not None:
                backbone = dict(_scope_=scope, **backbone)
                break
        else:
            close = difflib.get_close_matches(name, _all_model_names(), n=3)
            hint = f'; did you mean {", ".join(map(repr, close))}?' \
                if close else ''
            raise KeyError(f'backbone {name!r} is neither a zoo entry nor a '
                           f'registered model type{hint} (a plugin type '
                           'needs --imports projects.<name>)')
    return backbone, list(imports), f'registered type {name}'


def _task_of(model):
    if 'decode_head' in model:
        return 'segmentation'
    if 'neck' in model:
        return 'detection'
    raise ValueError('derive needs a detection config (model.neck) or a '
                     'segmentation config (model.decode_head)')


def _head_channels(head, channels):
    """New ``in_channels``/``in_index`` of a decode or auxiliary head."""
    in_index = head.get('in_index', -1)
    if isinstance(head.get('in_channels'), (list, tuple)):
        if isinstance(in_index, (list, tuple)) and \
                len(in_index) != len(channels):
            return dict(in_channels=channels,
                        in_index=list(range(len(channels))))
        return dict(in_channels=channels)
    index = in_index if isinstance(in_index, int) else in_index[-1]
    if index >= len(channels):
        index = len(channels) - 1
        return dict(in_channels=channels[index], in_index=index)
    return dict(in_channels=channels[index])


def _inside(path, root):
    try:
        Path(path).resolve().relative_to(Path(root).resolve())
        return True
    except ValueError:
        return False


def derive_overrides(base, backbone, pretrained=None, backbone_args=None,
                     imports=(), input_size=224, root=REPO_ROOT):
    """``(base path, header lines, {key: value})``: what a config inheriting
    ``base`` must set to swap in ``backbone`` (see :func:`derive_config`)."""
    base_path = resolve_config_path(base, root)
    base_cfg = Config.fromfile(str(base_path))
    model = base_cfg.model
    task = _task_of(model)
    target_scope = model.get('_scope_') or base_cfg.get('default_scope',
                                                         'mmengine')
    bb, bb_imports, what = resolve_backbone(backbone, target_scope,
                                            backbone_args, imports, root)
    channels = backbone_channels(bb, target_scope, input_size)
    new_bb = dict(_delete_=True, **{k: v for k, v in bb.items()
                                    if k not in ('init_cfg', 'pretrained')})
    if pretrained:
        new_bb['init_cfg'] = dict(type='Pretrained', checkpoint=str(pretrained),
                                  prefix='backbone.')
    elif bb.get('init_cfg'):
        new_bb['init_cfg'] = copy.deepcopy(bb['init_cfg'])
    new_model = dict(backbone=new_bb)
    if model.get('pretrained'):
        new_model['pretrained'] = None
    if task == 'detection' or 'neck' in model:
        neck = model.neck
        if isinstance(neck, (list, tuple)):
            raise ValueError('derive does not support a list of necks')
        if isinstance(neck.get('in_channels'), int):
            new_model['neck'] = dict(in_channels=channels[-1])
        else:
            new_model['neck'] = dict(in_channels=channels)
    if task == 'segmentation' and 'neck' not in model:
        new_model['decode_head'] = _head_channels(model.decode_head, channels)
        aux = model.get('auxiliary_head')
        if isinstance(aux, (list, tuple)):
            new_model['auxiliary_head'] = [
                dict(h, **_head_channels(h, channels)) for h in
                to_plain(aux)]
        elif aux:
            new_model['auxiliary_head'] = _head_channels(aux, channels)

    all_imports = list(dict.fromkeys(_imports(base_cfg) + bb_imports))
    before = (model.get('neck') or model.get('decode_head') or {}).get(
        'in_channels')
    header = []
    if isinstance(before, (list, tuple)) and len(before) != len(channels):
        note = (f'the backbone gives {len(channels)} feature map(s) where '
                f'the base took {len(before)}; pass e.g. --backbone-args '
                f'out_indices=[0,1,2,3] for multi-scale outputs')
        warnings.warn(note)
        header.append(f'# NOTE: {note}.')
    header = [
        f'# Derived from {display_path(base_path, root)} by tools/zoo.py '
        'derive:',
        f'# backbone {backbone} ({what}), output channels {channels},',
        f'# pre-trained weights {pretrained or "none"}'
        + (" (keys 'backbone.*')." if pretrained else '.'),
    ] + header
    assignments = {}
    if all_imports:
        assignments['custom_imports'] = dict(imports=all_imports,
                                             allow_failed_imports=False)
    assignments['model'] = new_model
    return base_path, header, assignments


def base_reference(base_path, out, root=REPO_ROOT):
    """How a config written to ``out`` names ``base_path`` in ``_base_``."""
    shown = display_path(base_path, root)
    out_dir = Path(out).resolve().parent if out else Path.cwd()
    if '::' in shown:
        return shown
    if _inside(out_dir, root) and _inside(base_path, root):
        return osp.relpath(base_path, out_dir)
    return str(base_path)


def write_text_atomic(path, text):
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(f'{path}.tmp')
    tmp.write_text(text)
    tmp.replace(path)


def derive_config(base, backbone, pretrained=None, out=None,
                  backbone_args=None, imports=(), input_size=224,
                  root=REPO_ROOT):
    """Text of a config inheriting ``base`` with ``backbone`` swapped in.

    Args:
        base: zoo entry name or path of a detection/segmentation config.
        backbone: zoo entry name (its ``model.backbone`` is used) or a
            registered backbone type (``ResNet``, ``mmpretrain.ConvNeXt``).
        pretrained: checkpoint path/URL loaded into the backbone with
            ``prefix='backbone.'`` (keys of a full pre-training model).
        out: where to write the config (its ``_base_`` is relative to it).
        backbone_args: extra/overriding backbone arguments.
        imports: plugin modules that register the backbone type.
        input_size: square input of the channel probe.
    """
    base_path, header, assignments = derive_overrides(
        base, backbone, pretrained, backbone_args, imports, input_size, root)
    text = '\n'.join(header) + '\n'
    text += f'_base_ = {format_value(base_reference(base_path, out, root))}\n'
    model = assignments.pop('model')
    if assignments:
        text += format_assignments(assignments)
    text += '\n' + format_assignments({'model': model})
    if out:
        write_text_atomic(out, text)
    return text
