"""RetinaNet with the PAP loss under DDP (2 processes, gloo) against one
process with the whole batch.

The PAP loss is a batch-level loss: one ranking pooled over every (anchor,
class) entry of all images of the batch, averaged over its positives
(``sum / |P|``), as in the official code, which computes it per GPU without
any all-reduce. Under DDP each rank therefore ranks its own half-batch, and
the DDP gradient (the mean over ranks) is the gradient of the MEAN OF THE
PER-PROCESS LOSSES, not of the loss of the whole batch. Pinned here: the
DDP run equals, loss for loss and parameter for parameter, a single process
that computes the loss of each half separately and steps on their mean
(``halves``), and its first loss (same weights) differs from the
whole-batch loss.

BatchNorm statistics are per process by design (SyncBN has no CPU kernel in
torch); the backbone's BN is kept in eval mode (fixed statistics, trainable
affine, as mmdet's ``norm_eval=True``) so that only the loss semantics are
compared. SGD (Adam's first steps are g/|g| elementwise and turn float32
summation noise in near-zero gradients into full steps).

Measured (3 steps of 2 x 2 images): DDP mean loss - ``halves`` loss 0.0,
parameters within 4.8e-7; DDP - whole-batch loss 1.2e-3 to 1.4e-3 (loss
about 2), parameters 2.7e-4 apart after 3 steps.
"""
from ddp_harness import compare, max_diff

CONFIG = ('configs/pap_loss/'
          'retinanet_r18_fpn_pap-loss_tiny_1xb4-300it_synthetic-coco.py')
STEPS = 3
TOL = 1e-5


def test_pap_retinanet_ddp_is_the_mean_of_per_process_losses(
        tmp_path, coco_root):
    case = dict(
        name='pap', config=CONFIG, data_root=str(coco_root), steps=STEPS,
        batch=4, freeze=['bn'], modes=['whole', 'halves'],
        options={'optim_wrapper.optimizer': dict(
            _delete_=True, type='SGD', lr=0.01, momentum=0.9)})
    ddp, single = compare([case], tmp_path)
    r0, r1 = (d['pap']['ddp'] for d in ddp)
    halves, whole = single['pap']['halves'], single['pap']['whole']
    # the replicas stay identical
    assert max_diff(r0['state'], r1['state'])[0] == 0
    for step in range(STEPS):
        mean = (r0['losses'][step]['loss'] + r1['losses'][step]['loss']) / 2
        ref = halves['losses'][step]['loss']
        assert abs(mean - ref) <= TOL * max(1, abs(ref)), (step, mean, ref)
    diff, key = max_diff(r0['state'], halves['state'])
    assert diff <= TOL, (key, diff)
    # the whole-batch run takes another path
    assert max_diff(r0['state'], whole['state'])[0] > 10 * TOL
    # same weights at step 1: the per-process loss is not the batch loss
    first = (r0['losses'][0]['loss'] + r1['losses'][0]['loss']) / 2
    assert abs(first - whole['losses'][0]['loss']) > 20 * TOL, (
        first, whole['losses'][0])
