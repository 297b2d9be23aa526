"""Tiny BEVFormer v2 under DDP (2 processes x 1 sample, gloo) against one
process with the batch of 2.

Every loss of the model is normalised by an all-reduced count
(``reduce_mean`` of the positives, of the centerness weights, of the valid
attribute and speed targets), so the mean of the ranks' losses is the loss
of the whole batch and DDP follows the single-process trajectory. Matching
(Hungarian for the BEV queries, locations for the perspective head) and the
history BEVs are per sample. Kept equal by the test: BatchNorm in eval mode
(its statistics would be per process; SyncBN has no CPU kernel) and
dropout off, including the attention dropout of the decoder's
``nn.MultiheadAttention`` (per-process random masks).

Measured (3 steps, synthetic nuScenes, 2 cameras, frames (-1, 0), SGD):
every loss term of DDP within 2.3e-7 (relative) of the whole batch (total
about 67), parameters within 6e-8.

Every rank must also make the same all-reduces whatever its data: a rank
without positive locations or without valid attribute / speed targets
still joins the reductions of the others (else the ranks' collectives pair
wrongly, which gives wrong normalisers or a hang).
"""
import copy

from ddp_harness import compare, max_diff

CONFIG = ('configs/bevformer_v2/'
          'bevformer-v2_r18_tiny_1xb2-600it_synthetic-nuscenes.py')
STEPS = 3
TOL = 1e-5


def test_bevformer_v2_ddp_equals_whole_batch(tmp_path, nuscenes_root):
    case = dict(
        name='bev', config=CONFIG, data_root=str(nuscenes_root), steps=STEPS,
        batch=2, freeze=['bn', 'dropout'], modes=['whole'],
        find_unused_parameters=True,
        options={'optim_wrapper.optimizer': dict(
            _delete_=True, type='SGD', lr=0.01, momentum=0.9)})
    ddp, single = compare([case], tmp_path)
    r0, r1 = (d['bev']['ddp'] for d in ddp)
    whole = single['bev']['whole']
    assert max_diff(r0['state'], r1['state'])[0] == 0
    for step in range(STEPS):
        for key, ref in whole['losses'][step].items():
            mean = (r0['losses'][step][key] + r1['losses'][step][key]) / 2
            assert abs(mean - ref) <= TOL * max(1, abs(ref)), (step, key)
    diff, key = max_diff(r0['state'], whole['state'])
    assert diff <= TOL, (key, diff)
    assert abs(whole['losses'][-1]['loss'] - whole['losses'][0]['loss']) \
        > 100 * TOL  # it trained


def test_same_all_reduces_whatever_the_sample_holds(nuscenes_root,
                                                    monkeypatch):
    from projects.analysis.samples import (build_dataset, build_model,
                                           collate_fn, set_data_root)
    from projects.bevformer_v2.models import bev_head, perspective_head
    from projects.run_config import load_config
    cfg = load_config(CONFIG)
    set_data_root(cfg, nuscenes_root)
    sample = build_dataset(cfg)[0]
    model = build_model(cfg)
    model.train()
    calls = []
    for module in (bev_head, perspective_head):
        monkeypatch.setattr(module, 'reduce_mean',
                            lambda x, f=module.reduce_mean: (
                                calls.append(1), f(x))[1])

    def all_reduces(s):
        calls.clear()
        model(**model.data_preprocessor(collate_fn(cfg)([s]), True),
              mode='loss')
        return len(calls)

    mono = sample['data_samples'].gt_instances_mono
    assert len(mono) and (mono.attr_labels >= 0).any()
    assert mono.speeds.isfinite().any()
    empty = copy.deepcopy(sample)  # no object in the cameras
    empty['data_samples'].gt_instances_mono = mono[mono.labels < 0]
    no_attr = copy.deepcopy(sample)  # no attribute, no velocity
    no_attr['data_samples'].gt_instances_mono.attr_labels[:] = -1
    no_attr['data_samples'].gt_instances_mono.speeds[:] = float('nan')
    counts = [all_reduces(s) for s in (sample, empty, no_attr)]
    assert counts[0] > 0 and counts == [counts[0]] * 3, counts
