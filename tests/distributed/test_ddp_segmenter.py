"""UPerNet with Auto Seg-Loss under DDP (2 processes, gloo) against one
process with the whole batch.

Auto Seg-Loss is a batch-level surrogate: every sum (per-class
intersections and unions of the mIoU surrogate) runs over the valid pixels
of the whole batch, so splitting a batch changes the value. The official
code computes it per GPU with no all-reduce, and projects/auto_seg_loss
documents the same ("under data parallelism the sums are per process").
Under DDP each rank's loss is therefore the surrogate of its own
half-batch, and the DDP gradient is the gradient of the MEAN OF THE
PER-PROCESS LOSSES. Pinned here: the DDP run equals, loss for loss and
parameter for parameter, one process that computes the loss of each half
separately and steps on their mean (``halves``); its first loss (same
weights) differs from the whole-batch surrogate.

BatchNorm (backbone and heads) is kept in eval mode: its statistics would
be per process as well (the real configs use SyncBN, which has no CPU
kernel in torch), and the heads' dropout is off: its masks come from each
process's own random stream. SGD, as for the detector.

Measured (3 steps of 2 x 2 crops of 128 px): DDP mean loss - ``halves``
loss 0.0 and parameters 0.0 apart; DDP - whole-batch loss 7e-3 to 8.5e-3
(loss about 1.38), parameters 8.3e-5 apart after 3 steps.
"""
from ddp_harness import compare, max_diff

CONFIG = ('configs/auto_seg_loss/'
          'upernet_r18_asl-miou_tiny_1xb4-200it_synthetic-ade20k.py')
STEPS = 3
TOL = 1e-5


def test_auto_seg_loss_upernet_ddp_is_the_mean_of_per_process_losses(
        tmp_path, ade20k_root):
    case = dict(
        name='asl', config=CONFIG, data_root=str(ade20k_root), steps=STEPS,
        batch=4, freeze=['bn', 'dropout'], modes=['whole', 'halves'],
        options={'optim_wrapper.optimizer': dict(
            _delete_=True, type='SGD', lr=0.01, momentum=0.9)})
    ddp, single = compare([case], tmp_path)
    r0, r1 = (d['asl']['ddp'] for d in ddp)
    halves, whole = single['asl']['halves'], single['asl']['whole']
    assert max_diff(r0['state'], r1['state'])[0] == 0
    for step in range(STEPS):
        assert len(halves['losses'][step]) > 2  # loss, both heads, acc
        for key in halves['losses'][step]:
            mean = (r0['losses'][step][key] + r1['losses'][step][key]) / 2
            ref = halves['losses'][step][key]
            assert abs(mean - ref) <= TOL * max(1, abs(ref)), (step, key)
    diff, key = max_diff(r0['state'], halves['state'])
    assert diff <= TOL, (key, diff)
    # the whole-batch run takes another path
    assert max_diff(r0['state'], whole['state'])[0] > 5 * TOL
    # same weights at step 1: the per-process surrogate is not the batch one
    first = (r0['losses'][0]['loss'] + r1['losses'][0]['loss']) / 2
    assert abs(first - whole['losses'][0]['loss']) > 20 * TOL, (
        first, whole['losses'][0])
