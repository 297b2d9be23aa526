"""Fast look-up of ``mmdet::``-style model config names.

mmengine 0.10.7 re-reads the package's model-index.yml and all its metafiles
(hundreds of YAML files, about 1 s) for every ``pkg::`` base, ``_base_/`` ones
included, so loading one tiny config costs seconds. :func:`install` replaces
``mmengine.config.config._get_external_cfg_path`` by a look-up with the same
answers: ``_base_/`` names raise the ValueError after which mmengine uses
``.mim/configs/<name>``; a model config that exists there is returned
directly (its metafile ``Config`` is that file); other names go through an
index of the package's metafiles built once per package.
"""
import os.path as osp

import yaml

_INDEXES = {}


def _load_yaml(path):
    with open(path, encoding='utf-8') as f:
        return yaml.load(f, Loader=getattr(yaml, 'CSafeLoader', yaml.SafeLoader))


def _index(package_path):
    if package_path not in _INDEXES:
        meta = _load_yaml(osp.join(package_path, '.mim', 'model-index.yml'))
        found = {}
        for meta_path in meta['Import']:
            data = _load_yaml(osp.join(package_path, '.mim', meta_path))
            for model in data.get('Models') or []:
                if 'Config' in model:
                    found.setdefault(model['Config'].partition('/')[-1], model)
        _INDEXES[package_path] = found
    return _INDEXES[package_path]


def external_cfg_path(package_path, cfg_file):
    """Absolute path of model config ``cfg_file`` of an installed package."""
    direct = osp.join(package_path, '.mim', 'configs', cfg_file)
    if osp.isfile(direct) and not cfg_file.startswith('_base_'):
        return direct
    if cfg_file.startswith('_base_/'):
        raise ValueError(f'{cfg_file} is a base config')  # as mmengine
    name = cfg_file.split('.')[0]
    model = _index(package_path).get(name)
    if model is None:
        raise ValueError(f'{name} is not a model config of {package_path}')
    path = osp.join(package_path, model['Config'])
    if not osp.isfile(path):
        raise FileNotFoundError(f'file "{path}" does not exist')
    return path


def install():
    from mmengine.config import config as config_module
    config_module._get_external_cfg_path = external_cfg_path
