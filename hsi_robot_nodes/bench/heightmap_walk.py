"""Scripted walks through a scene with the simulated MID-360 and drifting odometry, scored against the truth.

Used by the accuracy benchmark and the end-to-end tests. The robot is moved kinematically (free joint set
each tick, pelvis at standing height above the highest ground under it, arms swinging) - no controller is
needed to test perception. Each scan: ray-cast from the true sensor pose, odometry from ``SimOdometry``, both
fed to ``HeightmapCore``; the heightmap at the odometry pose is compared with ``sample_heightmap`` on the
true terrain at the true torso pose (the SAME sampler), over the cells the map reports valid.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import mujoco
import numpy as np

from hsi_kernel.contract import NOMINAL_ROOT_HEIGHT, TORSO_LINK, get_contract
from hsi_kernel.heightmap.sampler import sample_heightmap, terrain_height_fn
from hsi_robot_nodes import defaults
from hsi_robot_nodes.heightmap.core import HeightmapCore, HeightmapNodeConfig
from hsi_sim.lidar import LidarConfig, OdometryNoise, SimLidar, SimOdometry
from hsi_sim.scene import build_scene


@dataclass(frozen=True)
class WalkPath:
    """Straight walk: from ``start`` along ``yaw`` at ``speed`` for ``walk_s``, then stand ``stand_s``."""

    start: tuple[float, float]
    yaw: float
    speed: float = 0.8
    walk_s: float = 5.0
    stand_s: float = 0.0


WALKS = {
    "flat": WalkPath((-2.013, 0.011), 0.0, walk_s=5.0),
    "stairs": WalkPath((-0.513, 0.011), 0.0, walk_s=6.5),
    "stairs_down": WalkPath((-1.513, 0.011), 0.0, walk_s=5.0),
    "kerb": WalkPath((-1.013, 0.011), 0.0, walk_s=4.5),
    "bench": WalkPath((2.013, 0.011), math.pi, walk_s=2.4, stand_s=1.0),
}
"""Per scene: a walk that crosses the scene's feature (bench: approach it and stop in front). Starts are off
the 0.02 m terrain grid by a few mm: started on it, the 0.1 m samples land exactly on every step edge at
the same scans, where the true height itself is undefined (the heightfield's 2 cm ramp)."""


@dataclass
class WalkResult:
    scene: str
    times: list[float] = field(default_factory=list)
    errors: list[np.ndarray] = field(default_factory=list)  # est - truth over valid cells, per scan
    coverage: list[float] = field(default_factory=list)  # valid fraction per scan
    inferred: list[np.ndarray] = field(default_factory=list)  # per scan: which scored errors are inferred
    inferred_fraction: list[float] = field(default_factory=list)  # per scan: occlusion-filled fraction
    stale: list[bool] = field(default_factory=list)
    integrate_ms: list[float] = field(default_factory=list)
    points: list[int] = field(default_factory=list)
    self_points_in_map: int = 0

    def summary(self, after_s: float = 2.0) -> dict[str, float]:
        sel = [i for i, t in enumerate(self.times) if t >= after_s]
        err = np.concatenate([self.errors[i] for i in sel]) if sel else np.zeros(0)
        inf = np.concatenate([self.inferred[i] for i in sel]) if sel else np.zeros(0, bool)
        e_obs, e_inf = err[~inf], err[inf]
        inf_frac = float(np.mean([self.inferred_fraction[i] for i in sel])) if sel else 0.0
        return {
            "scans": len(sel),
            "rmse_m": float(np.sqrt(np.mean(err**2))) if err.size else math.nan,
            "p95_abs_m": float(np.percentile(np.abs(err), 95)) if err.size else math.nan,
            "max_abs_m": float(np.max(np.abs(err))) if err.size else math.nan,
            "coverage": float(np.mean([self.coverage[i] for i in sel])) if sel else 0.0,
            "min_coverage": float(np.min([self.coverage[i] for i in sel])) if sel else 0.0,
            "stale_fraction": float(np.mean([self.stale[i] for i in sel])) if sel else 1.0,
            # the occlusion fill's share and its errors alone; "observed" = without the fill
            "observed_coverage": float(np.mean([self.coverage[i] - self.inferred_fraction[i] for i in sel]))
            if sel
            else 0.0,
            "inferred_fraction": inf_frac,
            "observed_rmse_m": float(np.sqrt(np.mean(e_obs**2))) if e_obs.size else math.nan,
            "inferred_rmse_m": float(np.sqrt(np.mean(e_inf**2))) if e_inf.size else math.nan,
            "inferred_p95_abs_m": float(np.percentile(np.abs(e_inf), 95)) if e_inf.size else math.nan,
            "inferred_max_abs_m": float(np.max(np.abs(e_inf))) if e_inf.size else math.nan,
        }


class ScriptedRobot:
    """The G1 in a scene, posed kinematically."""

    def __init__(self, scene_name: str, dof: int = defaults.DOF):
        self.scene = build_scene(scene_name, dof)
        self.model = self.scene.model
        self.data = mujoco.MjData(self.model)
        self.contract = get_contract(dof)
        m = self.model
        jids = [mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_JOINT, n) for n in self.contract.joint_names]
        self._qadr = np.array([m.jnt_qposadr[j] for j in jids])
        self.torso = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_BODY, TORSO_LINK)
        names = self.contract.joint_names
        self._swing = {
            names.index(n): a
            for n, a in (
                ("left_shoulder_pitch_joint", 0.6),
                ("right_shoulder_pitch_joint", -0.6),
                ("left_elbow_joint", 0.4),
                ("right_elbow_joint", 0.4),
            )
        }
        disk = np.linspace(-0.15, 0.15, 7)
        self._disk = np.stack(np.meshgrid(disk, disk), -1).reshape(-1, 2)

    def joint_q(self, t: float, swing: float = 1.0) -> np.ndarray:
        q = self.contract.default_q.copy()
        for i, a in self._swing.items():
            q[i] += swing * a * math.sin(2 * math.pi * 1.0 * t)
        return q

    def pose(self, xy: np.ndarray, yaw: float, q: np.ndarray) -> None:
        ground = float(self.scene.terrain.height_at(xy + self._disk).max())
        d = self.data
        d.qpos[:3] = (xy[0], xy[1], ground + NOMINAL_ROOT_HEIGHT)
        d.qpos[3:7] = (math.cos(yaw / 2), 0.0, 0.0, math.sin(yaw / 2))
        d.qpos[self._qadr] = q
        mujoco.mj_kinematics(self.model, d)

    def torso_pose(self) -> tuple[np.ndarray, float]:
        R = self.data.xmat[self.torso].reshape(3, 3)
        return self.data.xpos[self.torso].copy(), math.atan2(R[1, 0], R[0, 0])


def run_walk(
    scene_name: str,
    path: WalkPath | None = None,
    lidar: LidarConfig | None = None,
    odom: OdometryNoise | None = None,
    config: HeightmapNodeConfig | None = None,
    swing: float = 1.0,
    max_scans: int | None = None,
) -> WalkResult:
    """Walk ``path`` (default: ``WALKS[scene_name]``) scanning at the LiDAR rate; score every scan."""
    path = path or WALKS[scene_name]
    robot = ScriptedRobot(scene_name, (config or HeightmapNodeConfig()).dof)
    lid = SimLidar(robot.model, lidar)
    od = SimOdometry(odom)
    core = HeightmapCore(config)
    truth_fn = terrain_height_fn(robot.scene.terrain)
    spec = core.config.spec
    res = WalkResult(scene_name)
    direction = np.array([math.cos(path.yaw), math.sin(path.yaw)])
    dt = 1.0 / lid.config.rate_hz
    n = int(round((path.walk_s + path.stand_s) / dt)) + 1
    if max_scans is not None:
        n = min(n, max_scans)
    for k in range(n):
        t = k * dt
        xy = np.asarray(path.start) + direction * path.speed * min(t, path.walk_s)
        q = robot.joint_q(t, swing)
        robot.pose(xy, path.yaw, q)
        pts = lid.scan(robot.data)
        pos, R = lid.sensor_pose(robot.data)
        p_ci, R_ci = od.odometry(pos, R)
        quat = np.zeros(4)
        mujoco.mju_mat2Quat(quat, R_ci.reshape(-1))
        core.on_joint_state(t, q)
        core.on_odometry(t, p_ci, np.array([quat[1], quat[2], quat[3], quat[0]]))
        t0 = time.perf_counter()
        core.on_cloud(t, core.config.body_frame, pts)
        res.integrate_ms.append((time.perf_counter() - t0) * 1e3)
        res.points.append(len(pts))
        out = core.heightmap(t)
        torso, yaw = robot.torso_pose()
        truth, tvalid = sample_heightmap(truth_fn, torso, np.array(yaw), spec)
        use = out.valid & tvalid
        res.times.append(t)
        res.errors.append(out.values[use] - truth[use])
        res.inferred.append(out.inferred[use])
        res.inferred_fraction.append(float(out.inferred.mean()))
        res.coverage.append(float(out.valid.mean()))
        res.stale.append(out.stale)
    res.self_points_in_map = int(core.counts["self_points"])
    return res
