"""Simulated MID-360 (mj_multiRay from the 'mid360' site) and FAST-LIO2-like odometry."""

from __future__ import annotations

import math

import mujoco
import numpy as np
import pytest

from hsi_robot_nodes.bench.heightmap_walk import ScriptedRobot
from hsi_sim.lidar import LidarConfig, OdometryNoise, SimLidar, SimOdometry


@pytest.fixture(scope="module")
def robot():
    r = ScriptedRobot("flat")
    r.pose(np.array([0.0, 0.0]), 0.0, r.contract.default_q)
    return r


def test_scan_geometry_matches_the_mid360(robot):
    lid = SimLidar(robot.model, LidarConfig(points_per_scan=8000, range_sigma=0.0))
    dirs = lid.directions()
    el = np.degrees(np.arcsin(dirs[:, 2]))
    assert el.min() >= -7.0 - 1e-9 and el.max() <= 52.0 + 1e-9
    az = np.degrees(np.arctan2(dirs[:, 1], dirs[:, 0])) % 360
    assert np.histogram(az, bins=12)[0].min() > 0.8 * 8000 / 12  # all around
    pts = lid.scan(robot.data)
    pos, R = lid.sensor_pose(robot.data)
    world = pts.astype(np.float64) @ R.T + pos
    assert 1.1 < pos[2] < 1.4  # head height
    ground = lid.last_geomid == mujoco.mj_name2id(robot.model, mujoco.mjtObj.mjOBJ_GEOM, "terrain")
    # noise-free ground returns lie on the plane; upside down, the sensor sees 52 deg DOWN, not up
    np.testing.assert_allclose(world[ground, 2], 0.0, atol=1e-5)
    horiz = np.hypot(world[ground, 0] - pos[0], world[ground, 1] - pos[1])
    assert 0.8 < horiz.min() < 1.1  # the blind zone around the feet
    assert ground.sum() > 0.4 * 8000


def test_range_noise_and_non_repeating_pattern(robot):
    exact = SimLidar(robot.model, LidarConfig(points_per_scan=4000, range_sigma=0.0, see_robot=False))
    noisy = SimLidar(robot.model, LidarConfig(points_per_scan=4000, range_sigma=0.02, see_robot=False))
    a, b = exact.scan(robot.data), noisy.scan(robot.data)
    assert a.shape == b.shape
    err = np.linalg.norm(b, axis=1) - np.linalg.norm(a, axis=1)
    assert 0.017 < err.std() < 0.023 and abs(err.mean()) < 0.002
    d1, d2 = exact.directions(), exact.directions()
    assert not np.allclose(d1, d2)  # the next scan looks elsewhere


def test_robot_visibility_switch(robot):
    seen = SimLidar(robot.model, LidarConfig(points_per_scan=20000, see_robot=True))
    blind = SimLidar(robot.model, LidarConfig(points_per_scan=20000, see_robot=False))
    seen.scan(robot.data)
    blind.scan(robot.data)
    body = robot.model.geom_bodyid
    assert (body[seen.last_geomid] != 0).sum() > 20  # the arms/hands are visible from the head
    assert (body[blind.last_geomid] != 0).sum() == 0


def test_odometry_is_in_camera_init_and_drifts_with_distance():
    od = SimOdometry(
        OdometryNoise(
            drift_xy_per_m=0.01,
            drift_z_per_m=0.005,
            drift_yaw_per_m=0.005,
            noise_xyz=0.0,
            noise_yaw=0.0,
            seed=3,
        )
    )
    R0 = np.diag([1.0, -1.0, -1.0])  # upside down
    p0 = np.array([1.0, 2.0, 1.2])
    p, R = od.odometry(p0, R0)
    np.testing.assert_allclose(p, 0.0, atol=1e-12)
    np.testing.assert_allclose(R, np.eye(3), atol=1e-12)
    errs = []
    for k in range(1, 51):  # walk 5 m along world x
        true = p0 + [0.1 * k, 0.0, 0.0]
        p, R = od.odometry(true, R0)
        expect = R0.T @ (true - p0)
        errs.append(np.linalg.norm(p - expect))
    assert od.distance == pytest.approx(5.0)
    assert errs[-1] > errs[9] > 0  # grows with distance
    assert 0.02 < errs[-1] < 0.2  # ~1 % xy + yaw lever arm
    est_yaw = math.atan2((R0 @ R @ R0.T)[1, 0], (R0 @ R @ R0.T)[0, 0])
    assert abs(est_yaw) == pytest.approx(0.025, rel=1e-6)


def test_bad_config():
    with pytest.raises(ValueError, match="elevation"):
        LidarConfig(elevation_min_deg=10, elevation_max_deg=5)
    with pytest.raises(ValueError, match="points_per_scan"):
        LidarConfig(points_per_scan=0)


def test_ray_model_boxes_reproduce_the_stairs_and_rough_terrain_stays_a_heightfield():
    from hsi_sim.scene import build_ray_model, build_scene, terrain_boxes

    scene = build_scene("stairs")
    boxes = terrain_boxes(scene.terrain)
    assert boxes is not None and len(boxes) < 30
    ray = build_ray_model(scene)
    d = mujoco.MjData(ray)
    mujoco.mj_kinematics(ray, d)
    geomid = np.zeros(1, np.int32)
    rng = np.random.default_rng(0)
    for x, y in rng.uniform([-2.5, -2.5], [4.5, 2.5], (300, 2)):
        if np.hypot(x, y) < 0.6:
            continue  # the robot stands there
        dist = mujoco.mj_ray(ray, d, np.array([x, y, 3.0]), np.array([0, 0, -1.0]), None, 1, -1, geomid)
        gx = scene.terrain.height_at(np.array([x, y]))
        # equal except within the one grid cell of a step edge, where the heightfield interpolates
        around = [scene.terrain.height_at(np.array([x + dx, y])) for dx in (-0.02, 0.0, 0.02)]
        near_edge = np.ptp(around) > 1e-6
        if not near_edge:
            assert abs((3.0 - dist) - gx) < 1e-6, (x, y)
    rough = build_scene("rough")
    assert terrain_boxes(rough.terrain) is None and build_ray_model(rough) is rough.model


def test_a_scan_cast_in_parts_equals_one_cast(robot):
    """The simulator casts each scan in parts (SimLidarPublisher.chunks) so no single cast holds a core for
    long; from one pose the parts must give exactly the rays, hits and noise of one whole cast."""
    cfg = LidarConfig(points_per_scan=5000, seed=3)
    whole = SimLidar(robot.model, cfg).scan(robot.data)
    parted = SimLidar(robot.model, cfg)
    parts = [parted.scan(robot.data, rays) for rays in (1000, 1000, 1000, 1000, 1000)]
    np.testing.assert_array_equal(np.concatenate(parts), whole)
    with pytest.raises(ValueError, match="rays must be 1..5000"):
        parted.scan(robot.data, 5001)
