"""A mixin for mmpretrain ``VisionTransformer`` subclasses that build their
own encoder layers (the subclass defines ``arch_zoo`` and ``_ESSENTIAL``)."""


class PlainViTMixin:

    @classmethod
    def _arch_settings(cls, arch):
        if isinstance(arch, str):
            if arch.lower() not in cls.arch_zoo:
                raise ValueError(
                    f'{cls.__name__}: unknown arch {arch!r}; choose one of '
                    f'{sorted(cls.arch_zoo)} or pass a dict with keys '
                    f'{list(cls._ESSENTIAL)}')
            return dict(cls.arch_zoo[arch.lower()])
        if not isinstance(arch, dict) or not set(cls._ESSENTIAL) <= set(arch):
            raise ValueError(f'{cls.__name__}: a custom arch must be a dict '
                             f'with keys {list(cls._ESSENTIAL)}, got {arch!r}')
        return dict(arch)

    def _normalize_out_indices(self, out_indices):
        if isinstance(out_indices, int):
            out_indices = [out_indices]
        result = []
        for index in out_indices:
            i = self.num_layers + index if index < 0 else index
            if not 0 <= i < self.num_layers:
                raise ValueError(f'{type(self).__name__}: out_indices entry '
                                 f'{index} is outside [-{self.num_layers}, '
                                 f'{self.num_layers - 1}]')
            result.append(i)
        return result

    def forward(self, x):
        p = self.patch_size
        H, W = x.shape[-2:]
        if H % p or W % p:
            raise ValueError(
                f'{type(self).__name__}: input size {H}x{W} is not a multiple '
                f'of the patch size {p}; pad or resize it to a multiple of {p} '
                f'(e.g. {-(-H // p) * p}x{-(-W // p) * p}; mmdet/mmseg data '
                f'preprocessors do this with pad_size_divisor / size_divisor)')
        return super().forward(x)
