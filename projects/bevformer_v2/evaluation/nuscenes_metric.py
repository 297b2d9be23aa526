"""``NuScenesMetric``: predictions in the lidar frame -> the official nuScenes
results JSON -> nuscenes-devkit ``DetectionEval`` (NDS, mAP, TP errors)."""
import contextlib
import io
import tempfile
from pathlib import Path

import numpy as np
import torch
from mmdet.registry import METRICS
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger

from projects.run_config import write_json_atomic
from ..datasets.converter import CLASSES
from ..datasets.official_infos import load_infos
from ..structures import LiDARBoxes3D

VEHICLES = ('car', 'truck', 'bus', 'trailer', 'construction_vehicle')
DEFAULT_ATTRIBUTE = {
    'car': 'vehicle.parked', 'truck': 'vehicle.parked',
    'trailer': 'vehicle.parked', 'construction_vehicle': 'vehicle.parked',
    'bus': 'vehicle.moving', 'pedestrian': 'pedestrian.moving',
    'bicycle': 'cycle.without_rider', 'motorcycle': 'cycle.without_rider',
    'barrier': '', 'traffic_cone': ''}


def attribute_name(name, velocity):
    """The official (mmdet3d) attribute rule from the predicted BEV speed."""
    speed = float(np.hypot(velocity[0], velocity[1]))
    if speed > 0.2:
        if name in VEHICLES:
            return 'vehicle.moving'
        if name in ('bicycle', 'motorcycle'):
            return 'cycle.with_rider'
    else:
        if name == 'pedestrian':
            return 'pedestrian.standing'
        if name == 'bus':
            return 'vehicle.stopped'
    return DEFAULT_ATTRIBUTE[name]


def _numpy(x):
    if isinstance(x, LiDARBoxes3D):
        x = x.tensor
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    return np.asarray(x)


@METRICS.register_module()
class NuScenesMetric(BaseMetric):
    """nuScenes detection metric through the real devkit evaluator.

    Each data sample needs ``pred_instances_3d`` (``bboxes_3d`` (m, 9) in the
    project's lidar convention, ``scores_3d``, ``labels_3d``) and the metainfo
    ``token``, ``lidar2ego`` and ``ego2global``. Boxes are moved lidar -> ego,
    dropped beyond the class range of the eval config (ego-frame BEV distance,
    as the official formatting does), moved ego -> global, given the official
    attribute rule, written atomically to ``<jsonfile_prefix>/results_nusc.json``
    and scored by ``DetectionEval``.

    Args:
        data_root (str, optional): nuScenes root (the devkit tables); defaults
            to the folder of ``ann_file``.
        ann_file (str, optional): the infos (``.json`` or official ``.pkl``)
            whose metainfo gives the default ``version`` and ``eval_set``.
        version (str, optional): e.g. ``v1.0-trainval``.
        eval_set (str, optional): devkit split, e.g. ``val``, ``mini_val``.
        classes (Sequence[str]): label order of the predictions.
        jsonfile_prefix (str, optional): keep the results JSON and the devkit
            outputs there (default: a temporary directory).
        format_only (bool): only write the JSON (e.g. for the test server).
        eval_version (str): devkit config name.
        max_per_sample (int): keep the top-scoring boxes (the devkit allows
            at most 500 per sample).
    """

    default_prefix = 'nuscenes'

    def __init__(self, data_root=None, ann_file=None, version=None, eval_set=None,
                 classes=CLASSES, jsonfile_prefix=None, format_only=False,
                 eval_version='detection_cvpr_2019', max_per_sample=500,
                 collect_device='cpu', prefix=None):
        super().__init__(collect_device=collect_device, prefix=prefix)
        if ann_file is not None and (version is None or eval_set is None):
            meta = load_infos(ann_file).get('metainfo', {})
            version = version or meta.get('version')
            eval_set = eval_set or meta.get('eval_split')
        if version is None or eval_set is None:
            raise ValueError('NuScenesMetric needs version and eval_set, or an '
                             'ann_file whose metainfo has version/eval_split')
        if data_root is None:
            if ann_file is None:
                raise ValueError('NuScenesMetric needs data_root or ann_file')
            data_root = Path(ann_file).parent
        self.data_root = str(data_root)
        self.version = version
        self.eval_set = eval_set
        self.classes = tuple(classes)
        self.jsonfile_prefix = jsonfile_prefix
        self.format_only = format_only
        self.eval_version = eval_version
        self.max_per_sample = max_per_sample
        self._nusc = None

    @property
    def nusc(self):
        if self._nusc is None:
            from nuscenes.nuscenes import NuScenes
            self._nusc = NuScenes(self.version, self.data_root, verbose=False)
        return self._nusc

    def process(self, data_batch, data_samples):
        for sample in data_samples:
            if not isinstance(sample, dict):
                sample = sample.to_dict()
            pred = sample['pred_instances_3d']
            for key in ('token', 'lidar2ego', 'ego2global'):
                if key not in sample:
                    raise KeyError(f'NuScenesMetric needs metainfo {key!r} in '
                                   f'every data sample (sample '
                                   f'{sample.get("token")})')
            self.results.append(dict(
                token=sample['token'],
                bboxes_3d=_numpy(pred['bboxes_3d']).astype(np.float64),
                scores_3d=_numpy(pred['scores_3d']).astype(np.float64),
                labels_3d=_numpy(pred['labels_3d']).astype(np.int64),
                lidar2ego=np.asarray(sample['lidar2ego'], np.float64),
                ego2global=np.asarray(sample['ego2global'], np.float64)))

    def config(self):
        from nuscenes.eval.detection.config import config_factory
        return config_factory(self.eval_version)

    def format_results(self, results, cfg=None):
        """The official results dict ``{meta, results}`` of ``results``."""
        from pyquaternion import Quaternion
        cfg = cfg or self.config()
        out = {}
        for res in results:
            order = np.argsort(-res['scores_3d'], kind='stable')
            order = order[:self.max_per_sample]
            boxes = LiDARBoxes3D(torch.from_numpy(res['bboxes_3d'][order]))
            labels, scores = res['labels_3d'][order], res['scores_3d'][order]
            e2g = res['ego2global']
            rot = Quaternion(matrix=e2g[:3, :3], atol=1e-6)
            dets = []
            for box, label, score in zip(
                    boxes.to_nusc_boxes(lidar2ego=res['lidar2ego']), labels,
                    scores):
                name = self.classes[int(label)]
                if np.linalg.norm(box.center[:2]) > cfg.class_range[name]:
                    continue
                box.rotate(rot)
                box.translate(e2g[:3, 3])
                vel = np.nan_to_num(np.asarray(box.velocity[:2], np.float64))
                dets.append(dict(
                    sample_token=res['token'],
                    translation=[float(v) for v in box.center],
                    size=[float(v) for v in box.wlh],
                    rotation=[float(v) for v in box.orientation.elements],
                    velocity=[float(v) for v in vel],
                    detection_name=name, detection_score=float(score),
                    attribute_name=attribute_name(name, vel)))
            out.setdefault(res['token'], []).extend(dets)
        meta = dict(use_camera=True, use_lidar=False, use_radar=False,
                    use_map=False, use_external=False)
        return dict(meta=meta, results=out)

    def split_tokens(self):
        """Sample tokens of ``eval_set`` (the devkit asserts all are present)."""
        from nuscenes.utils.splits import get_scenes_of_split
        scenes = set(get_scenes_of_split(self.eval_set, self.nusc))
        return [s['token'] for s in self.nusc.sample
                if self.nusc.get('scene', s['scene_token'])['name'] in scenes]

    def compute_metrics(self, results):
        logger = MMLogger.get_current_instance()
        cfg = self.config()
        doc = self.format_results(results, cfg)
        if not self.format_only:
            missing = [t for t in self.split_tokens() if t not in doc['results']]
            if missing:
                raise ValueError(
                    f'NuScenesMetric got predictions for {len(doc["results"])} '
                    f'samples, but {len(missing)} samples of {self.eval_set!r} '
                    f'({self.version}) have none (first: {missing[0]}); '
                    'evaluate the whole split')
        tmp = None
        if self.jsonfile_prefix is None:
            tmp = tempfile.TemporaryDirectory()
            out_dir = Path(tmp.name)
        else:
            out_dir = Path(self.jsonfile_prefix)
        try:
            path = out_dir / 'results_nusc.json'
            write_json_atomic(path, doc, indent=None)
            logger.info(f'nuScenes results written to {path}')
            if self.format_only:
                return {}
            from nuscenes.eval.detection.evaluate import DetectionEval
            evaluator = DetectionEval(
                self.nusc, config=cfg, result_path=str(path),
                eval_set=self.eval_set, output_dir=str(out_dir / 'devkit'),
                verbose=False)
            printed = io.StringIO()
            with contextlib.redirect_stdout(printed):
                summary = evaluator.main(plot_examples=0, render_curves=False)
            logger.info('nuScenes DetectionEval\n' + printed.getvalue())
        finally:
            if tmp is not None:
                tmp.cleanup()
        errors = summary['tp_errors']
        metrics = dict(
            NDS=summary['nd_score'], mAP=summary['mean_ap'],
            mATE=errors['trans_err'], mASE=errors['scale_err'],
            mAOE=errors['orient_err'], mAVE=errors['vel_err'],
            mAAE=errors['attr_err'])
        for name, ap in summary['mean_dist_aps'].items():
            metrics[f'{name}_AP'] = ap
        return {k: float(v) for k, v in metrics.items()}
