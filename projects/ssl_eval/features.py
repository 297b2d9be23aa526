"""Frozen backbone features of any mmpretrain model (SSL algorithm or
classifier) for kNN evaluation."""
from typing import Tuple

import torch
from mmengine.dist import collect_results, get_world_size
from mmengine.model import is_model_wrapper

FEAT_REDUCE = ('auto', 'avgpool', 'cls', 'mean', 'none')


def reduce_features(feats, mode: str = 'auto',
                    has_cls_token: bool = True) -> torch.Tensor:
    """One ``(N, C)`` vector per image from a backbone output.

    ``feats`` is a tensor or a tuple/list of them (the last, i.e. deepest,
    is used). ``(N, C, H, W)`` maps are average-pooled; ``(N, L, C)``
    token sequences give their first (class) token (``cls``) or the mean
    of the tokens (``mean``); ``auto`` picks ``avgpool`` for maps, and
    ``cls`` for tokens when the backbone has a class token, else ``mean``.
    A ``(N, C)`` input is returned as is.
    """
    if mode not in FEAT_REDUCE:
        raise ValueError(f'feat_reduce must be one of {FEAT_REDUCE}, got '
                         f'{mode!r}')
    if isinstance(feats, (list, tuple)):
        if not feats:
            raise ValueError('kNN: the backbone returned no features')
        feats = feats[-1]
    if isinstance(feats, (list, tuple)):  # e.g. ViT (patch map, cls token)
        feats = feats[-1]
    if feats.dim() == 2 or mode == 'none':
        return feats.flatten(1)
    if feats.dim() == 4:
        if mode not in ('auto', 'avgpool'):
            raise ValueError(f'feat_reduce={mode!r} does not apply to '
                             f'feature maps of shape {tuple(feats.shape)}')
        return feats.mean(dim=(2, 3))
    if feats.dim() == 3:
        if mode == 'avgpool':
            raise ValueError('feat_reduce=avgpool needs (N, C, H, W) maps, '
                             f'got tokens of shape {tuple(feats.shape)}')
        if mode == 'cls' or (mode == 'auto' and has_cls_token):
            return feats[:, 0]
        return feats.mean(dim=1)
    raise ValueError(f'kNN: cannot reduce features of shape '
                     f'{tuple(feats.shape)} to one vector per image')


def _labels(data_samples):
    out = []
    for i, sample in enumerate(data_samples or []):
        label = sample.get('gt_label') if hasattr(sample, 'get') else None
        if label is None or len(label) == 0:
            raise ValueError('kNN needs labelled data: sample '
                             f'{i} of the batch has no gt_label (use a '
                             'labelled dataset, e.g. ImageNet/CustomDataset '
                             'with its annotation file, for the bank and '
                             'the queries)')
        out.append(int(label[0]))
    return torch.tensor(out, dtype=torch.long)


def batch_features(model, data_batch, feat_reduce='auto'):
    """``(features (N, C) float32 on CPU, labels (N,))`` of one batch."""
    if is_model_wrapper(model):
        model = model.module
    pre = model.data_preprocessor
    inputs = data_batch['inputs']
    if isinstance(inputs, (list, tuple)) and inputs and all(
            torch.is_tensor(x) and x.dim() == 3 for x in inputs):
        # pseudo_collate: one (C, H, W) image per sample, not views
        data_batch = dict(data_batch, inputs=torch.stack(list(inputs)))
    if type(pre).__name__ == 'TwoNormDataPreprocessor' and \
            not isinstance(data_batch['inputs'], (list, tuple)):
        # BEiT v2-style: the preprocessor expects (image, target image)
        data_batch = dict(data_batch,
                          inputs=[data_batch['inputs'], data_batch['inputs']])
    data = pre(data_batch, False)
    inputs = data['inputs']
    if isinstance(inputs, (list, tuple)):
        inputs = inputs[0]
    feats = model.extract_feat(inputs)
    backbone = getattr(model, 'backbone', None)
    has_cls = getattr(backbone, 'cls_token', None) is not None
    feats = reduce_features(feats, feat_reduce, has_cls)
    return feats.float().cpu(), _labels(data.get('data_samples'))


@torch.no_grad()
def extract_features(model, dataloader, feat_reduce='auto'
                     ) -> Tuple[torch.Tensor, torch.Tensor]:
    """Features and labels of a whole dataloader, in dataset order on every
    rank (each rank extracts its shard; the shards are collected)."""
    was_training = model.training
    model.eval()
    feats, labels = [], []
    try:
        for data_batch in dataloader:
            f, y = batch_features(model, data_batch, feat_reduce)
            feats.append(f)
            labels.append(y)
    finally:
        model.train(was_training)
    if not feats:
        raise ValueError('kNN: the feature-bank dataloader is empty')
    feats, labels = torch.cat(feats), torch.cat(labels)
    if get_world_size() > 1:
        size = len(dataloader.dataset)
        rows = collect_results(list(zip(feats, labels)), size,
                               device='cpu')
        if rows is None:  # non-zero ranks: only rank 0 evaluates
            return feats[:0], labels[:0]
        feats = torch.stack([r[0] for r in rows])
        labels = torch.stack([r[1] for r in rows])
    return feats, labels
