"""FLIP evaluation: image-text retrieval recall@k and zero-shot accuracy."""
from typing import List, Optional, Sequence, Union

import torch
from mmengine.evaluator import BaseMetric
from mmpretrain.evaluation import Accuracy, RetrievalRecall
from mmpretrain.registry import METRICS


@METRICS.register_module()
class ImageTextRetrieval(BaseMetric):
    """Recall@k of image->text and text->image retrieval (COCO protocol).

    Works with the standard ``ValLoop``/``TestLoop``: the model's predict
    mode returns, per image, its embedding ``img_feat`` ``[D]`` and the
    embeddings of all its captions ``text_feats`` ``[n_i, D]`` (as
    :class:`projects.flip.FLIP` does). At the end, with the images
    ``I [M, D]`` and all captions ``T [K, D]`` of the split, the scores are
    ``I T^T``; an image query is a hit at k if one of ITS captions is in its
    top k (i2t), a caption query if its image is (t2i). The recall itself
    is mmpretrain's :meth:`RetrievalRecall.calculate`. Samples without
    captions (e.g. the zero-shot classification part of a concatenated
    validation set) are skipped.

    Metric names: ``i2t_R@k``, ``t2i_R@k`` (percent) and ``mean_R``, their
    mean over both directions and all k (with prefix ``retrieval/``).

    Args:
        topk (int | Sequence[int]): Ranks. Defaults to (1, 5, 10).
        collect_device (str): ``'cpu'`` or ``'gpu'``.
        prefix (str, optional): Metric name prefix.
    """
    default_prefix: Optional[str] = 'retrieval'

    def __init__(self, topk: Union[int, Sequence[int]] = (1, 5, 10),
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        self.topk = (topk, ) if isinstance(topk, int) else tuple(topk)
        if not self.topk or min(self.topk) < 1:
            raise ValueError(f'ImageTextRetrieval: topk must be >= 1, got '
                             f'{topk}')
        super().__init__(collect_device=collect_device, prefix=prefix)

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        for ds in data_samples:
            if 'img_feat' not in ds:
                raise KeyError('ImageTextRetrieval needs `img_feat` in the '
                               'predictions (FLIP predict mode)')
            if 'text_feats' not in ds:
                continue
            self.results.append(
                (ds['img_feat'].detach().float().cpu(),
                 ds['text_feats'].detach().float().cpu().reshape(
                     -1, ds['img_feat'].shape[-1])))

    @staticmethod
    def recalls(img: torch.Tensor, txt: torch.Tensor, owner: torch.Tensor,
                topk: Sequence[int]) -> dict:
        """Recall@k from image ``[M, D]`` and caption ``[K, D]`` embeddings,
        ``owner[j]`` = index of the image of caption j."""
        scores = img @ txt.t()
        target = (owner[None, :] == torch.arange(len(img))[:, None]).int()
        i2t = RetrievalRecall.calculate(scores, target, topk=topk)
        t2i = RetrievalRecall.calculate(scores.t(), target.t(), topk=topk)
        out = {}
        for k, a, b in zip(topk, i2t, t2i):
            out[f'i2t_R@{k}'] = float(a)
            out[f't2i_R@{k}'] = float(b)
        out['mean_R'] = sum(out.values()) / len(out)
        return out

    def compute_metrics(self, results: List) -> dict:
        if not results:
            raise ValueError('ImageTextRetrieval: no sample with captions '
                             '(`text_feats`) was evaluated')
        img = torch.stack([r[0] for r in results])
        txt = torch.cat([r[1] for r in results])
        owner = torch.cat([torch.full((len(r[1]), ), i)
                           for i, r in enumerate(results)])
        k_max = min(max(self.topk), len(img), len(txt))
        topk = tuple(k for k in self.topk if k <= k_max) or (k_max, )
        return self.recalls(img, txt, owner, topk)


@METRICS.register_module()
class ZeroShotAccuracy(BaseMetric):
    """Top-k accuracy of zero-shot classification (CLIP protocol).

    The model's predict mode gives each labelled sample ``pred_score``, its
    cosine similarities to the class embeddings of the prompted class names
    (:class:`projects.flip.FLIP` with ``zero_shot_classes``); a sample is a
    top-k hit if its ``gt_label`` is among the k highest scores (mmpretrain's
    :meth:`Accuracy.calculate`, no score threshold). Samples without a label
    (e.g. the captions part of a concatenated validation set) are skipped.

    Metric names: ``top{k}`` in percent, with prefix ``zero_shot/``.

    Args:
        topk (int | Sequence[int]): Ranks. Defaults to (1, 5).
        collect_device (str): ``'cpu'`` or ``'gpu'``.
        prefix (str, optional): Metric name prefix.
    """
    default_prefix: Optional[str] = 'zero_shot'

    def __init__(self, topk: Union[int, Sequence[int]] = (1, 5),
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        self.topk = (topk, ) if isinstance(topk, int) else tuple(topk)
        if not self.topk or min(self.topk) < 1:
            raise ValueError(f'ZeroShotAccuracy: topk must be >= 1, got '
                             f'{topk}')
        super().__init__(collect_device=collect_device, prefix=prefix)

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        for ds in data_samples:
            if 'gt_label' not in ds:
                continue
            if 'pred_score' not in ds:
                raise KeyError('ZeroShotAccuracy needs `pred_score` for '
                               'labelled samples; set model.zero_shot_classes')
            self.results.append((ds['pred_score'].detach().float().cpu(),
                                 int(ds['gt_label'].reshape(-1)[0])))

    def compute_metrics(self, results: List) -> dict:
        if not results:
            raise ValueError('ZeroShotAccuracy: no labelled sample '
                             '(`gt_label`) was evaluated')
        scores = torch.stack([r[0] for r in results])
        labels = torch.tensor([r[1] for r in results])
        if max(self.topk) > scores.shape[1]:
            raise ValueError(f'ZeroShotAccuracy: topk {self.topk} exceeds the '
                             f'{scores.shape[1]} classes')
        acc = Accuracy.calculate(scores, labels, topk=self.topk, thrs=(None, ))
        return {f'top{k}': float(a[0]) for k, a in zip(self.topk, acc)}
