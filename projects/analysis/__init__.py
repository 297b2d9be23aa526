"""Analysis tools: model complexity, config benchmarks, training-log curves,
dataset browsing and prediction drawing for any zoo config (det, seg, cls,
SSL and BEVFormer v2). The tools in ``tools/analysis_tools`` are thin
command lines over these functions (see README.md)."""
from .complexity import format_complexity, model_complexity
from .logs import curves, load_log, plot_curves, train_time
from .memory import LiveTensorPeak, PeakMemory
from .timing import format_table, measure_config

__all__ = ['model_complexity', 'format_complexity', 'load_log', 'curves',
           'plot_curves', 'train_time', 'LiveTensorPeak', 'PeakMemory',
           'measure_config', 'format_table']
