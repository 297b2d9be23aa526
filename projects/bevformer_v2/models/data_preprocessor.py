"""Multi-view, multi-frame data preprocessor and GridMask."""
import math
from typing import Sequence

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseDataPreprocessor

from mmdet.registry import MODELS


@MODELS.register_module()
class BEVDataPreprocessor(BaseDataPreprocessor):
    """Normalise, pad to a multiple of ``pad_size_divisor`` and stack
    ``inputs['imgs']`` (list of uint8 (T, N, 3, H, W)) to (B, T, N, 3, H, W).

    Args:
        mean, std (Sequence[float]): per-channel statistics, in the order of
            the channels after the optional BGR->RGB swap.
        bgr_to_rgb (bool): swap the channel order first.
        pad_size_divisor (int): pad H, W (bottom/right) to a multiple of it.
    """

    def __init__(self, mean: Sequence[float] = (103.53, 116.28, 123.675),
                 std: Sequence[float] = (1.0, 1.0, 1.0), bgr_to_rgb: bool = False,
                 pad_size_divisor: int = 32, pad_value: float = 0.0, non_blocking=False):
        super().__init__(non_blocking)
        self.register_buffer('mean', torch.tensor(mean).view(1, 1, 3, 1, 1), False)
        self.register_buffer('std', torch.tensor(std).view(1, 1, 3, 1, 1), False)
        self.bgr_to_rgb = bgr_to_rgb
        self.pad_size_divisor = pad_size_divisor
        self.pad_value = pad_value

    def forward(self, data: dict, training: bool = False) -> dict:
        data = self.cast_data(data)
        imgs = data['inputs']['imgs']
        if isinstance(imgs, torch.Tensor) and imgs.dim() == 5:
            imgs = [imgs]
        if isinstance(imgs, torch.Tensor):
            imgs = list(imgs)
        out = []
        d = self.pad_size_divisor
        hs = max(int(math.ceil(i.shape[-2] / d)) * d for i in imgs)
        ws = max(int(math.ceil(i.shape[-1] / d)) * d for i in imgs)
        for img in imgs:
            img = img.float()
            if self.bgr_to_rgb:
                img = img[:, :, [2, 1, 0]]
            img = (img - self.mean) / self.std
            img = F.pad(img, (0, ws - img.shape[-1], 0, hs - img.shape[-2]),
                        value=self.pad_value)
            out.append(img)
        samples = data.get('data_samples')
        if samples is not None:
            for s, img in zip(samples, imgs):
                s.set_metainfo(dict(batch_input_shape=(hs, ws), pad_shape=(hs, ws)))
                if 'img_shape' not in s.metainfo:
                    s.set_metainfo(dict(img_shape=tuple(img.shape[-2:])))
        return dict(inputs=dict(imgs=torch.stack(out)), data_samples=samples)


class GridMask(nn.Module):
    """GridMask augmentation (mode=1: keep the grid lines, drop the cells),
    device-agnostic (the official one calls ``.cuda()``).

    Args:
        use_h, use_w (bool), rotate (int), offset (bool), ratio (float),
        mode (int), prob (float): as in the official GridMask.
    """

    def __init__(self, use_h=True, use_w=True, rotate=1, offset=False, ratio=0.5, mode=1,
                 prob=0.7):
        super().__init__()
        self.use_h, self.use_w, self.rotate, self.offset = use_h, use_w, rotate, offset
        self.ratio, self.mode, self.prob = ratio, mode, prob

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or np.random.rand() > self.prob:
            return x
        n, c, h, w = x.shape
        hh, ww = int(1.5 * h), int(1.5 * w)
        d = np.random.randint(2, max(h, 3))
        length = min(max(int(d * self.ratio + 0.5), 1), d - 1)
        mask = np.ones((hh, ww), np.float32)
        st_h, st_w = np.random.randint(d), np.random.randint(d)
        if self.use_h:
            for i in range(hh // d):
                s = d * i + st_h
                mask[s:min(s + length, hh), :] *= 0
        if self.use_w:
            for i in range(ww // d):
                s = d * i + st_w
                mask[:, s:min(s + length, ww)] *= 0
        r = np.random.randint(self.rotate)
        if r:
            mask = np.rot90(mask, k=r % 4).copy()
        top, left = (hh - h) // 2, (ww - w) // 2
        mask = mask[top:top + h, left:left + w] if mask.shape[0] >= h else mask[:h, :w]
        mask = torch.from_numpy(np.ascontiguousarray(mask)).to(x)
        if self.mode == 1:
            mask = 1 - mask
        mask = mask.expand_as(x)
        if self.offset:
            off = torch.from_numpy(2 * (np.random.rand(h, w) - 0.5)).to(x)
            return x * mask + off * (1 - mask)
        return x * mask
