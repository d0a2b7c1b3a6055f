"""Self filtering: with the arms swinging in view of the head LiDAR, no robot point reaches the map."""

from __future__ import annotations

import mujoco
import numpy as np
import pytest

from hsi_robot_nodes.bench.heightmap_walk import ScriptedRobot
from hsi_robot_nodes.heightmap.core import HeightmapCore
from hsi_robot_nodes.heightmap.elevation_map import ElevationMap
from hsi_robot_nodes.heightmap.self_filter import SelfFilter
from hsi_sim.lidar import LidarConfig, SimLidar, SimOdometry


def _quat_xyzw(R: np.ndarray) -> np.ndarray:
    q = np.zeros(4)
    mujoco.mju_mat2Quat(q, R.reshape(-1))
    return np.array([q[1], q[2], q[3], q[0]])


def test_no_robot_points_in_map_with_arms_swinging():
    robot = ScriptedRobot("flat")
    lidar = SimLidar(robot.model, LidarConfig(points_per_scan=20000, see_robot=True, seed=1))
    odom = SimOdometry()
    core = HeightmapCore()
    raw = ElevationMap()  # the same scans without the self filter: proves the arms are in view
    body_of = robot.model.geom_bodyid
    robot_hits = 0
    for k in range(20):  # 2 s, standing, arms swinging at 1 Hz with large amplitude
        t = 0.1 * k
        q = robot.joint_q(t, swing=1.6)
        robot.pose(np.array([0.0, 0.0]), 0.0, q)
        pts = lidar.scan(robot.data)
        is_robot = body_of[lidar.last_geomid] != 0
        robot_hits += int(is_robot.sum())
        pos, R = lidar.sensor_pose(robot.data)
        p, Rc = odom.odometry(pos, R)
        assert core.on_joint_state(t, q) is None
        assert core.on_odometry(t, p, _quat_xyzw(Rc)) is None
        keep = core.self_filter.keep_mask(pts)
        assert not keep[is_robot].any(), "a point on the robot's body passed the self filter"
        assert keep[~is_robot].mean() > 0.99  # and the ground is left alone
        assert core.on_cloud(t, "body", pts) is None
        world = pts.astype(np.float64) @ R.T + pos
        raw.recenter(0.0, 0.0)
        raw.integrate(world, pos, t)
    assert robot_hits > 500
    xyz, _ = core.map.cells_xyz()
    raw_xyz, _ = raw.cells_xyz()
    # map frame = torso frame at start; the floor is ~0.84 m below its origin
    floor = np.median(xyz[:, 2])
    assert np.abs(xyz[:, 2] - floor).max() < 0.06
    assert (raw_xyz[:, 2] > raw_xyz[:, 2].min() + 0.3).sum() > 10  # unfiltered: arms in the map


def test_capsules_follow_the_joint_state():
    sf = SelfFilter(23, inflate=0.0, range_margin=0.0)
    names = sf.contract.joint_names
    q = sf.contract.default_q.copy()
    sf.update(q)
    a_down = sf.a.copy()
    q[names.index("left_shoulder_pitch_joint")] = -1.5  # arm raised forward
    sf.update(q)
    assert np.abs(sf.a - a_down).max() > 0.1
    # a point at the centre of the wrist sphere is inside, one 0.3 m from every capsule is not
    wrist = [
        i
        for i, g in enumerate(sf.geoms)
        if mujoco.mj_id2name(sf.model, mujoco.mjtObj.mjOBJ_GEOM, g) == "left_wrist_yaw_link_col0"
    ][0]
    assert not sf.keep_mask(sf.a[wrist][None, :])[0]
    assert sf.keep_mask(np.array([[0.0, 0.0, -3.0]]))[0]
    with pytest.raises(ValueError, match="finite angles"):
        sf.update(np.full(23, np.nan))
    with pytest.raises(ValueError, match="inflate"):
        SelfFilter(23, inflate=-1.0)
