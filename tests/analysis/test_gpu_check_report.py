"""The GPU check's table writer, incremental output, error descriptions and
worker pool (timeouts, dead workers, out-of-memory retries) with stand-in
measurements in real worker processes."""
import json
import math
import sys
import time
from pathlib import Path

import pytest

from projects.analysis.check_report import (COLUMNS, ReportWriter, markdown,
                                            passed)
from projects.analysis.check_runner import describe_error, run_targets, weight
from projects.analysis.check_targets import Target, expand, zoo_configs

ENV = dict(date='2026-12-04 12:00 UTC', machine='NVIDIA H200, 139 GiB',
           cpus='16', python='3.12.3', torch='2.11.0', cuda='13.0',
           cudnn='91000', mmcv='2.1.0', mmengine='0.10.7', mmdet='3.3.0',
           mmsegmentation='1.2.2', mmpretrain='1.2.0', numpy='2.1.0')
RUN = {'device': 'cuda', 'concurrent workers': 6}
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # fake_measures, also in the spawned workers


def _row(name, loss=0.7, train_ms=12.5, **kw):
    row = dict(config=name, what='model', params=2_500_000, train_ms=train_ms,
               infer_ms=3.25, train_peak_mb=900.4, infer_peak_mb=120.0,
               loss=loss, amp=True, train_batch=2, infer_batch=1,
               train_input='3x512x512')
    row.update(kw)
    return row


def _table(text):
    lines = [line for line in text.splitlines() if line.startswith('| ')]
    return [[c.strip() for c in line.strip('|').split(' | ')]
            for line in lines[1:]]


def test_markdown_rows_sorted_with_figures_errors_and_header():
    rows = [_row('z.py'), dict(config='b.py', what='model',
                               error='missing file /x.pth'),
            _row('a.py', loss=float('nan')),
            _row('k.py', train_ms=None, loss=None, train_batch=None,
                 train_peak_mb=None, what='evaluation only')]
    text = markdown(rows, ENV, RUN, total=5)
    for word in ('2026-12-04', 'NVIDIA H200', 'torch 2.11.0', 'cuda 13.0',
                 'mmcv 2.1.0', 'numpy 2.1.0', 'concurrent workers 6',
                 '2 of 4 rows pass', 'PARTIAL: 1 of 5'):
        assert word in text, word
    table = _table(text)
    assert [r[0] for r in table] == ['a.py', 'b.py', 'k.py', 'z.py']
    assert all(len(r) == len(COLUMNS) for r in table)
    a, b, k, z = table
    assert a[8].startswith('NO (nan')
    assert b[-1] == 'missing file /x.pth' and b[4] == ''
    assert k[5] == '-' and k[8] == '-' and k[2] == '- / 1'
    assert z[2:9] == ['2 / 1', 'yes', '2.50', '12.5', '3.2', '900',
                      'yes (0.7)']
    assert [passed(r) for r in rows] == [True, False, False, True]


def test_writer_rewrites_both_files_after_every_row(tmp_path):
    out = tmp_path / 'sub' / 'check'
    writer = ReportWriter(out, ENV, RUN, total=2)
    assert 'PARTIAL: 2 of 2' in (tmp_path / 'sub' / 'check.md').read_text()
    writer.add(_row('a.py'))
    doc = json.loads((tmp_path / 'sub' / 'check.json').read_text())
    assert [r['config'] for r in doc['rows']] == ['a.py']
    assert doc['env']['machine'] == ENV['machine'] and doc['total'] == 2
    assert 'PARTIAL: 1 of 2' in (tmp_path / 'sub' / 'check.md').read_text()
    writer.add(_row('b.py', loss=math.inf))
    text = (tmp_path / 'sub' / 'check.md').read_text()
    assert 'PARTIAL' not in text and '1 of 2 rows pass' in text
    assert sorted(p.name for p in (tmp_path / 'sub').iterdir()) == [
        'check.json', 'check.md']


def test_describe_error_names_what_is_missing():
    assert describe_error(ModuleNotFoundError(
        "No module named 'mmcv._ext'")).startswith('missing mmcv._ext')
    assert describe_error(AssertionError(
        'ms_deform_attn_forward miss in module _ext')) == \
        'missing mmcv op ms_deform_attn_forward in mmcv._ext'
    assert describe_error(NotImplementedError(
        "Could not run 'mmcv::nms' with arguments from the 'CUDA' backend. "
        'This could be')) == 'missing CUDA kernel of op mmcv::nms'
    assert describe_error(RuntimeError(
        'ms_deform_attn_impl_forward: implementation for device cuda:0 not '
        'found.')) == 'missing CUDA kernel of mmcv op ms_deform_attn_impl_forward'
    assert describe_error(RuntimeError(
        '"baddbmm_cuda" not implemented for \'BFloat16\'')) == \
        'missing BFloat16 kernel of baddbmm_cuda'
    assert describe_error(FileNotFoundError(
        2, 'No such file', 'projects/x/params.json')) == \
        'missing file projects/x/params.json'
    try:  # the cause an import wrapper hides
        try:
            raise ModuleNotFoundError("No module named 'mmcv._ext'")
        except ImportError as inner:
            raise ImportError('Failed to import custom modules') from inner
    except ImportError as err:
        assert describe_error(err).startswith('missing mmcv._ext')
    try:
        {}['model']
    except KeyError as err:
        line = describe_error(err)
    assert line.startswith("KeyError: 'model' (at test_gpu_check_report.py:")
    assert '\n' not in describe_error(ValueError('a\nb'))


def test_zoo_listing_skips_bases_and_expands_suites():
    configs = zoo_configs('configs')
    assert len(configs) >= 140
    assert not any('_base_' in c for c in configs)
    suite = expand('configs/benchmark/tiny_synthetic.py')
    assert [t.name for t in suite] == [
        f'tiny_synthetic.py:{n}' for n in ('coco_det', 'ade20k_seg',
                                           'in1k_knn', 'in1k_linear',
                                           'nus_bev')]
    assert suite[0].cfg_options['train_dataloader.batch_size'] == 4
    (one,) = expand('configs/upernet/upernet_r18_tiny_1xb4-200it_synthetic-'
                    'ade20k.py')
    assert one.name.startswith('upernet_r18_tiny') and not one.cfg_options
    assert weight('upernet_revcol-h_8xb1-amp-160k_ade20k-640x640.py') > \
        weight('upernet_revcol-t_8xb2-amp-160k_ade20k-512x512.py') > \
        weight(one.name) == 0


def _run(tmp_path, names, **kw):
    work = tmp_path / 'work'
    work.mkdir(exist_ok=True)
    settings = dict(device='cpu', work_dir=str(work), threads=1,
                    measure='fake_measures:measure')
    rows = []
    run_targets([Target(n, n) for n in names], settings, rows.append, **kw)
    return {r['config']: r for r in rows}, [r['config'] for r in rows]


def test_pool_timeout_dead_worker_and_error_rows(tmp_path):
    rows, _ = _run(tmp_path, ['sleep', 'crash', 'missing', 'ok'], jobs=2,
                   timeout=6)
    assert set(rows) == {'sleep', 'crash', 'missing', 'ok'}
    assert rows['sleep']['error'] == \
        'timeout: no result after 6 s (worker killed)'
    assert rows['crash']['error'] == 'worker process died (exit code 3)'
    assert rows['missing']['error'] == 'missing file /data/ckpt.pth'
    assert 'error' not in rows['ok'] and rows['ok']['params'] == 2


def test_pool_retries_out_of_memory_alone_and_deadline(tmp_path):
    rows, order = _run(tmp_path, ['a', 'oom', 'b'], jobs=2, timeout=60)
    assert 'error' not in rows['oom'] and rows['oom']['retried_alone']
    assert order[-1] == 'oom'  # after the others, with the device alone
    rows, _ = _run(tmp_path, ['sleep', 'a', 'b', 'c'], jobs=1, timeout=60,
                   deadline=time.time() + 8)
    assert rows['sleep']['error'].startswith('deadline of the run reached')
    assert all(rows[n]['error'] == 'not run: deadline of the run reached'
               for n in 'abc')


def test_cli_rejects_bad_arguments(capsys):
    sys.path.insert(0, str(HERE.parents[1] / 'tools' / 'analysis_tools'))
    import gpu_check
    with pytest.raises(SystemExit) as exc:
        gpu_check.parse_args(['--jobs', '0'])
    assert exc.value.code == 2 and 'got 0' in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        gpu_check.parse_args(['--device', 'tpu'])
    assert "got 'tpu'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        gpu_check.main(['configs/none.py', '--device', 'cpu'])
    assert exc.value.code == 2 and 'configs/none.py' in \
        capsys.readouterr().err
