"""De-focus Attention Networks (NeurIPS 2024): the De-focus Mamba backbone,
its selective scan (pure PyTorch and Triton), classification head and
drop-path hook."""
from .bandpass import bandpass_rotate, default_frequencies, rotate_every_two
from .checkpoint import convert_official, convert_to_official
from .defocus_mamba import ARCH_SETTINGS, DefocusMamba, resolve_arch
from .heads import DefocusClsHead
from .hooks import DefocusDropPathHook, scheduled_rate
from .reference import selective_scan_ref
from .selective_scan import (SelectiveScanFn, causal_conv1d, default_chunk,
                             linear_scan, mamba_ssm_available, plan_chunks,
                             resolve_scan_impl, scan_chunks,
                             scan_chunks_backward, selective_scan,
                             triton_available)

__all__ = ['DefocusMamba', 'ARCH_SETTINGS', 'resolve_arch', 'DefocusClsHead',
           'DefocusDropPathHook', 'scheduled_rate', 'selective_scan',
           'selective_scan_ref', 'SelectiveScanFn', 'linear_scan',
           'plan_chunks', 'scan_chunks', 'scan_chunks_backward',
           'causal_conv1d', 'mamba_ssm_available', 'triton_available',
           'resolve_scan_impl', 'default_chunk',
           'bandpass_rotate', 'default_frequencies', 'rotate_every_two',
           'convert_official', 'convert_to_official']
