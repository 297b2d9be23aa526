"""SIM's data transforms: two views with recorded relative geometry, and the
official exact-count block mask."""
from typing import List, Optional, Sequence, Tuple

import mmcv
import numpy as np
from mmcv.transforms import BaseTransform, Compose
from mmpretrain.datasets.transforms import BEiTMaskGenerator
from mmpretrain.registry import TRANSFORMS


@TRANSFORMS.register_module()
class SIMTwoViews(BaseTransform):
    """Two random views of one image and their relative geometry.

    Per view, independently (the official ``DataAugmentationForSIM``): a
    horizontal flip with probability ``flip_prob`` FIRST, then a random
    resized crop of the (flipped) image, drawn by mmpretrain's
    ``RandomResizedCrop``, resized to ``crop_size``; then the view's own
    pipeline (colour jitter, blur, ...) from ``view_pipelines``.

    **Required keys:** ``img``. **Modified keys:** ``img`` (list of the two
    views), ``img_shape``. **Added keys:** ``rel_pos`` (float32 array
    ``(di, dj, dh, dw, rel_flip, flip_dj)``, see
    :mod:`projects.sim.geometry`; pack it with
    ``PackInputs(algorithm_keys=['rel_pos'])``) and ``sim_crops``
    (``(2, 5)`` array of ``(i, j, h, w, flip)`` per view, crop offsets in
    the flipped image).

    Args:
        crop_size (int | tuple[int, int]): Output size (square if int; the
            official 224).
        crop_ratio_range (tuple[float, float]): Area fraction of the crop.
            Official: (0.08, 1.0).
        aspect_ratio_range (tuple[float, float]): Defaults to (3/4, 4/3).
        flip_prob (float): Horizontal flip probability. Defaults to 0.5.
        interpolation (str): Resize interpolation. Defaults to 'bicubic'.
        backend (str): 'cv2' or 'pillow' (torchvision's). Defaults to
            'pillow'.
        view_pipelines (list[list[dict]], optional): Two pipelines applied
            to view 1 and view 2 after cropping.
    """

    def __init__(self,
                 crop_size=224,
                 crop_ratio_range: Tuple[float, float] = (0.08, 1.0),
                 aspect_ratio_range: Tuple[float, float] = (3. / 4., 4. / 3.),
                 flip_prob: float = 0.5,
                 interpolation: str = 'bicubic',
                 backend: str = 'pillow',
                 view_pipelines: Optional[Sequence[List[dict]]] = None
                 ) -> None:
        if not 0 <= flip_prob <= 1:
            raise ValueError(f'SIMTwoViews: flip_prob must be in [0, 1], got '
                             f'{flip_prob}')
        self.crop = TRANSFORMS.build(
            dict(type='RandomResizedCrop', scale=crop_size,
                 crop_ratio_range=crop_ratio_range,
                 aspect_ratio_range=aspect_ratio_range,
                 interpolation=interpolation, backend=backend))
        self.flip_prob = flip_prob
        view_pipelines = view_pipelines or [[], []]
        if len(view_pipelines) != 2:
            raise ValueError('SIMTwoViews: view_pipelines needs exactly two '
                             f'pipelines, got {len(view_pipelines)}')
        self.view_pipelines = [Compose(list(p)) for p in view_pipelines]

    def _view(self, img: np.ndarray) -> Tuple[np.ndarray, tuple]:
        flip = bool(np.random.rand() < self.flip_prob)
        if flip:
            img = mmcv.imflip(img, direction='horizontal')
        i, j, h, w = self.crop.rand_crop_params(img)
        img = mmcv.imcrop(img, bboxes=np.array([j, i, j + w - 1, i + h - 1]))
        img = mmcv.imresize(img, tuple(self.crop.scale[::-1]),
                            interpolation=self.crop.interpolation,
                            backend=self.crop.backend)
        return img, (i, j, h, w, flip)

    def transform(self, results: dict) -> dict:
        img = results['img']
        width = img.shape[1]
        views, crops = [], []
        for pipeline in self.view_pipelines:
            view, crop = self._view(img)
            out = pipeline(dict(results, img=view, img_shape=view.shape[:2]))
            views.append(out['img'])
            crops.append(crop)
        (i1, j1, h1, w1, f1), (i2, j2, h2, w2, f2) = crops
        results['img'] = views
        results['img_shape'] = views[0].shape[:2]
        results['rel_pos'] = np.array(
            [(i2 - i1) / h1, (j2 - j1) / w1, h2 / h1, w2 / w1,
             float(f1 != f2), (width - j1 - j2) / w1], dtype=np.float32)
        results['sim_crops'] = np.array(crops, dtype=np.float32)
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(crop={self.crop!r}, '
                f'flip_prob={self.flip_prob}, '
                f'view_pipelines={self.view_pipelines!r})')


@TRANSFORMS.register_module()
class SIMMaskGenerator(BEiTMaskGenerator):
    """BEiT block masking with exactly ``num_masking_patches`` masked
    patches, as the official SIM ``MaskingGenerator`` with
    ``fixed_num_masking_patches=True``: blocks are added (mmpretrain's
    ``BEiTMaskGenerator._mask``) until the count is reached or a round of
    10 attempts adds nothing; then random unmasked patches top the mask up
    to the exact count. (mmpretrain's own transform instead retries blocks
    until the count is hit, which can take many rounds at SIM's 60 %.)

    Args: as :class:`BEiTMaskGenerator` (official SIM ViT-B/16:
    ``input_size=14, num_masking_patches=118, min_num_patches=16``).
    """

    def __init__(self, input_size, num_masking_patches: int,
                 min_num_patches: int = 4, **kwargs) -> None:
        super().__init__(input_size, num_masking_patches, min_num_patches,
                         **kwargs)
        if not 0 <= num_masking_patches <= self.num_patches:
            raise ValueError(
                f'SIMMaskGenerator: num_masking_patches={num_masking_patches}'
                f' is outside [0, {self.num_patches}] for a '
                f'{self.height}x{self.width} grid')

    def transform(self, results: dict) -> dict:
        mask = np.zeros((self.height, self.width), dtype=int)
        count = 0
        while count < self.num_masking_patches:
            budget = min(self.num_masking_patches - count,
                         self.max_num_patches)
            delta = self._mask(mask, budget)
            if delta == 0:
                break
            count += delta
        if count < self.num_masking_patches:
            free = np.flatnonzero(mask == 0)
            pick = np.random.permutation(free)[:self.num_masking_patches -
                                               count]
            mask.flat[pick] = 1
        results['mask'] = mask
        return results
