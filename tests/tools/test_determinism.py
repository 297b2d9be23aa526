"""Seeded deterministic runs of a tiny config repeat their losses exactly."""
from zoo_steps import train_steps

UPERNET = 'configs/upernet/upernet_r18_tiny_1xb4-200it_synthetic-ade20k.py'


def test_seeded_segmentation_runs_repeat_exactly(ade20k_root, tmp_path):
    opts = {'randomness': dict(seed=7, deterministic=True)}
    runs = [train_steps(UPERNET, ade20k_root, tmp_path / str(i), iters=2,
                        cfg_options=opts) for i in range(2)]
    losses = [[(r['loss'], r['decode.loss_ce'], r['aux.loss_ce'])
               for r in rows if 'loss' in r] for rows in runs]
    assert len(losses[0]) == 2 and losses[0] == losses[1]
    assert len(set(losses[0])) == 2  # the steps differ: data and updates move
