"""MoCo v2 (mmpretrain ``MoCo``: momentum key encoder, queue of negatives,
shuffle-BN) under DDP (2 processes, gloo) against one process with the
whole batch.

What is equal by design: the InfoNCE loss is a mean over the queries, so
the mean of the ranks' losses is the whole-batch loss; the momentum update
of the key encoder uses the (identical) online weights; the queue receives
``all_gather`` of the ranks' keys, i.e. rank 0's keys then rank 1's, which
is the whole batch in order when each rank holds a contiguous half. With
every BatchNorm in eval mode the DDP run therefore equals the single
process: losses, online and key encoders, and the queue.

What is per process by design: BatchNorm statistics. MoCo's shuffle-BN
gathers the key images of all ranks, permutes them and hands each rank a
random share, so the key encoder's BN statistics come from a random
per-process subset (to stop the queries cheating through intra-batch
statistics), and the query encoder normalises with its own rank's half.
mmengine's Runner wraps with ``broadcast_buffers=False``, so the running
statistics of the ranks drift apart too. SyncBN (global statistics) has no
CPU kernel in torch. With BN in train mode (the zoo config) the test pins
this: identical parameters on both ranks, different BN running statistics,
and a first loss (same weights) that is not the whole-batch loss.

Measured (3 steps of 2 x 2 images, 2 views, SGD): frozen BN, DDP mean
loss - whole-batch loss <= 3.6e-7 (losses 1.45 to 2.9), every parameter,
key-encoder weight and queue entry within 1.5e-7; BN in train mode, first
losses 0.41 apart, BN running variances of the ranks 7.4 apart.
"""
from ddp_harness import compare, max_diff

CONFIG = ('configs/ssl_benchmark/'
          'mocov2_resnet18-tiny_fair_1xb32-200it_synthetic-imagenet.py')
STEPS = 3
TOL = 1e-5
SGD = dict(_delete_=True, type='SGD', lr=0.05, momentum=0.9)


def test_mocov2_ddp_equals_whole_batch_with_frozen_bn(tmp_path,
                                                      imagenet_root):
    # the labels are unused; the ImageNet layout of the 5-class fixture
    classes = tmp_path / 'classes.txt'
    classes.write_text(''.join(f'class{i}\n' for i in range(5)))
    common = dict(config=CONFIG, data_root=str(imagenet_root), steps=STEPS,
                  batch=4, options={
                      'optim_wrapper.optimizer': SGD,
                      'train_dataloader.dataset.classes': str(classes)})
    ddp, single = compare([dict(name='frozen', freeze=['bn'], **common),
                           dict(name='train_bn', **common)], tmp_path)
    # frozen BN: the DDP run is the whole-batch run
    r0, r1 = (d['frozen']['ddp'] for d in ddp)
    whole = single['frozen']['whole']
    assert max_diff(r0['state'], r1['state'])[0] == 0
    for step in range(STEPS):
        mean = (r0['losses'][step]['loss'] + r1['losses'][step]['loss']) / 2
        ref = whole['losses'][step]['loss']
        assert abs(mean - ref) <= TOL * max(1, abs(ref)), (step, mean, ref)
    assert abs(whole['losses'][-1]['loss'] - whole['losses'][0]['loss']) \
        > 100 * TOL  # it trained
    for part in ('backbone.', 'neck.', 'encoder_k.', 'queue'):
        diff, key = max_diff(r0['state'], whole['state'],
                             skip=[k for k in r0['state']
                                   if not k.startswith(part)])
        assert diff <= TOL, (part, key, diff)
    assert int(r0['state']['queue_ptr']) == int(
        whole['state']['queue_ptr']) == 4 * STEPS
    assert (r0['state']['encoder_k.module.0.conv1.weight']
            - r0['state']['backbone.conv1.weight']).abs().max() > TOL

    # BN in train mode: per-process statistics
    r0, r1 = (d['train_bn']['ddp'] for d in ddp)
    whole = single['train_bn']['whole']
    params = {k for k in r0['state'] if 'running_' not in k
              and 'num_batches' not in k and k != 'queue'}
    diff, key = max_diff(r0['state'], r1['state'],
                         skip=set(r0['state']) - params)
    assert diff == 0, key
    assert max_diff(r0['state'], r1['state'],
                    skip=params | {'queue'})[0] > 100 * TOL
    first = (r0['losses'][0]['loss'] + r1['losses'][0]['loss']) / 2
    assert abs(first - whole['losses'][0]['loss']) > 100 * TOL
