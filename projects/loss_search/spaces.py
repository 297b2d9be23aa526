"""Search spaces: the map from a policy sample theta in [0, 1]^d to the
loss parameters of PAP or Auto Seg-Loss, the parameter files, and the
injection of those parameters into a training config.

The theta -> control point maps are the packages' own
(:func:`projects.pap_loss.theta_to_points`,
:func:`projects.pap_loss.grad_scale_from_theta`,
:func:`projects.auto_seg_loss.theta_to_control_points`); this module only
lays theta out and writes what the loss configs load.
"""
import copy
import math
import os.path as osp

import torch
from mmengine.config import ConfigDict

from projects.auto_seg_loss import (FUNCTIONS, PiecewiseBezier,
                                    control_points_to_theta,
                                    theta_to_control_points)
from projects.pap_loss import (PiecewisePoly, grad_scale_from_theta,
                               theta_to_points)
from projects.pap_loss.functions import OFFICIAL_ROW_ORDER
from projects.run_config import write_json_atomic

# the official initial means (the identity functions / scale 1)
PAP_INIT_FUNCTION = (0.2, 0.2, 0.25, 0.25, 1 / 3, 1 / 3, 0.5, 0.5)
ASL_INIT_FUNCTION = {2: (0.25, 0.25, 1 / 3, 1 / 3, 0.5, 0.5), 1: (0.5, 0.5)}


def points_to_theta(points):
    """Inverse of :func:`projects.pap_loss.theta_to_points` for one PAP
    function (4 inner points, flat ``[x1, y1, ..., x4, y4]``)."""
    pts = torch.as_tensor(points, dtype=torch.float64).reshape(-1, 2)
    theta = pts.clone()
    room = 1 - pts[:-1]
    theta[1:] = torch.where(room > 0, (pts[1:] - pts[:-1]) /
                            room.clamp_min(1e-300), torch.zeros_like(room))
    return theta.reshape(-1)


def grad_scale_to_theta(scale):
    """Inverse of ``10 ** (2 theta - 1)``."""
    return (math.log10(float(scale)) + 1) / 2


def get_path(cfg, path):
    """``cfg['model']['bbox_head']`` for ``'model.bbox_head'``; errors name
    the missing key."""
    node = cfg
    for i, key in enumerate(path.split('.')):
        if not hasattr(node, 'keys') or key not in node:
            raise KeyError(f"the search config has no "
                           f"'{'.'.join(path.split('.')[:i + 1])}' (search "
                           f'space head path {path!r})')
        node = node[key]
    return node


class SearchSpace:
    """Base class: ``dim``, ``init_mean``, ``decode(theta)`` (JSON-able
    parameters), ``write_params(theta, out_dir, **meta)`` (parameter files
    the loss configs load), ``inject(cfg, theta, out_dir)`` (a copy of a
    config trained with them) and ``curves(theta)`` (for plots)."""

    dim = 0

    def split(self, theta):
        theta = torch.as_tensor(theta, dtype=torch.float64).reshape(-1)
        if theta.numel() != self.dim:
            raise ValueError(f'{type(self).__name__}: theta has '
                             f'{theta.numel()} numbers, expected {self.dim}')
        if ((theta < 0) | (theta > 1)).any():
            raise ValueError(f'theta must lie in [0, 1], got {theta.tolist()}')
        return theta


class PAPSpace(SearchSpace):
    """Parameterized AP Loss: per head 5 functions (rows H2, I2, I3, I1, H1)
    of 8 theta each, then one gradient scale per head (official layout:
    every head's functions first, the scales last).

    Args:
        heads (list[dict]): ``dict(name=..., path='model.bbox_head')`` per
            PAP head, in the official order (RPN before RCNN). ``name``
            names the parameter file (``<name>.json``).
        search_grad_scale (bool): search the box-branch gradient scale
            ``10 ** (2 theta - 1)`` (PAP); if False it stays at the head's
            ``reg_weight``.
        with_h1 (bool): search H1 (else the exact step).
        detector (str): written into the parameter files.
    """

    def __init__(self, heads, search_grad_scale=True, with_h1=True,
                 detector=''):
        if not heads:
            raise ValueError('PAPSpace needs at least one head')
        self.heads = [dict(h) for h in heads]
        for h in self.heads:
            if 'name' not in h or 'path' not in h:
                raise ValueError(f'PAPSpace head {h} needs name and path')
        self.functions = OFFICIAL_ROW_ORDER if with_h1 else \
            OFFICIAL_ROW_ORDER[:4]
        self.search_grad_scale = search_grad_scale
        self.detector = detector
        self.per_head = 8 * len(self.functions)
        self.dim = self.per_head * len(self.heads) + \
            (len(self.heads) if search_grad_scale else 0)

    @property
    def init_mean(self):
        mean = list(PAP_INIT_FUNCTION) * (len(self.functions) *
                                          len(self.heads))
        return mean + [0.5] * (self.dim - len(mean))

    def decode(self, theta):
        theta = self.split(theta)
        out = {}
        for k, head in enumerate(self.heads):
            block = theta[k * self.per_head:(k + 1) * self.per_head]
            fns = {}
            for j, name in enumerate(self.functions):
                t = block[8 * j:8 * j + 8]
                fns[name] = dict(
                    ctrl_points=theta_to_points(t).reshape(-1).tolist(),
                    theta=t.tolist())
            entry = dict(functions=fns)
            if self.search_grad_scale:
                ts = float(theta[self.per_head * len(self.heads) + k])
                entry.update(reg_weight=grad_scale_from_theta(ts),
                             reg_weight_theta=ts)
            out[head['name']] = entry
        return out

    def encode(self, params):
        """theta of decoded parameters (``{head: {functions, reg_weight}}``,
        e.g. the released files' contents)."""
        theta, scales = [], []
        for head in self.heads:
            entry = params[head['name']]
            for name in self.functions:
                theta += points_to_theta(
                    entry['functions'][name]['ctrl_points']).tolist()
            if self.search_grad_scale:
                scales.append(grad_scale_to_theta(entry['reg_weight']))
        return theta + scales

    def write_params(self, theta, out_dir, **meta):
        files = {}
        for head in self.heads:
            entry = self.decode(theta)[head['name']]
            doc = dict(detector=self.detector, head=head['path'],
                       **entry, **meta)
            path = osp.join(out_dir, f"{head['name']}.json")
            write_json_atomic(path, doc)
            files[head['name']] = osp.abspath(path)
        return files

    def inject(self, cfg, theta, out_dir, **meta):
        """Train each head with the written files and, if searched, its
        gradient scale as the head's ``reg_weight`` (which the heads apply
        to the box branch; the official search set an attribute no head
        read)."""
        cfg = copy.deepcopy(cfg)
        files = self.write_params(theta, out_dir, **meta)
        decoded = self.decode(theta)
        for head in self.heads:
            node = get_path(cfg, head['path'])
            old = node.get('loss_pap')
            if old is None:
                raise ValueError(
                    f"{head['path']} ({node.get('type')}) has no loss_pap: "
                    f'the search config must train a PAP head there (e.g. '
                    f'PAPRetinaHead, PAPRPNHead, PAPShared2FCBBoxHead)')
            loss = ConfigDict({k: v for k, v in old.items()
                               if k not in ('ctrl_points', 'theta',
                                            'params_file', 'form')})
            loss.update(form='searched', params_file=files[head['name']])
            node['loss_pap'] = loss
            if self.search_grad_scale:
                node['reg_weight'] = decoded[head['name']]['reg_weight']
        return cfg

    def curves(self, theta, num=201):
        x = torch.linspace(0, 1, num, dtype=torch.float64)
        out = {}
        for head, entry in self.decode(theta).items():
            for name, fn in entry['functions'].items():
                f = PiecewisePoly.from_points(fn['ctrl_points'])
                out[f'{head} {name}'] = (x.tolist(), f(x).tolist())
        return out


class AutoSegLossSpace(SearchSpace):
    """Auto Seg-Loss: the functions of ``target_metric`` (official flat
    layout, see :data:`projects.auto_seg_loss.FUNCTIONS`).

    Args:
        target_metric (str): mIoU, FWIoU, mAcc, gAcc, BIoU or BF1.
        heads (list[dict]): ``dict(path='model.decode_head',
            loss_weight=1.0)`` per head trained with the loss; the loss
            replaces the head's ``loss_decode`` (other AutoSegLoss options of
            an existing one, e.g. ``tol``/``drop_bg``, are kept;
            ``loss_weight`` defaults to the existing one).
        name (str): file name of the result (default: the metric, lower).
    """

    def __init__(self, target_metric, heads=(dict(path='model.decode_head',
                                                  loss_weight=1.0),),
                 name=None, loss_options=None):
        if target_metric not in FUNCTIONS:
            raise ValueError(f'unknown target_metric {target_metric!r}; '
                             f'expected one of {tuple(FUNCTIONS)}')
        self.target_metric = target_metric
        self.names, self.pieces = FUNCTIONS[target_metric]
        self.block = 2 * (2 * self.pieces - 1)
        self.dim = self.block * len(self.names)
        self.heads = [dict(h) for h in heads]
        self.name = name or target_metric.lower()
        self.loss_options = dict(loss_options or {})

    @property
    def init_mean(self):
        return list(ASL_INIT_FUNCTION[self.pieces]) * len(self.names)

    def decode(self, theta):
        theta = self.split(theta)
        pts = theta_to_control_points(theta, len(self.names), self.pieces)
        return dict(target_metric=self.target_metric, functions={
            name: dict(
                ctrl_points=pts[k * self.block:(k + 1) * self.block].tolist(),
                theta=theta[k * self.block:(k + 1) * self.block].tolist())
            for k, name in enumerate(self.names)})

    def encode(self, params):
        pts = [v for name in self.names
               for v in params['functions'][name]['ctrl_points']]
        return control_points_to_theta(pts, self.pieces).tolist()

    def write_params(self, theta, out_dir, **meta):
        path = osp.join(out_dir, f'{self.name}.json')
        write_json_atomic(path, dict(**self.decode(theta), **meta))
        return {self.name: osp.abspath(path)}

    def inject(self, cfg, theta, out_dir, **meta):
        cfg = copy.deepcopy(cfg)
        (path, ) = self.write_params(theta, out_dir, **meta).values()
        for head in self.heads:
            node = get_path(cfg, head['path'])
            old = node.get('loss_decode')
            if isinstance(old, (list, tuple)):
                raise ValueError(f"{head['path']}.loss_decode is a list; "
                                 f'the search replaces one loss per head')
            keep = {}
            if isinstance(old, dict) and old.get('type') == 'AutoSegLoss':
                keep = {k: v for k, v in old.items()
                        if k in ('tol', 'drop_bg', 'loss_weight', 'eps')}
            weight = head.get('loss_weight',
                              keep.get('loss_weight',
                                       (old or {}).get('loss_weight', 1.0)))
            keep.update(self.loss_options)
            keep.update(type='AutoSegLoss', target_metric=self.target_metric,
                        params_file=path, loss_weight=weight)
            node['loss_decode'] = ConfigDict(keep)
        return cfg

    def curves(self, theta, num=201):
        x = torch.linspace(0, 1, num, dtype=torch.float64)
        out = {}
        for name, fn in self.decode(theta)['functions'].items():
            y = PiecewiseBezier(fn['ctrl_points']).evaluate(x)
            y = y[0] if isinstance(y, tuple) else y
            out[name] = (x.tolist(), y.tolist())
        return out


SPACES = dict(PAPSpace=PAPSpace, AutoSegLossSpace=AutoSegLossSpace)
