"""Check the zoo: coverage, required metafile fields, parse and build.

Each problem names the file and the entry, e.g.::

    configs/foo/metafile.yml: entry 'foo_r50_8xb2-1x_coco': Metadata.Parameters
    missing (required for real-size configs, e.g. 'Parameters: 37.4M')
"""
from dataclasses import dataclass
from pathlib import Path

import yaml

from .metafile import (EXCLUDED_CONFIG_DIRS, REPO_ROOT, discover_metafiles,
                       entries_from_metafile, load_yaml, model_index_imports,
                       parse_quantity)

REQUIRED_MODEL_FIELDS = ('Name', 'In Collection', 'Config', 'Metadata',
                         'Results')
RESULT_FIELDS = ('Task', 'Dataset', 'Metrics')
# real-size entries: parameters are required, FLOPs recommended
PARAMS_TOLERANCE = 0.10  # built vs metafile parameters, relative


@dataclass
class ZooProblem:
    level: str  # 'error' or 'warning'
    file: str
    entry: str  # entry name, or '' for file-level problems
    message: str

    def __str__(self):
        where = f"{self.file}: entry '{self.entry}'" if self.entry else \
            self.file
        return f'{self.level}: {where}: {self.message}'


def zoo_configs(root=REPO_ROOT):
    """Every config of the zoo (repo-relative): configs/**/*.py outside
    folders named in EXCLUDED_CONFIG_DIRS (at any depth, e.g.
    configs/ssl_benchmark/_base_)."""
    root = Path(root)
    out = []
    for path in (root / 'configs').rglob('*.py'):
        rel = path.relative_to(root)
        if not set(rel.parts[1:-1]) & set(EXCLUDED_CONFIG_DIRS):
            out.append(rel.as_posix())
    return sorted(out)


def _check_results(results, where, problems, field='Results'):
    if results is None:
        return
    if not isinstance(results, list):
        problems.append((f'{field} must be a list of {{Task, Dataset, '
                         f'Metrics}} (or null for pre-training only), got '
                         f'{type(results).__name__}'))
        return
    for i, result in enumerate(results):
        if not isinstance(result, dict):
            problems.append(f'{field}[{i}] must be a mapping')
            continue
        for key in RESULT_FIELDS:
            if key not in result:
                problems.append(f'{field}[{i}].{key} missing')
        metrics = result.get('Metrics')
        if 'Metrics' in result and not isinstance(metrics, dict):
            problems.append(f'{field}[{i}].Metrics must be a mapping of '
                            'metric name to number')
        elif isinstance(metrics, dict):
            for name, value in metrics.items():
                if not isinstance(value, (int, float)) or isinstance(
                        value, bool):
                    problems.append(f'{field}[{i}].Metrics.{name} must be a '
                                    f'number, got {value!r}')


def _check_model(model, collections, root, seen):
    """(errors, warnings) of one ``Models`` item."""
    errors, warnings = [], []
    for key in REQUIRED_MODEL_FIELDS:
        if key not in model:
            errors.append(f'{key} missing' + (
                ' (use "Results: null" for pre-training-only models)'
                if key == 'Results' else ''))
    name = model.get('Name')
    if name in seen:
        errors.append(f'duplicate Name (also in {seen[name]})')
    coll = model.get('In Collection')
    if coll is not None and coll not in collections:
        errors.append(f"In Collection '{coll}' is not a Collections Name in "
                      'any metafile')
    config = model.get('Config')
    if config is not None:
        if not (Path(root) / str(config)).is_file():
            errors.append(f'Config {config} does not exist')
        elif Path(str(config)).stem != name:
            warnings.append(f'Name differs from the config stem '
                            f'{Path(str(config)).stem!r}')
    tiny = 'tiny' in str(name) or 'synthetic' in str(name)
    metadata = dict((collections.get(coll) or {}).get('Metadata') or {})
    own = model.get('Metadata')
    if own is not None and not isinstance(own, dict):
        errors.append('Metadata must be a mapping')
        own = {}
    metadata.update(own or {})
    if 'Training Data' not in metadata:
        errors.append('Metadata.Training Data missing (in the entry or its '
                      'collection)')
    for key in ('Parameters', 'FLOPs'):
        if key in metadata:
            try:
                parse_quantity(metadata[key])
            except ValueError as err:
                errors.append(f'Metadata.{key}: {err}')
        elif not tiny:
            (errors if key == 'Parameters' else warnings).append(
                f'Metadata.{key} missing ('
                f'{"required" if key == "Parameters" else "recommended"} '
                f'for real-size configs, e.g. '
                f'"{key}: {"37.4M" if key == "Parameters" else "239G"}")')
    _check_results(model.get('Results'), name, errors)
    _check_results(model.get('Official'), name, errors, 'Official')
    reproduced = model.get('Reproduced')
    if reproduced is not None and not isinstance(reproduced, bool):
        errors.append(f'Reproduced must be true or false, got {reproduced!r}')
    if not tiny and model.get('Results') and reproduced is None:
        errors.append('Reproduced missing (false: Results quote the paper; '
                      'true: measured here, with the paper in Official)')
    downstream = model.get('Downstream')
    if downstream is not None and not isinstance(downstream, list):
        errors.append('Downstream must be a list of model names')
    return errors, warnings


def validate_metafiles(root=REPO_ROOT):
    """Static checks (no config is loaded): list of :class:`ZooProblem`."""
    root = Path(root)
    problems = []
    index = 'model-index.yml'
    if not (root / index).is_file():
        problems.append(ZooProblem('error', index, '', 'missing'))
    imports = model_index_imports(root)
    for path in imports:
        if not (root / path).is_file():
            problems.append(ZooProblem('error', index, '',
                                       f'imports {path}, which does not '
                                       'exist'))
    norm_imports = {Path(p).as_posix().lstrip('./') for p in imports}
    metafiles = sorted(set(discover_metafiles(root)) | {
        p for p in norm_imports if (root / p).is_file()})
    datas = {}
    for path in metafiles:
        if path not in norm_imports:
            problems.append(ZooProblem(
                'error', path, '', 'not imported by model-index.yml (add '
                f'"  - {path}" under Import:)'))
        try:
            data = load_yaml(root / path) or {}
        except yaml.YAMLError as err:
            problems.append(ZooProblem('error', path, '',
                                       f'invalid YAML: {err}'))
            continue
        if not isinstance(data, dict) or not isinstance(
                data.get('Models'), list):
            problems.append(ZooProblem('error', path, '',
                                       'needs a Models: list'))
            continue
        datas[path] = data
    collections = {}
    for path, data in datas.items():
        for coll in data.get('Collections') or []:
            if not isinstance(coll, dict) or 'Name' not in coll:
                problems.append(ZooProblem('error', path, '',
                                           'a Collections item has no Name'))
                continue
            collections[coll['Name']] = coll
            for key in ('Metadata', 'Paper'):
                if key not in coll:
                    problems.append(ZooProblem(
                        'warning', path, coll['Name'],
                        f'collection has no {key}'))
    seen, covered = {}, set()
    for path, data in datas.items():
        for i, model in enumerate(data['Models']):
            if not isinstance(model, dict):
                problems.append(ZooProblem('error', path, f'Models[{i}]',
                                           'must be a mapping'))
                continue
            label = str(model.get('Name', f'Models[{i}]'))
            errors, warnings = _check_model(model, collections, root, seen)
            problems += [ZooProblem('error', path, label, m) for m in errors]
            problems += [ZooProblem('warning', path, label, m)
                         for m in warnings]
            if 'Name' in model:
                seen.setdefault(model['Name'], path)
            if model.get('Config'):
                covered.add(Path(str(model['Config'])).as_posix())
    for path, data in datas.items():
        for model in data['Models']:
            if not isinstance(model, dict):
                continue
            for name in model.get('Downstream') or []:
                if name not in seen:
                    problems.append(ZooProblem(
                        'error', path, str(model.get('Name')),
                        f'Downstream names {name!r}, which has no entry'))
    for config in zoo_configs(root):
        if config not in covered:
            project = Path(config).parts[1]
            problems.append(ZooProblem(
                'error', config, '', 'has no entry in any metafile (add it '
                f'to configs/{project}/metafile.yml)'))
    return problems


def validate_zoo(root=REPO_ROOT, parse=True, build=True,
                 cpu_build_max_params=60e6):
    """Static checks, then (``parse``) ``Config.fromfile`` of every entry's
    config and (``build``) ``MODELS.build`` of its model in its default
    scope: on the meta device (no memory, no init), falling back to the CPU
    for modules that compute with tensors in ``__init__`` when the entry is
    tiny or its ``Parameters`` <= ``cpu_build_max_params``. The built
    parameter count is compared with ``Metadata.Parameters`` (warning above
    10 %)."""
    problems = validate_metafiles(root)
    if not (parse or build):
        return problems
    return problems + _load_and_build(root, build, cpu_build_max_params)


def _load_and_build(root, build, cpu_build_max_params):
    from .building import build_entry_model, count_params
    problems = []
    from .metafile import all_collections, metafile_paths
    collections = all_collections(root)
    for path in metafile_paths(root):
        try:
            entries = entries_from_metafile(path, root, collections)
        except yaml.YAMLError:
            continue
        for entry in entries:
            if not entry.config_path.is_file():
                continue
            try:
                model, device = build_entry_model(
                    entry, build=build,
                    cpu_max_params=cpu_build_max_params)
            except Exception as err:  # reported, not raised
                stage = 'build' if getattr(err, 'zoo_stage', '') == 'build' \
                    else 'parse'
                problems.append(ZooProblem(
                    'error', entry.metafile, entry.name,
                    f'{entry.config} fails to {stage}: '
                    f'{type(err).__name__}: {err}'))
                continue
            if model is None:
                if build and device:
                    problems.append(ZooProblem(
                        'warning', entry.metafile, entry.name, device))
                continue
            if entry.params:
                built = count_params(model)
                if abs(built - entry.params) > PARAMS_TOLERANCE * \
                        entry.params:
                    problems.append(ZooProblem(
                        'warning', entry.metafile, entry.name,
                        f'built model has {built / 1e6:.2f}M parameters, '
                        f'Metadata.Parameters says '
                        f'{entry.params / 1e6:.2f}M'))
    return problems
