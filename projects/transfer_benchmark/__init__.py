"""Downstream-transfer benchmark: run pre-trained checkpoints through a
protocol of downstream configs with equalised settings, resume unfinished
runs and collect one table and plot."""
from .launchers import LAUNCHERS, Launcher
from .protocol import Protocol, ProtocolError, Task, load_protocol
from .report import collect, markdown_table, summarise, write_report
from .runner import Pretrained, TransferBenchmark, parse_pretrained

__all__ = ['LAUNCHERS', 'Launcher', 'Protocol', 'ProtocolError', 'Task',
           'load_protocol', 'collect', 'markdown_table', 'summarise',
           'write_report',
           'Pretrained', 'TransferBenchmark', 'parse_pretrained']
