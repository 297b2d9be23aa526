"""YAML and JSON configs are data: a Python tag is an error, never a call."""
import json

import mmengine
import pytest
import yaml
from mmengine.config import Config

import projects  # noqa: F401  (the policy)
from projects.run_config import load_config


def payload_yaml(path, marker):
    path.write_text('model:\n  type: Toy\n'
                    f'work_dir: !!python/object/apply:builtins.open '
                    f'[{str(marker)!r}, w]\n')
    return path


def test_yaml_python_tag_is_refused_everywhere(tmp_path):
    marker = tmp_path / 'executed'
    config = payload_yaml(tmp_path / 'evil.yaml', marker)
    with pytest.raises(yaml.YAMLError, match='python/object/apply'):
        Config.fromfile(str(config))
    with pytest.raises(yaml.YAMLError, match='python/object/apply'):
        mmengine.load(str(config))
    with pytest.raises(yaml.YAMLError):  # an explicit unsafe Loader is ignored
        mmengine.load(str(config), Loader=yaml.UnsafeLoader)
    with pytest.raises(ValueError, match=rf'config {config}, line 3: could '
                       'not determine a constructor .*yaml.SafeLoader'):
        load_config(str(config))
    assert not marker.exists()


def test_plain_yaml_and_json_configs_load(tmp_path):
    (tmp_path / 'a.yaml').write_text(
        'model:\n  type: Toy\n  depth: 18\nsizes: [1, 2]\nname: "!!python"\n')
    cfg = Config.fromfile(str(tmp_path / 'a.yaml'))
    assert cfg.model == dict(type='Toy', depth=18) and cfg.sizes == [1, 2]
    assert cfg.name == '!!python'
    (tmp_path / 'b.json').write_text(json.dumps(
        dict(_base_='a.yaml', model=dict(depth=50),
             note='!!python/object/apply:os.system')))
    cfg = Config.fromfile(str(tmp_path / 'b.json'))
    assert cfg.model == dict(type='Toy', depth=50)
    assert cfg.note == '!!python/object/apply:os.system'
