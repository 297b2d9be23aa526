"""The record checkers never crash: seeded random malformed records (wrong
types, missing keys, None, nested garbage) give a list of messages."""
import random

import numpy as np
import pytest

from projects.config_validation import coco_problems, infos_problems

GARBAGE = [None, True, 0, -1, 1.5, float('nan'), float('inf'), 10 ** 400,
           '', '128', 'x', [], [1, 2], [[1, 'a']], {}, {'id': None},
           [[None] * 4] * 4]


def _mutate(rng, value, depth=0):
    """``value`` with a random key dropped, replaced by garbage or nested."""
    choice = rng.random()
    if choice < 0.15:
        return rng.choice(GARBAGE)
    if isinstance(value, dict) and value:
        value = dict(value)
        key = rng.choice(sorted(value))
        if choice < 0.3:
            del value[key]
        else:
            value[key] = _mutate(rng, value[key], depth + 1)
        return value
    if isinstance(value, list) and value:
        value = list(value)
        i = rng.randrange(len(value))
        value[i] = _mutate(rng, value[i], depth + 1)
        return value
    return rng.choice(GARBAGE) if depth < 6 else value


def _coco_doc():
    return dict(
        images=[dict(id=1, file_name='a.jpg', height=8, width=9),
                dict(id=2, file_name='b.jpg', height=4, width=4)],
        categories=[dict(id=1, name='person'), dict(id=3, name='car')],
        annotations=[
            dict(id=1, image_id=1, category_id=1, bbox=[0, 0, 3, 3], area=9.,
                 iscrowd=0, segmentation=[[0, 0, 3, 0, 3, 3]]),
            dict(id=2, image_id=2, category_id=3, bbox=[1, 1, 2, 2], area=4,
                 iscrowd=1, segmentation=dict(size=[4, 4], counts='abc'))])


def _infos_doc():
    pose = np.eye(4).tolist()
    cam = dict(data_path='x.jpg', cam2img=[[5, 0, 2], [0, 5, 2], [0, 0, 1]],
               cam2ego=pose, ego2global=pose, lidar2cam=pose)
    sample = dict(token='t', lidar2ego=pose, ego2global=pose,
                  cams=dict(CAM_FRONT=cam),
                  instances=[dict(bbox_3d=[0, 0, 0, 1, 1, 1, 0, None, 0])])
    return dict(metainfo={}, data_list=[sample, dict(sample, token='u')])


def test_valid_documents_have_no_problems():
    assert coco_problems(_coco_doc()) == []
    assert infos_problems(_infos_doc()) == []
    # with a data root, the image files are looked for
    problems = infos_problems(_infos_doc(), data_root='no_such_root')
    assert len(problems) == 2 and all(
        'data_path no_such_root/x.jpg does not exist' in p for p in problems)


@pytest.mark.parametrize('seed', range(4))
def test_malformed_coco_records_never_crash(seed):
    rng = random.Random(seed)
    found = 0
    for _ in range(500):
        doc = _coco_doc()
        for _ in range(rng.randint(1, 3)):
            doc = _mutate(rng, doc)
        problems = coco_problems(doc)
        assert isinstance(problems, list)
        assert all(isinstance(p, str) and p for p in problems)
        found += bool(problems)
    assert found > 300  # most mutations are caught


@pytest.mark.parametrize('seed', range(4))
def test_malformed_infos_records_never_crash(seed):
    rng = random.Random(seed)
    found = 0
    for _ in range(300):
        doc = _infos_doc()
        for _ in range(rng.randint(1, 3)):
            doc = _mutate(rng, doc)
        problems = infos_problems(doc, ['CAM_FRONT'])
        assert all(isinstance(p, str) and p for p in problems)
        # beyond the missing image files of the intact document
        found += any('does not exist' not in p for p in problems)
    assert found > 200
