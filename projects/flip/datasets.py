"""COCO captions (one sample per image), COCO images labelled by their main
category (a zero-shot classification split), and the tokenising transform."""
import json
from collections import defaultdict
from typing import List, Optional, Sequence

import numpy as np
from mmcv.transforms import BaseTransform
from mmengine.dataset import BaseDataset
from mmengine.fileio import join_path
from mmpretrain.registry import DATASETS, TOKENIZER, TRANSFORMS


@DATASETS.register_module()
class COCOCaptions(BaseDataset):
    """Image-caption pairs from an official COCO captions file.

    Reads ``annotations/captions_{train,val}2017.json`` (``images`` with
    ``id`` and ``file_name``; ``annotations`` with ``image_id``, ``id`` and
    ``caption``) and yields one sample per image that has captions::

        dict(img_path=..., texts=[caption, ...], text_ids=[...],
             image_id=<index>, ori_id=<COCO image id>)

    ``text_ids`` index the captions of the whole split in file order (the
    retrieval metric's ground truth). The training pipeline picks one
    caption at random per image and epoch (:class:`TokenizeCaption`),
    so two captions of one image never meet as false negatives in a batch.

    mmpretrain's ``COCORetrieval`` reads the same files but locates images
    through ``coco_url`` and yields one sample per caption; this class uses
    ``data_prefix`` + ``file_name`` (the mmdet convention), so the synthetic
    COCO set and real COCO 2017 use the same config.

    Args:
        ann_file (str): Captions JSON, relative to ``data_root``.
        data_root (str): Dataset root.
        data_prefix (str | dict): Image folder, e.g. ``'train2017/'``.
        pipeline (Sequence): Transforms.
        test_mode (bool): Evaluation mode.
    """

    def __init__(self,
                 ann_file: str,
                 data_root: str = '',
                 data_prefix='',
                 pipeline: Sequence = (),
                 test_mode: bool = False,
                 **kwargs) -> None:
        if isinstance(data_prefix, str):
            data_prefix = dict(img_path=data_prefix)
        super().__init__(ann_file=ann_file, data_root=data_root,
                         data_prefix=data_prefix, pipeline=pipeline,
                         test_mode=test_mode, **kwargs)

    def load_data_list(self) -> List[dict]:
        with open(self.ann_file) as f:
            doc = json.load(f)
        for key in ('images', 'annotations'):
            if key not in doc:
                raise ValueError(f'{self.ann_file} is not a COCO captions '
                                 f'file: no "{key}" list')
        by_image = {img['id']: dict(img, texts=[], text_ids=[])
                    for img in doc['images']}
        for text_id, ann in enumerate(doc['annotations']):
            if ann['image_id'] not in by_image:
                raise ValueError(f'{self.ann_file}: caption {ann["id"]} '
                                 f'refers to unknown image {ann["image_id"]}')
            by_image[ann['image_id']]['texts'].append(ann['caption'])
            by_image[ann['image_id']]['text_ids'].append(text_id)
        prefix = self.data_prefix['img_path']
        data_list = []
        for img in by_image.values():
            if not img['texts']:
                continue
            data_list.append(dict(
                img_path=join_path(prefix, img['file_name']),
                texts=img['texts'], text_ids=img['text_ids'],
                image_id=len(data_list), ori_id=img['id']))
        self.img_size = len(data_list)
        self.text_size = len(doc['annotations'])
        return data_list


@DATASETS.register_module()
class COCOMainCategory(BaseDataset):
    """COCO images labelled by their main category, for zero-shot
    classification next to caption retrieval on the same images.

    Reads an official instances file; the label of an image is the category
    whose instances cover the largest total ``area`` (ties: the earlier
    class). Only the categories in ``metainfo['classes']`` count (default:
    all categories of the file, in id order); images with none of them are
    left out. Samples: ``dict(img_path=..., gt_label=<class index>)``.

    Args:
        ann_file (str): Instances JSON, relative to ``data_root``.
        data_root (str): Dataset root.
        data_prefix (str | dict): Image folder, e.g. ``'val2017/'``.
        metainfo (dict, optional): ``classes``: category names in label
            order (the model's ``zero_shot_classes``).
        pipeline (Sequence): Transforms.
        test_mode (bool): Evaluation mode.
    """

    def __init__(self,
                 ann_file: str,
                 data_root: str = '',
                 data_prefix='',
                 metainfo: Optional[dict] = None,
                 pipeline: Sequence = (),
                 test_mode: bool = True,
                 **kwargs) -> None:
        if isinstance(data_prefix, str):
            data_prefix = dict(img_path=data_prefix)
        super().__init__(ann_file=ann_file, data_root=data_root,
                         data_prefix=data_prefix, metainfo=metainfo,
                         pipeline=pipeline, test_mode=test_mode, **kwargs)

    def load_data_list(self) -> List[dict]:
        with open(self.ann_file) as f:
            doc = json.load(f)
        for key in ('images', 'annotations', 'categories'):
            if key not in doc:
                raise ValueError(f'{self.ann_file} is not a COCO instances '
                                 f'file: no "{key}" list')
        names = {c['id']: c['name'] for c in
                 sorted(doc['categories'], key=lambda c: c['id'])}
        classes = tuple(self._metainfo.get('classes') or names.values())
        unknown = set(classes) - set(names.values())
        if unknown:
            raise ValueError(f'COCOMainCategory: metainfo classes '
                             f'{sorted(unknown)} are not categories of '
                             f'{self.ann_file}')
        self._metainfo['classes'] = classes
        index = {name: i for i, name in enumerate(classes)}
        area = defaultdict(lambda: defaultdict(float))
        for ann in doc['annotations']:
            name = names[ann['category_id']]
            if name in index and not ann.get('iscrowd', 0):
                area[ann['image_id']][index[name]] += float(ann['area'])
        prefix = self.data_prefix['img_path']
        data_list = []
        for img in doc['images']:
            if area[img['id']]:
                label = max(sorted(area[img['id']].items()),
                            key=lambda kv: kv[1])[0]
                data_list.append(dict(
                    img_path=join_path(prefix, img['file_name']),
                    gt_label=label, ori_id=img['id']))
        return data_list


@TRANSFORMS.register_module()
class TokenizeCaption(BaseTransform):
    """Tokenise the captions of a sample into ``text_tokens``.

    Required keys: ``texts`` (list of str). Added keys: ``text_tokens``
    (``[context_length]`` long tensor) with ``mode='random'`` (one caption
    drawn with numpy's global generator, seeded by mmengine) or
    ``mode='first'``; ``[len(texts), context_length]`` with ``mode='all'``
    (evaluation: every caption of the image).

    Args:
        tokenizer (dict): Tokenizer config (``mmpretrain.registry.TOKENIZER``)
            called as ``tokenizer(texts, context_length=...)``. Defaults to
            CLIP's BPE (``CLIPBPETokenizer``).
        context_length (int): Token positions (SOT and EOT included); FLIP
            uses 32.
        mode (str): ``'random'``, ``'first'`` or ``'all'``.
    """

    def __init__(self, tokenizer: dict = dict(type='CLIPBPETokenizer'),
                 context_length: int = 32, mode: str = 'random') -> None:
        if mode not in ('random', 'first', 'all'):
            raise ValueError(f"TokenizeCaption: mode must be 'random', "
                             f"'first' or 'all', got {mode!r}")
        if context_length < 2:
            raise ValueError(f'TokenizeCaption: context_length must be >= 2,'
                             f' got {context_length}')
        self.tokenizer = TOKENIZER.build(tokenizer) if isinstance(
            tokenizer, dict) else tokenizer
        self.context_length = context_length
        self.mode = mode

    def transform(self, results: dict) -> Optional[dict]:
        texts = results['texts']
        if isinstance(texts, str):
            texts = [texts]
        if self.mode == 'random':
            texts = [texts[np.random.randint(len(texts))]]
        elif self.mode == 'first':
            texts = texts[:1]
        tokens = self.tokenizer(texts, context_length=self.context_length)
        results['text_tokens'] = tokens if self.mode == 'all' else tokens[0]
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(context_length='
                f'{self.context_length}, mode={self.mode!r})')
