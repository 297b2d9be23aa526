"""Zoo metadata: the validator on fixture metafiles, the look-up API and
search conditions on a fixture zoo, and the coverage of the real zoo."""
import textwrap
from pathlib import Path

import pytest

from projects.zoo import (get_entry, list_configs, search, validate_metafiles,
                          validate_zoo)

ROOT = Path(__file__).resolve().parents[2]


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))


FIXTURE_METAFILE = """\
Collections:
  - Name: Det
    Metadata:
      Training Data: COCO
      Architecture: [RetinaNet, FPN, ResNet]
    Paper: {Title: t, URL: u}
  - Name: Seg
    Metadata:
      Training Data: ADE20K
      Architecture: [UPerNet, Swin]
    Paper: {Title: t, URL: u}
  - Name: SSL
    Metadata:
      Training Data: ImageNet-1k
      Architecture: [MAE, ViT]
    Paper: {Title: t, URL: u}
Models:
  - Name: det_r50_8xb2-1x_coco
    In Collection: Det
    Config: configs/a/det_r50_8xb2-1x_coco.py
    Metadata: {Parameters: 37.4M, FLOPs: 239G}
    Results:
      - {Task: Object Detection, Dataset: COCO, Metrics: {box AP: 40.5}}
    Reproduced: false
  - Name: seg_swin-t_8xb2-160k_ade20k
    In Collection: Seg
    Config: configs/a/seg_swin-t_8xb2-160k_ade20k.py
    Metadata: {Parameters: 60M, FLOPs: 945G}
    Results:
      - {Task: Semantic Segmentation, Dataset: ADE20K, Metrics: {mIoU: 44.5}}
    Official:
      - {Task: Semantic Segmentation, Dataset: ADE20K, Metrics: {mIoU: 44.5}}
    Reproduced: true
  - Name: mae_vit-b_8xb512-800e_in1k
    In Collection: SSL
    Config: configs/a/mae_vit-b_8xb512-800e_in1k.py
    Metadata: {Parameters: 111.9M, FLOPs: 17.6G}
    Results: null
    Downstream: [det_r50_8xb2-1x_coco]
  - Name: det_r18_fpn_tiny_1xb4-40it_synthetic-coco
    In Collection: Det
    Config: configs/a/det_r18_fpn_tiny_1xb4-40it_synthetic-coco.py
    Metadata: {Training Data: Synthetic COCO}
    Results:
      - {Task: Object Detection, Dataset: Synthetic COCO, Metrics: {box AP: 20.1}}
"""
GOOD = ['det_r50_8xb2-1x_coco', 'seg_swin-t_8xb2-160k_ade20k',
        'mae_vit-b_8xb512-800e_in1k',
        'det_r18_fpn_tiny_1xb4-40it_synthetic-coco']


@pytest.fixture(scope='module')
def fixture_zoo(tmp_path_factory):
    """A consistent zoo (no problems) of four entries."""
    root = tmp_path_factory.mktemp('zoo')
    write(root / 'model-index.yml', 'Import:\n  - configs/a/metafile.yml\n')
    write(root / 'configs/a/metafile.yml', FIXTURE_METAFILE)
    for name in GOOD:
        write(root / f'configs/a/{name}.py', 'x = 1\n')
    write(root / 'configs/_base_/datasets/d.py', 'x = 1\n')  # excluded
    write(root / 'configs/benchmark/p.py', 'x = 1\n')  # excluded
    write(root / 'configs/loss_search/s.py', 'x = 1\n')  # excluded
    write(root / 'configs/x/_base_/b.py', 'x = 1\n')  # excluded
    return root


@pytest.fixture
def broken_zoo(tmp_path):
    """The fixture zoo with one of each kind of problem added."""
    write(tmp_path / 'model-index.yml',
          'Import:\n  - configs/a/metafile.yml\n  - configs/gone/metafile.yml\n')
    write(tmp_path / 'configs/a/metafile.yml', FIXTURE_METAFILE + """\
  - Name: no_config_r50_8xb2-1x_coco
    In Collection: Det
    Config: configs/a/no_config_r50_8xb2-1x_coco.py
    Metadata: {Parameters: 10M}
    Results: null
  - Name: bad_fields_r50_8xb2-1x_coco
    In Collection: Nope
    Config: configs/a/bad_fields_r50_8xb2-1x_coco.py
    Metadata: {Parameters: 12 apples}
    Results:
      - {Dataset: COCO, Metrics: {box AP: high}}
    Downstream: [not_in_zoo]
""")
    for name in GOOD + ['bad_fields_r50_8xb2-1x_coco', 'orphan_r50_coco']:
        write(tmp_path / f'configs/a/{name}.py', 'x = 1\n')
    write(tmp_path / 'configs/b/metafile.yml', 'Models: []\n')
    return tmp_path


def test_fixture_zoo_is_clean(fixture_zoo):
    problems = validate_metafiles(fixture_zoo)
    assert [p for p in problems if p.level == 'error'] == [], problems


@pytest.mark.parametrize('file,entry,message', [
    ('configs/a/orphan_r50_coco.py', '', 'has no entry in any metafile '
     '(add it to configs/a/metafile.yml)'),
    ('configs/a/metafile.yml', 'no_config_r50_8xb2-1x_coco',
     'Config configs/a/no_config_r50_8xb2-1x_coco.py does not exist'),
    ('configs/a/metafile.yml', 'bad_fields_r50_8xb2-1x_coco',
     "In Collection 'Nope' is not a Collections Name"),
    ('configs/a/metafile.yml', 'bad_fields_r50_8xb2-1x_coco',
     "Metadata.Parameters: not a quantity: '12 apples'"),
    ('configs/a/metafile.yml', 'bad_fields_r50_8xb2-1x_coco',
     'Results[0].Task missing'),
    ('configs/a/metafile.yml', 'bad_fields_r50_8xb2-1x_coco',
     "Results[0].Metrics.box AP must be a number, got 'high'"),
    ('configs/a/metafile.yml', 'bad_fields_r50_8xb2-1x_coco',
     'Metadata.Training Data missing'),
    ('configs/a/metafile.yml', 'bad_fields_r50_8xb2-1x_coco',
     'Reproduced missing'),
    ('configs/a/metafile.yml', 'bad_fields_r50_8xb2-1x_coco',
     "Downstream names 'not_in_zoo', which has no entry"),
    ('model-index.yml', '', 'imports configs/gone/metafile.yml, which does '
     'not exist'),
    ('configs/b/metafile.yml', '', 'not imported by model-index.yml'),
])
def test_validator_names_file_entry_and_problem(broken_zoo, file, entry,
                                                message):
    errors = [p for p in validate_metafiles(broken_zoo) if p.level == 'error']
    hits = [p for p in errors if p.file == file and p.entry == entry
            and message in p.message]
    assert len(hits) == 1, '\n'.join(map(str, errors))
    assert str(hits[0]).startswith(f'error: {file}')
    # the good entries stay clean
    assert not [p for p in errors if p.entry in GOOD]


@pytest.mark.parametrize('filters,expected', [
    (dict(task='detection'), [GOOD[0], GOOD[3]]),
    (dict(task='Object Detection', dataset='synthetic'), [GOOD[3]]),
    (dict(dataset='coco'), [GOOD[0], GOOD[3]]),
    (dict(dataset='ADE20K'), [GOOD[1]]),
    (dict(backbone='resnet'), [GOOD[0], GOOD[3]]),
    (dict(backbone='swin-t'), [GOOD[1]]),  # backbone field of the name
    (dict(task='pretraining'), [GOOD[2]]),  # Results: null
    (dict(project='a', task='segmentation'), [GOOD[1]]),
    (dict(project='b'), []),
])
def test_list_configs_filters(fixture_zoo, filters, expected):
    got = [e.name for e in list_configs(root=fixture_zoo, **filters)]
    assert got == sorted(expected)


@pytest.mark.parametrize('query,expected', [
    ('params<50M,task=detection', [GOOD[0]]),
    ('params<50M', [GOOD[0]]),  # the tiny entry has no Parameters
    ('params>=60M', [GOOD[1], GOOD[2]]),
    ('flops<100G', [GOOD[2]]),
    ('mIoU>44', [GOOD[1]]),
    ('box AP>=40.5', [GOOD[0]]),
    ('box AP>40.5', []),
    ('reproduced=true', [GOOD[1]]),
    ('task!=detection,dataset~image', [GOOD[2]]),
    ('retinanet synthetic', [GOOD[3]]),  # free text, all words
    ('MAE', [GOOD[2]]),
])
def test_search_conditions(fixture_zoo, query, expected):
    assert [e.name for e in search(query, root=fixture_zoo)] == \
        sorted(expected)


def test_search_and_get_errors_suggest_names(fixture_zoo):
    with pytest.raises(ValueError, match=r"unknown search field 'parms'; "
                       r'did you mean params'):
        search('parms<5M', root=fixture_zoo)
    with pytest.raises(ValueError, match='text field'):
        search('task<3', root=fixture_zoo)
    with pytest.raises(KeyError, match="did you mean 'det_r50_8xb2-1x_coco'"):
        get_entry('det_r50_8xb2-1x_cocoo', root=fixture_zoo)
    entry = get_entry('configs/a/det_r50_8xb2-1x_coco.py', root=fixture_zoo)
    assert entry.params == 37.4e6 and entry.flops == 239e9
    assert entry.reproduced is False and entry.metrics == {'box AP': 40.5}
    assert get_entry(GOOD[2], root=fixture_zoo).downstream == [GOOD[0]]


def test_model_index_loads_with_mim_reader():
    """mim search reads model-index.yml through modelindex: every imported
    metafile must load and give its models with their config paths."""
    import modelindex  # requirements/tests.txt
    index = modelindex.load(str(ROOT / 'model-index.yml'))
    names = {m.name for m in index.models}
    assert 'retinanet_r50_fpn_pap-loss_8xb8-100e_coco' in names
    for model in index.models:
        assert (ROOT / model.config).is_file(), model.name


def test_real_zoo_is_complete():
    """Every zoo config has a complete metafile entry, parses, and builds
    its model (meta device; CPU for tiny ones that compute in __init__)."""
    problems = validate_zoo(ROOT, parse=True, build=True,
                            cpu_build_max_params=0)
    errors = [str(p) for p in problems if p.level == 'error']
    assert not errors, '\n' + '\n'.join(errors)
