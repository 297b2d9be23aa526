"""A 2-process DDP run (tools/dist_train.sh -> torchrun, gloo on CPU) of a
tiny config is the single-process run with twice the batch.

What mmengine guarantees, and what is checked here:

* ``DefaultSampler(shuffle=True, seed=s)`` draws ONE permutation of the
  dataset per epoch (``randperm`` seeded with ``s + epoch``, independent of
  the world size), pads it to a multiple of the world size and gives rank
  ``r`` the positions ``r, r + W, r + 2W, ...``. So with ``W`` ranks of batch
  ``B``, iteration ``k`` of the ranks together covers positions
  ``[k W B, (k + 1) W B)`` of the permutation: exactly the samples of
  iteration ``k`` of one process with batch ``W B`` (as a set; the order
  within the batch differs). It holds across epochs (both reshuffle with
  ``s + epoch``) when the dataset size is a multiple of ``W B`` (no padding,
  no short last batch): 20 images, ``W B = 4``, 7 iterations (2 epochs).
* DDP averages the gradients of the ranks; each rank's loss is the mean over
  its ``B`` samples, so the averaged gradient is the gradient of the mean
  loss over the ``W B`` samples: the single-process gradient. The parameters
  therefore follow the same trajectory (up to float32 summation order), and
  the mean of the ranks' losses at each iteration equals the single-process
  loss. mmengine logs rank 0's own loss (``parse_losses`` does not reduce
  across ranks), so a small hook records every rank's batch and loss.

BatchNorm in train mode would break the equivalence by construction: each
rank normalises with the statistics of its own 2 images, the single process
with those of 4 (only SyncBN restores it). The model is therefore the
ResNet-18 (1/4 width) + linear head of the tiny linear-probe config with
every layer trainable (``frozen_stages=-1``) but BN in eval mode
(``norm_eval=True``: fixed running statistics, trainable affine), so the
forward pass of a sample does not depend on the other samples of its batch.
The augmentation is the deterministic test pipeline (a random crop would
draw different random numbers in 1 and 2 processes).

Tolerance: losses agree within 1e-5 absolute and the final parameters
within 1e-5 (float32, different summation order over 7 SGD steps; measured:
2.4e-7 for the losses of about 6.9, 1.5e-8 for the parameters).
"""
import json
import sys
import textwrap

import torch
from ddp_harness import ROOT, finish, free_port, launch_env, start

LINEAR = ROOT / ('configs/ssl_eval/'
                 'resnet18-tiny_fair-pre_1xb32-linear-100it_synthetic-imagenet.py')
ITERS = 7
TOL = 1e-5

HOOK = '''
import json
from mmengine.dist import get_rank
from mmengine.hooks import Hook
from mmengine.registry import HOOKS


@HOOKS.register_module()
class RecordBatchesHook(Hook):
    """Append each iteration's image names and this rank's loss."""

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        paths = [s.metainfo['img_path'].rsplit('/', 1)[-1]
                 for s in data_batch['data_samples']]
        with open(f'{runner.work_dir}/batches_rank{get_rank()}.jsonl',
                  'a') as f:
            f.write(json.dumps(dict(iter=runner.iter + 1, paths=paths,
                                    loss=float(outputs['loss']))) + '\\n')
'''


def write_config(tmp_path, data_root, batch_size):
    path = tmp_path / f'linear_b{batch_size}.py'
    path.write_text(textwrap.dedent(f'''\
        _base_ = [{str(LINEAR)!r}]
        custom_imports = dict(imports=['projects.ssl_eval', 'record_batches'],
                              allow_failed_imports=False)
        data_root = {str(data_root)!r}
        model = dict(backbone=dict(frozen_stages=-1, norm_eval=True,
                                   init_cfg=None))
        train_dataloader = dict(
            batch_size={batch_size}, num_workers=0, persistent_workers=False,
            sampler=dict(type='DefaultSampler', shuffle=True),
            dataset=dict(data_root=data_root,
                         pipeline={{{{_base_.test_pipeline}}}}))
        val_dataloader = None
        val_cfg = None
        val_evaluator = None
        test_dataloader = None
        test_cfg = None
        test_evaluator = None
        optim_wrapper = dict(optimizer=dict(lr=0.05))
        param_scheduler = []
        train_cfg = dict(max_iters={ITERS}, val_interval={ITERS + 1})
        default_hooks = dict(
            logger=dict(interval=1),
            checkpoint=dict(interval={ITERS}, max_keep_ckpts=1))
        custom_hooks = [dict(type='RecordBatchesHook')]
        log_processor = dict(by_epoch=False, window_size=1)
        randomness = dict(seed=7)
        '''))
    return path


def records(work_dir, rank):
    lines = (work_dir / f'batches_rank{rank}.jsonl').read_text().splitlines()
    return {r['iter']: r for r in map(json.loads, lines)}


def test_two_process_ddp_equals_single_process_with_double_batch(
        tmp_path, imagenet_root):
    (tmp_path / 'record_batches.py').write_text(HOOK)
    env = launch_env(tmp_path, PORT=str(free_port()))
    ddp = start(['bash', str(ROOT / 'tools/dist_train.sh'),
                 str(write_config(tmp_path, imagenet_root, 2)), '2',
                 '--work-dir', 'ddp'], tmp_path, env)
    single = start([sys.executable, str(ROOT / 'tools/train.py'),
                    str(write_config(tmp_path, imagenet_root, 4)),
                    '--work-dir', 'single'], tmp_path, env)
    finish(single, 'the single process')
    finish(ddp, 'tools/dist_train.sh')

    one = records(tmp_path / 'single', 0)
    r0, r1 = (records(tmp_path / 'ddp', r) for r in (0, 1))
    assert sorted(one) == sorted(r0) == sorted(r1) == list(
        range(1, ITERS + 1))
    seen = []
    for it in range(1, ITERS + 1):
        # the same 4 images per iteration, split 2 + 2 over the ranks
        assert len(one[it]['paths']) == 4
        assert len(r0[it]['paths']) == len(r1[it]['paths']) == 2
        assert sorted(r0[it]['paths'] + r1[it]['paths']) == sorted(
            one[it]['paths']), it
        seen += one[it]['paths']
        # the mean of the ranks' batch losses is the double-batch loss
        mean = (r0[it]['loss'] + r1[it]['loss']) / 2
        assert abs(mean - one[it]['loss']) <= TOL, (it, mean, one[it])
    # 5 iterations are one epoch of all 20 images; then a new permutation
    assert sorted(seen[:20]) == sorted(set(seen[:20])) and len(
        set(seen[:20])) == 20
    assert seen[20:] != seen[:len(seen) - 20]

    # what mmengine logs: the single process logs the double-batch loss,
    # DDP logs rank 0's own batch loss
    for work, rec in (('single', one), ('ddp', r0)):
        (scalars,) = (tmp_path / work).glob('*/vis_data/scalars.json')
        logged = {r['iter']: r['loss'] for r in map(
            json.loads, scalars.read_text().splitlines()) if 'loss' in r}
        assert sorted(logged) == list(range(1, ITERS + 1))
        for it, loss in logged.items():
            assert abs(loss - rec[it]['loss']) <= 1e-4 * max(1, abs(loss))
    # the losses moved (training happened) and the weights agree
    assert abs(one[ITERS]['loss'] - one[1]['loss']) > 10 * TOL
    a, b = (torch.load(tmp_path / w / f'iter_{ITERS}.pth', map_location='cpu',
                       weights_only=False)['state_dict']
            for w in ('single', 'ddp'))
    assert a.keys() == b.keys()
    for key in a:
        if a[key].is_floating_point():
            assert torch.allclose(a[key], b[key], atol=TOL, rtol=0), key
