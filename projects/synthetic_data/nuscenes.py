"""Synthetic nuScenes in the real v1.0 layout, read by nuscenes-devkit.

Layout written under ``out``::

    v1.0-synthetic/{category,attribute,visibility,instance,sensor,
        calibrated_sensor,ego_pose,log,scene,sample,sample_data,
        sample_annotation,map}.json     the 13 devkit tables
    v1.0-synthetic/splits.json          {"synthetic_train": [...], "synthetic_val": [...]}
    samples/CAM_*/<log>__CAM_*__<us>.jpg   6 calibrated cameras per key frame
    samples/LIDAR_TOP/<log>__LIDAR_TOP__<us>.pcd.bin   dummy lidar (4 points)
    maps/<token>.png                    1x1 placeholder map
    nuscenes_infos_{train,val}.json     written by the project's converter

``num_train`` / ``num_val`` count SCENES; each scene has ``samples_per_scene``
key frames 0.5 s apart. The ego vehicle drives an arc; every scene holds one
object of each of the 10 detection classes (plus a few more) within 25 m of the
ego path, static or moving at constant velocity, annotated at every key frame
(prev/next linked, so the devkit's ``box_velocity`` is exact), with the
attribute that the official attribute rule predicts from the speed, a
visibility level and lidar/radar point counts > 0. Each camera image renders
the cuboids (faces in class colours: front face light, back face dark, sides
shaded) over a sky and a 4 m checkerboard ground plane, with the camera's own
ego pose at its own timestamp (cameras fire a few ms apart from the lidar), so
that ``lidar2img`` from the infos projects a box corner exactly onto its
rendered pixel. Pixel ``(i, j)`` covers ``[j, j+1) x [i, i+1)`` of the
projected coordinates. The result is a pure function of the arguments.
"""
import hashlib
import json
import math
from pathlib import Path

import cv2
import numpy as np

from .painting import write_image

VERSION = 'v1.0-synthetic'
SPLITS = ('train', 'val')
SAMPLE_PERIOD_US = 500_000
# (camera, optical-axis yaw in the ego frame (deg), position in ego (m),
#  focal length as a fraction of the image width, time offset to lidar (ms))
CAMERAS = (
    ('CAM_FRONT', 0.0, (1.70, 0.00, 1.51), 0.79, 12),
    ('CAM_FRONT_RIGHT', -55.0, (1.55, -0.49, 1.50), 0.79, 4),
    ('CAM_FRONT_LEFT', 55.0, (1.52, 0.49, 1.51), 0.79, 20),
    ('CAM_BACK', 180.0, (0.03, 0.00, 1.54), 0.506, 37),
    ('CAM_BACK_LEFT', 110.0, (1.04, 0.48, 1.56), 0.79, 45),
    ('CAM_BACK_RIGHT', -110.0, (1.04, -0.48, 1.56), 0.79, 29),
)
LIDAR = ('LIDAR_TOP', (0.94, 0.0, 1.84))
# detection name: (nuScenes category, (w, l, h), hue (deg), moving speed range)
CLASSES = {
    'car': ('vehicle.car', (1.95, 4.6, 1.7), 220, (3.0, 8.0)),
    'truck': ('vehicle.truck', (2.5, 7.0, 2.9), 30, (2.0, 6.0)),
    'bus': ('vehicle.bus.rigid', (2.9, 11.0, 3.5), 55, (2.0, 6.0)),
    'trailer': ('vehicle.trailer', (2.9, 12.0, 3.9), 280, (2.0, 5.0)),
    'construction_vehicle': ('vehicle.construction', (2.8, 6.4, 3.2), 15,
                             (0.5, 2.0)),
    'pedestrian': ('human.pedestrian.adult', (0.7, 0.75, 1.8), 0, (0.8, 1.6)),
    'motorcycle': ('vehicle.motorcycle', (0.8, 2.1, 1.5), 180, (3.0, 8.0)),
    'bicycle': ('vehicle.bicycle', (0.6, 1.7, 1.3), 120, (2.0, 5.0)),
    'traffic_cone': ('movable_object.trafficcone', (0.4, 0.4, 1.0), 330, None),
    'barrier': ('movable_object.barrier', (2.5, 0.5, 1.0), 250, None),
}
ATTRIBUTES = ('vehicle.moving', 'vehicle.parked', 'vehicle.stopped',
              'pedestrian.moving', 'pedestrian.standing',
              'pedestrian.sitting_lying_down', 'cycle.with_rider',
              'cycle.without_rider')
VISIBILITY = (('1', 'v0-40'), ('2', 'v40-60'), ('3', 'v60-80'),
              ('4', 'v80-100'))
# cuboid faces over the corners of LiDARBoxes3D.corners (bottom 0-3, top 4-7)
FACES = (((3, 0, 4, 7), 1.25), ((1, 2, 6, 5), 0.55), ((0, 1, 5, 4), 0.8),
         ((2, 3, 7, 6), 0.8), ((4, 5, 6, 7), 1.05), ((0, 3, 2, 1), 0.4))
CORNERS = np.array([(0.5, 0.5, 0), (-0.5, 0.5, 0), (-0.5, -0.5, 0),
                    (0.5, -0.5, 0), (0.5, 0.5, 1), (-0.5, 0.5, 1),
                    (-0.5, -0.5, 1), (0.5, -0.5, 1)])


def token(*parts):
    """A deterministic 32-hex-digit token."""
    return hashlib.md5('/'.join(map(str, parts)).encode()).hexdigest()


def yaw_quaternion(yaw):
    """``[w, x, y, z]`` of a rotation by ``yaw`` about +z."""
    return [math.cos(yaw / 2), 0.0, 0.0, math.sin(yaw / 2)]


def matrix_quaternion(rot):
    """``[w, x, y, z]`` of a 3x3 rotation matrix."""
    from pyquaternion import Quaternion
    return list(Quaternion(matrix=rot, atol=1e-7).elements)


def pose_matrix(rot, trans):
    mat = np.eye(4)
    mat[:3, :3] = rot
    mat[:3, 3] = trans
    return mat


def rot_z(yaw):
    c, s = math.cos(yaw), math.sin(yaw)
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1.0]])


def attribute_for(name, speed):
    """The attribute the official formatting rule predicts from the speed."""
    moving = speed > 0.2
    if name in ('car', 'truck', 'trailer', 'construction_vehicle'):
        return 'vehicle.moving' if moving else 'vehicle.parked'
    if name == 'bus':
        return 'vehicle.moving' if moving else 'vehicle.stopped'
    if name in ('bicycle', 'motorcycle'):
        return 'cycle.with_rider' if moving else 'cycle.without_rider'
    if name == 'pedestrian':
        return 'pedestrian.moving' if moving else 'pedestrian.standing'
    return None


def camera_geometry(size):
    """Per camera: ``(name, cam2ego 4x4, K 3x3, time offset in us)``."""
    height, width = size
    cams = []
    for name, yaw_deg, trans, focal, offset_ms in CAMERAS:
        yaw = math.radians(yaw_deg)
        fwd = np.array([math.cos(yaw), math.sin(yaw), 0.0])
        right = np.array([math.sin(yaw), -math.cos(yaw), 0.0])
        down = np.array([0.0, 0.0, -1.0])
        cam2ego = pose_matrix(np.stack([right, down, fwd], 1), trans)
        f = focal * width
        K = np.array([[f, 0, width / 2], [0, f, height / 2], [0, 0, 1.0]])
        cams.append((name, cam2ego, K, offset_ms * 1000))
    return cams


class _Scene:
    """Ego trajectory and objects of one scene (closed forms in time)."""

    def __init__(self, rng, num_samples, extra_objects=3):
        self.origin = rng.uniform(300, 700, size=2)
        self.heading = rng.uniform(-math.pi, math.pi)
        self.speed = rng.uniform(3.0, 7.0)
        self.yaw_rate = rng.uniform(-0.12, 0.12)
        self.duration = (num_samples - 1) * SAMPLE_PERIOD_US * 1e-6
        names = list(CLASSES)
        rng.shuffle(names)
        names += [str(n) for n in rng.choice(list(CLASSES), extra_objects)]
        mid = self.duration / 2
        ego_mid = self.ego_pose(mid)
        self.objects = []
        for name in names:
            w, length, h = CLASSES[name][1]
            for _ in range(200):  # rejection sampling of a free spot
                r, a = rng.uniform(6.0, 22.0), rng.uniform(-math.pi, math.pi)
                pos = ego_mid[:2, 3] + r * np.array([math.cos(a), math.sin(a)])
                radius = 0.5 * math.hypot(w, length)
                if all(np.linalg.norm(pos - o['pos']) > radius + o['radius'] + 1
                       for o in self.objects):
                    break
            yaw = rng.uniform(-math.pi, math.pi)
            speeds = CLASSES[name][3]
            speed = 0.0
            if speeds is not None and rng.uniform() < 0.6:
                speed = rng.uniform(*speeds)
            self.objects.append(dict(
                name=name, pos=pos, yaw=yaw, speed=speed, radius=radius,
                vel=speed * np.array([math.cos(yaw), math.sin(yaw)]),
                visibility=str(int(rng.integers(1, 5))), size=(w, length, h)))
        self.mid = mid

    def ego_pose(self, t):
        """ego2global 4x4 at time ``t`` (s) from the scene start."""
        psi = self.heading + self.yaw_rate * t
        if abs(self.yaw_rate) < 1e-9:
            d = self.speed * t * np.array([math.cos(psi), math.sin(psi)])
        else:
            k = self.speed / self.yaw_rate
            d = k * np.array([math.sin(psi) - math.sin(self.heading),
                              math.cos(self.heading) - math.cos(psi)])
        return pose_matrix(rot_z(psi), [*(self.origin + d), 0.0])

    def object_state(self, obj, t):
        """Gravity centre (3,) in global at time ``t``."""
        xy = obj['pos'] + obj['vel'] * (t - self.mid)
        return np.array([xy[0], xy[1], obj['size'][2] / 2])


def _ground_and_sky(rng, cam2global, K, size):
    """Float RGB background: sky above the horizon, checkerboard ground."""
    height, width = size
    jj, ii = np.meshgrid(np.arange(width) + 0.5, np.arange(height) + 0.5)
    rays = np.stack([jj, ii, np.ones_like(jj)], -1) @ np.linalg.inv(K).T
    rays = rays @ cam2global[:3, :3].T
    origin = cam2global[:3, 3]
    img = np.empty((height, width, 3), np.float32)
    sky = rays[..., 2] >= -1e-3
    up = np.clip(rays[..., 2] / np.linalg.norm(rays, axis=-1), 0, 1)
    img[sky] = (np.array([150, 185, 225]) + 40 * up[sky, None])
    lam = -origin[2] / np.where(sky, -1.0, rays[..., 2])
    gx = origin[0] + lam * rays[..., 0]
    gy = origin[1] + lam * rays[..., 1]
    check = (np.floor(gx / 4.0) + np.floor(gy / 4.0)) % 2
    haze = np.clip(lam / 80.0, 0, 1)[..., None]
    ground = np.where(check[..., None] > 0, 105.0, 80.0) * np.ones(3)
    ground = ground * (1 - haze) + 150.0 * haze
    img[~sky] = ground[~sky]
    img += rng.normal(0, 3.0, size=img.shape).astype(np.float32)
    return img


def _clip_near(poly, near=0.05):
    """Sutherland-Hodgman clip of a camera-frame polygon to z >= near."""
    out = []
    for k in range(len(poly)):
        a, b = poly[k], poly[(k + 1) % len(poly)]
        ina, inb = a[2] >= near, b[2] >= near
        if ina:
            out.append(a)
        if ina != inb:
            s = (near - a[2]) / (b[2] - a[2])
            out.append(a + s * (b - a))
    return np.array(out)


def box_corners_global(obj, center):
    """(8, 3) corners of an object (gravity centre ``center``) in global."""
    w, length, h = obj['size']
    local = CORNERS * np.array([length, w, h]) - np.array([0, 0, h / 2])
    return local @ rot_z(obj['yaw']).T + center


def render_camera(rng, scene, t_sample, cam2global, K, size):
    """One RGB uint8 image of the scene's objects at ``t_sample``."""
    img = _ground_and_sky(rng, cam2global, K, size)
    global2cam = np.linalg.inv(cam2global)
    items = []
    for obj in scene.objects:
        center = scene.object_state(obj, t_sample)
        cam_pts = box_corners_global(obj, center) @ global2cam[:3, :3].T \
            + global2cam[:3, 3]
        depth = np.linalg.norm(cam_pts.mean(0))
        items.append((depth, obj, cam_pts))
    hue_img = np.zeros((1, 1, 3), np.uint8)
    for _, obj, pts in sorted(items, key=lambda x: -x[0]):
        hue_img[0, 0] = (CLASSES[obj['name']][2] / 2, 200, 210)
        base = cv2.cvtColor(hue_img, cv2.COLOR_HSV2RGB)[0, 0].astype(float)
        box_center = pts.mean(0)
        for face, shade in FACES:
            quad = pts[list(face)]
            normal = quad.mean(0) - box_center
            if np.dot(normal, quad.mean(0)) >= 0:  # back face
                continue
            poly = _clip_near(quad)
            if len(poly) < 3:
                continue
            uv = poly @ K.T
            uv = uv[:, :2] / uv[:, 2:3] - 0.5  # pixel-area -> pixel-centre
            if np.abs(uv).max() > 1e5:
                continue
            colour = np.clip(base * shade, 0, 255)
            cv2.fillPoly(img, [np.round(uv * 16).astype(np.int32)],
                         colour.tolist(), lineType=cv2.LINE_8, shift=4)
    return np.clip(np.round(img), 0, 255).astype(np.uint8)


def generate_nuscenes(out, num_train, num_val, size=(90, 160), seed=0,
                      samples_per_scene=4, extra_objects=3, write_infos=True):
    """Write a synthetic nuScenes root to ``out`` and return its path.

    Args:
        out (str | Path): dataset root.
        num_train (int): training scenes (split ``synthetic_train``).
        num_val (int): validation scenes (split ``synthetic_val``).
        size (tuple[int, int]): camera image ``(H, W)``.
        seed (int): everything is a pure function of the arguments.
        samples_per_scene (int): key frames per scene (>= 2, 0.5 s apart).
        extra_objects (int): objects per scene beyond one per class.
        write_infos (bool): also run the infos converter
            (``nuscenes_infos_{train,val}.json``).
    """
    if samples_per_scene < 2:
        raise ValueError('samples_per_scene must be >= 2 (velocities need a '
                         f'neighbour), got {samples_per_scene}')
    if num_train < 1 or num_val < 1:
        raise ValueError('num_train and num_val count scenes and must be >= 1')
    out = Path(out)
    table_dir = out / VERSION
    table_dir.mkdir(parents=True, exist_ok=True)
    height, width = size
    cams = camera_geometry(size)
    t = {name: [] for name in (
        'category', 'attribute', 'visibility', 'instance', 'sensor',
        'calibrated_sensor', 'ego_pose', 'log', 'scene', 'sample',
        'sample_data', 'sample_annotation', 'map')}
    for name, (category, *_rest) in CLASSES.items():
        t['category'].append(dict(token=token('cat', category), name=category,
                                  description=f'synthetic {name}'))
    for attr in ATTRIBUTES:
        t['attribute'].append(dict(token=token('attr', attr), name=attr,
                                   description=attr))
    for tok, level in VISIBILITY:
        t['visibility'].append(dict(token=tok, level=level,
                                    description=f'visibility {level}'))
    channels = [(c[0], 'camera') for c in CAMERAS] + [(LIDAR[0], 'lidar')]
    for channel, modality in channels:
        t['sensor'].append(dict(token=token('sensor', channel),
                                channel=channel, modality=modality))
    lidar2ego = pose_matrix(rot_z(-math.pi / 2), LIDAR[1])
    for name, cam2ego, K, _ in cams:
        t['calibrated_sensor'].append(dict(
            token=token('calib', name, seed), sensor_token=token('sensor', name),
            translation=cam2ego[:3, 3].tolist(),
            rotation=matrix_quaternion(cam2ego[:3, :3]),
            camera_intrinsic=K.tolist()))
    t['calibrated_sensor'].append(dict(
        token=token('calib', LIDAR[0], seed),
        sensor_token=token('sensor', LIDAR[0]),
        translation=list(LIDAR[1]), rotation=yaw_quaternion(-math.pi / 2),
        camera_intrinsic=[]))
    del lidar2ego
    for channel, _ in channels:
        (out / 'samples' / channel).mkdir(parents=True, exist_ok=True)
    (out / 'maps').mkdir(parents=True, exist_ok=True)
    splits = {}
    log_tokens = []
    scene_id = 0
    for split, count in (('train', num_train), ('val', num_val)):
        names = []
        for _ in range(count):
            names.append(_write_scene(t, out, seed, scene_id, split, cams,
                                      size, samples_per_scene, extra_objects))
            log_tokens.append(token('log', seed, scene_id))
            scene_id += 1
        splits[f'synthetic_{split}'] = names
    map_token = token('map', seed)
    map_file = f'maps/{map_token}.png'
    cv2.imwrite(str(out / map_file), np.zeros((1, 1), np.uint8))
    t['map'].append(dict(token=map_token, log_tokens=log_tokens,
                         category='semantic_prior', filename=map_file))
    for name, rows in t.items():
        _write_json(table_dir / f'{name}.json', rows)
    _write_json(table_dir / 'splits.json', splits)
    del height, width
    if write_infos:
        from projects.bevformer_v2.datasets.converter import \
            create_nuscenes_infos
        create_nuscenes_infos(out, VERSION, out_dir=out)
    return out


def _write_json(path, obj):
    tmp = Path(str(path) + '.tmp')
    tmp.write_text(json.dumps(obj, indent=0))
    tmp.replace(path)


def _write_scene(t, out, seed, scene_id, split, cams, size, num_samples,
                 extra_objects):
    """Append one scene's records to the tables and write its files."""
    rng = np.random.default_rng([seed, 7919, scene_id])
    scene = _Scene(rng, num_samples, extra_objects)
    scene_name = f'synthetic-{scene_id:04d}'
    log_name = f'synthetic-{seed}-{scene_id:04d}'
    scene_token = token('scene', seed, scene_id)
    log_token = token('log', seed, scene_id)
    t['log'].append(dict(token=log_token, logfile=log_name, vehicle='synthetic',
                         date_captured='2026-01-01', location='synthetic'))
    t0 = 1_600_000_000_000_000 + scene_id * 100_000_000
    sample_tokens = [token('sample', seed, scene_id, k)
                     for k in range(num_samples)]
    channels = [(name, cam2ego, K, offset) for name, cam2ego, K, offset in cams]
    channels.append((LIDAR[0], None, None, 0))
    for k, sample_tok in enumerate(sample_tokens):
        ts = t0 + k * SAMPLE_PERIOD_US
        t['sample'].append(dict(
            token=sample_tok, timestamp=ts, scene_token=scene_token,
            prev=sample_tokens[k - 1] if k else '',
            next=sample_tokens[k + 1] if k + 1 < num_samples else ''))
        t_sample = k * SAMPLE_PERIOD_US * 1e-6
        for name, cam2ego, K, offset in channels:
            sd_ts = ts + offset
            ego2global = scene.ego_pose((sd_ts - t0) * 1e-6)
            pose_tok = token('pose', seed, scene_id, k, name)
            t['ego_pose'].append(dict(
                token=pose_tok, timestamp=sd_ts,
                rotation=matrix_quaternion(ego2global[:3, :3]),
                translation=ego2global[:3, 3].tolist()))
            stem = f'{log_name}__{name}__{sd_ts}'
            if K is None:
                filename = f'samples/{name}/{stem}.pcd.bin'
                pts = np.array([[5, 0, -1.8, 10, 0], [-5, 0, -1.8, 10, 0],
                                [0, 5, -1.8, 10, 0], [0, -5, -1.8, 10, 0]],
                               np.float32)
                pts.tofile(out / filename)
                fmt, hw = 'pcd', (0, 0)
            else:
                filename = f'samples/{name}/{stem}.jpg'
                img_rng = np.random.default_rng([seed, scene_id, k, offset])
                rgb = render_camera(img_rng, scene, t_sample,
                                    ego2global @ cam2ego, K, size)
                write_image(out / filename, rgb, quality=92)
                fmt, hw = 'jpg', size
            sd_tok = token('sd', seed, scene_id, k, name)
            t['sample_data'].append(dict(
                token=sd_tok, sample_token=sample_tok, ego_pose_token=pose_tok,
                calibrated_sensor_token=token('calib', name, seed),
                timestamp=sd_ts, fileformat=fmt, is_key_frame=True,
                height=hw[0], width=hw[1], filename=filename,
                prev=token('sd', seed, scene_id, k - 1, name) if k else '',
                next=(token('sd', seed, scene_id, k + 1, name)
                      if k + 1 < num_samples else '')))
    for j, obj in enumerate(scene.objects):
        inst_tok = token('instance', seed, scene_id, j)
        ann_toks = [token('ann', seed, scene_id, j, k)
                    for k in range(num_samples)]
        category = CLASSES[obj['name']][0]
        t['instance'].append(dict(
            token=inst_tok, category_token=token('cat', category),
            nbr_annotations=num_samples, first_annotation_token=ann_toks[0],
            last_annotation_token=ann_toks[-1]))
        attr = attribute_for(obj['name'], obj['speed'])
        for k, ann_tok in enumerate(ann_toks):
            center = scene.object_state(obj, k * SAMPLE_PERIOD_US * 1e-6)
            ego = scene.ego_pose(k * SAMPLE_PERIOD_US * 1e-6)
            dist = float(np.linalg.norm(center[:2] - ego[:2, 3]))
            w, length, h = obj['size']
            t['sample_annotation'].append(dict(
                token=ann_tok, sample_token=sample_tokens[k],
                instance_token=inst_tok, visibility_token=obj['visibility'],
                attribute_tokens=[token('attr', attr)] if attr else [],
                translation=center.tolist(), size=[w, length, h],
                rotation=yaw_quaternion(obj['yaw']),
                prev=ann_toks[k - 1] if k else '',
                next=ann_toks[k + 1] if k + 1 < num_samples else '',
                num_lidar_pts=max(1, int(4000 / max(dist, 1.0) ** 2)),
                num_radar_pts=int(dist < 40) * (1 + j % 3)))
    t['scene'].append(dict(
        token=scene_token, log_token=log_token, nbr_samples=num_samples,
        first_sample_token=sample_tokens[0],
        last_sample_token=sample_tokens[-1], name=scene_name,
        description=f'synthetic {split} scene {scene_id}'))
    return scene_name
