"""Evaluation of self-supervised pre-training: weighted kNN (metric and
val/test loops), linear probe, backbone extraction for downstream configs,
the fair benchmark (MoCo v2 with the shared cosine momentum)."""
from .barlow import ScaledCrossCorrelationLoss
from .features import batch_features, extract_features, reduce_features
from .handoff import (backbone_key_report, build_config_backbone,
                      detect_prefix, extract_backbone, load_state_dict,
                      strip_prefix)
from .knn import knn_accuracy, knn_classify, knn_topk_neighbours, topk_accuracy
from .linear_probe import linear_probe
from .loops import KNNTestLoop, KNNValLoop
from .metric import KNNAccuracy
from .moco import MoCoCosineEMA

__all__ = ['KNNAccuracy', 'KNNValLoop', 'KNNTestLoop', 'knn_classify',
           'knn_accuracy', 'knn_topk_neighbours', 'topk_accuracy',
           'extract_features', 'batch_features', 'reduce_features',
           'extract_backbone', 'backbone_key_report', 'build_config_backbone',
           'detect_prefix', 'load_state_dict', 'strip_prefix', 'linear_probe',
           'MoCoCosineEMA', 'ScaledCrossCorrelationLoss']
