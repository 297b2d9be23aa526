"""Analysis tools: model complexity, config benchmarks, training-log curves,
dataset browsing and prediction drawing for any zoo config (det, seg, cls,
SSL and BEVFormer v2). The tools in ``tools/analysis_tools`` are thin
command lines over these functions."""
from .complexity import format_complexity, model_complexity

__all__ = ['model_complexity', 'format_complexity']
