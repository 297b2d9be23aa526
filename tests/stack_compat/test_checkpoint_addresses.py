"""Every checkpoint address goes through the weights-only policy.

The payload files are put where torch.hub (or pavi / petrel) would have
downloaded them; downloads are made to fail, so no test needs the network.
"""
import json
import shutil
import sys
import types

import pytest
import torch
from mmengine.logging import MessageHub
from mmengine.runner import checkpoint as mm
from mmengine.runner.checkpoint import _load_checkpoint, save_checkpoint

from projects.stack_compat import UnsafeCheckpointError
from projects.stack_compat.checkpoint_policy import load_url


class WritesMarker:
    """Unpickling this creates a file (a harmless stand-in for code)."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, 'w'))


@pytest.fixture
def hub(tmp_path, monkeypatch):
    """torch.hub's checkpoint cache in ``tmp_path``; downloads fail."""
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'torch'))
    monkeypatch.setenv('MMENGINE_HOME', str(tmp_path / 'mmengine'))
    monkeypatch.setattr(torch.hub, '_hub_dir', None)

    def no_network(url, *args, **kwargs):
        raise AssertionError(f'{url} is not in the cache: no network here')

    monkeypatch.setattr(torch.hub, 'download_url_to_file', no_network)
    folder = tmp_path / 'torch' / 'hub' / 'checkpoints'
    folder.mkdir(parents=True)
    return folder


def url_of(address):
    """The URL mmengine downloads ``address`` from."""
    scheme, name = address.split('://', 1)
    if scheme in ('http', 'https'):
        return address
    table = {'torchvision': mm.get_torchvision_models,
             'modelzoo': mm.get_torchvision_models,
             'open-mmlab': mm.get_external_models,
             'openmmlab': mm.get_external_models,
             'mmcls': mm.get_mmcls_models}[scheme]()
    return table[name]


def first_http(table):
    return sorted(k for k, v in table.items() if v.startswith('http'))[0]


def remote_addresses():
    return ['http://example.invalid/models/evil-0123abcd.pth',
            'https://example.invalid/models/evil-0123abcd.pth',
            'torchvision://resnet18', 'modelzoo://resnet18',
            'open-mmlab://' + first_http(mm.get_external_models()),
            'openmmlab://' + first_http(mm.get_external_models()),
            'mmcls://' + first_http(mm.get_mmcls_models())]


def payload(path, marker, legacy=False):
    torch.save(dict(state_dict={'w': torch.ones(1)}, meta={},
                    extra=WritesMarker(str(marker))), path,
               _use_new_zipfile_serialization=not legacy)


def assert_refused(err, *names):
    text = str(err.value)
    assert all(n in text for n in names), text
    assert 'refused' in text
    assert 'builtins.open' in text or 'io.open' in text
    assert 'weights_only=False' not in text and '\n' not in text


@pytest.mark.parametrize('legacy', [False, True], ids=['zip', 'legacy'])
@pytest.mark.parametrize('address', remote_addresses())
def test_cached_payload_is_refused_under_every_scheme(hub, tmp_path, address,
                                                      legacy):
    marker = tmp_path / 'executed'
    url = url_of(address)
    cached = hub / url.rsplit('/', 1)[1]
    payload(cached, marker, legacy)
    with pytest.raises(UnsafeCheckpointError) as err:
        _load_checkpoint(address, map_location='cpu')
    assert_refused(err, url, str(cached))
    assert not marker.exists()


def test_torch_hub_never_unpickles_even_when_asked(hub, tmp_path):
    marker = tmp_path / 'executed'
    url = 'https://example.invalid/evil.pth'
    payload(hub / 'evil.pth', marker)
    for load in (torch.hub.load_state_dict_from_url,
                 torch.utils.model_zoo.load_url):
        with pytest.raises(UnsafeCheckpointError) as err:
            load(url, weights_only=False)
        assert_refused(err, url)
    assert not marker.exists()


def test_cached_mmengine_checkpoint_loads(hub):
    message_hub = MessageHub('addresses-test')
    for value in (1.5, 2.5, 0.25):
        message_hub.update_scalar('train/loss', value)
    weight = torch.randn(2, 3)
    save_checkpoint(dict(state_dict={'weight': weight}, meta=dict(iter=3),
                         message_hub=message_hub.state_dict()),
                    str(hub / 'good.pth'))
    loaded = _load_checkpoint('https://example.invalid/x/good.pth')
    buffer = loaded['message_hub']['log_scalars']['train/loss']
    assert buffer.mean() == pytest.approx(4.25 / 3)
    assert torch.equal(loaded['state_dict']['weight'], weight)
    assert load_url('https://example.invalid/y.pth', model_dir=str(hub),
                    file_name='good.pth')['meta']['iter'] == 3


def test_missing_download_is_attempted_not_faked(hub):
    with pytest.raises(AssertionError, match='no network here'):
        _load_checkpoint('https://example.invalid/absent.pth')


def test_openmmlab_name_mapped_to_a_local_file(hub, tmp_path):
    marker = tmp_path / 'executed'
    home = tmp_path / 'mmengine'
    (home / 'zoo').mkdir(parents=True)
    payload(home / 'zoo' / 'evil.pth', marker)
    (home / 'open_mmlab.json').write_text(
        json.dumps({'my_model': 'zoo/evil.pth'}))
    with pytest.raises(UnsafeCheckpointError) as err:
        _load_checkpoint('open-mmlab://my_model')
    assert_refused(err, 'open-mmlab://my_model', 'evil.pth')
    assert not marker.exists()


def test_pavi_download_is_refused(tmp_path, monkeypatch):
    marker = tmp_path / 'executed'
    payload(tmp_path / 'evil.pth', marker)

    class Model:
        name = 'evil.pth'

        def download(self, path):
            shutil.copy(tmp_path / 'evil.pth', path)

    modelcloud = types.SimpleNamespace(get=lambda name: Model())
    monkeypatch.setitem(sys.modules, 'pavi',
                        types.SimpleNamespace(modelcloud=modelcloud))
    with pytest.raises(UnsafeCheckpointError) as err:
        _load_checkpoint('pavi://team/evil')
    assert_refused(err, 'pavi://team/evil')
    assert not marker.exists()


@pytest.mark.parametrize('address', ['s3://bucket/evil.pth',
                                     'cluster:s3://bucket/evil.pth',
                                     'petrel://bucket/evil.pth'])
def test_object_store_bytes_are_refused(tmp_path, monkeypatch, address):
    marker = tmp_path / 'executed'
    payload(tmp_path / 'evil.pth', marker)
    data = (tmp_path / 'evil.pth').read_bytes()

    class Backend:
        def get(self, filepath):
            assert filepath == address
            return data

    monkeypatch.setattr('mmengine.fileio.get_file_backend',
                        lambda *args, **kwargs: Backend())
    with pytest.raises(UnsafeCheckpointError) as err:
        _load_checkpoint(address)
    assert_refused(err, address)
    assert not marker.exists()
