"""Simulated head LiDAR (Livox MID-360-like) and FAST-LIO2-like odometry for the MuJoCo G1.

Why: the heightmap node must be testable end to end without hardware, against a ground truth. The scan is
ray-cast with ``mujoco.mj_multiRay`` from the model's ``mid360`` site (mounted upside down on the torso, so
the sensor's -7..52 deg vertical field looks 7 deg up to 52 deg DOWN in the world). Ray directions follow a
non-repeating low-discrepancy sequence (Roberts' R2) that continues from scan to scan, so like the real
MID-360 the coverage fills in over time instead of repeating the same lines. The robot's own geoms are
visible (the real sensor sees the arms), only the body carrying the sensor is excluded; ``see_robot=False``
casts against the terrain (geom group 0) only.

Odometry follows FAST-LIO2 conventions: the pose of the LiDAR ("body") in ``camera_init``, the LiDAR frame at
start (upside down here). Drift is a world-frame error transform that grows with distance travelled (a random
but fixed direction per run, seeded) plus white noise, so accuracy benchmarks see realistic registration
error. Scans are ray-cast at one instant (FAST-LIO2 deskews real scans; motion distortion is not modelled).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import mujoco
import numpy as np

from hsi_kernel.contract import LIDAR_SITE

_PHI2 = 1.32471795724474602596  # plastic number: R2 low-discrepancy sequence
_A1, _A2 = 1.0 / _PHI2, 1.0 / _PHI2**2


@dataclass(frozen=True)
class LidarConfig:
    """MID-360 figures (Livox datasheet): 10 Hz, ~200k points/s, 360 x (-7..52) deg, <= 2 cm range error."""

    rate_hz: float = 10.0
    points_per_scan: int = 20000
    elevation_min_deg: float = -7.0
    elevation_max_deg: float = 52.0
    range_min: float = 0.1
    range_max: float = 40.0
    range_sigma: float = 0.02
    see_robot: bool = True
    seed: int = 0

    def __post_init__(self) -> None:
        if self.points_per_scan < 1 or self.rate_hz <= 0:
            raise ValueError("lidar needs points_per_scan >= 1 and a positive rate_hz")
        if not (-90 <= self.elevation_min_deg < self.elevation_max_deg <= 90):
            raise ValueError("lidar elevation limits must satisfy -90 <= min < max <= 90 degrees")


class SimLidar:
    """Ray-casts one scan at a time from the sensor site of a compiled scene (model + data)."""

    def __init__(self, model: mujoco.MjModel, config: LidarConfig | None = None, site: str = LIDAR_SITE):
        self.model = model
        self.config = config or LidarConfig()
        self.site = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_SITE, site)
        if self.site < 0:
            raise ValueError(f"the scene has no site '{site}' to mount the LiDAR on")
        self._body = int(model.site_bodyid[self.site])
        self._rng = np.random.default_rng(self.config.seed)
        self._index = 0
        self.last_geomid = np.zeros(0, dtype=np.int32)
        n = self.config.points_per_scan
        self._geomid = np.zeros(n, dtype=np.int32)
        self._dist = np.zeros(n)
        self._groups = np.array([1, 1, 1, 1, 1, 1] if self.config.see_robot else [1, 0, 0, 0, 0, 0], np.uint8)

    def directions(self, rays: int | None = None) -> np.ndarray:
        """The next ``rays`` (default: a whole scan) unit ray directions (N, 3) in the sensor frame (advances
        the pattern)."""
        c = self.config
        rays = c.points_per_scan if rays is None else rays
        k = self._index + np.arange(rays, dtype=np.float64)
        self._index += rays
        u, v = (0.5 + _A1 * k) % 1.0, (0.5 + _A2 * k) % 1.0
        az = 2 * np.pi * u
        s0, s1 = math.sin(math.radians(c.elevation_min_deg)), math.sin(math.radians(c.elevation_max_deg))
        el = np.arcsin(s0 + (s1 - s0) * v)  # uniform over the sphere band
        ce = np.cos(el)
        return np.column_stack([ce * np.cos(az), ce * np.sin(az), np.sin(el)])

    def sensor_pose(self, data: mujoco.MjData) -> tuple[np.ndarray, np.ndarray]:
        """World position (3,) and rotation (3, 3) of the sensor (``data`` must be forward-computed)."""
        return data.site_xpos[self.site].copy(), data.site_xmat[self.site].reshape(3, 3).copy()

    def scan(self, data: mujoco.MjData, rays: int | None = None) -> np.ndarray:
        """One scan, or its next ``rays`` rays: (M, 3) float32 points in the sensor frame (misses and
        out-of-range returns dropped)."""
        c = self.config
        rays = c.points_per_scan if rays is None else rays
        if not 1 <= rays <= c.points_per_scan:
            raise ValueError(f"rays must be 1..{c.points_per_scan}, not {rays}")
        dirs = self.directions(rays)
        pos, R = self.sensor_pose(data)
        world = np.ascontiguousarray((dirs @ R.T).reshape(-1))
        geomid, dist = self._geomid[:rays], self._dist[:rays]
        mujoco.mj_multiRay(
            self.model,
            data,
            pos,
            world,
            self._groups,
            True,
            self._body,
            geomid,
            dist,
            None,
            rays,
            c.range_max,
        )
        hit = (geomid >= 0) & (dist >= c.range_min) & (dist <= c.range_max)
        self.last_geomid = geomid[hit].copy()  # which geom each returned point hit (ground truth)
        rng = dist[hit] + self._rng.normal(0.0, c.range_sigma, int(hit.sum()))
        return (dirs[hit] * rng[:, None]).astype(np.float32)


@dataclass(frozen=True)
class OdometryNoise:
    """Drift grows with distance travelled; white noise is added to every reading."""

    drift_xy_per_m: float = 0.01  # m of horizontal error per m travelled (FAST-LIO2: ~0.1-1 %)
    drift_z_per_m: float = 0.005
    drift_yaw_per_m: float = math.radians(0.3)  # rad per m
    noise_xyz: float = 0.003  # m, white
    noise_yaw: float = 0.001  # rad, white
    seed: int = 0


def _yaw_matrix(yaw: float) -> np.ndarray:
    c, s = math.cos(yaw), math.sin(yaw)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


class SimOdometry:
    """FAST-LIO2-like ``/Odometry``: the LiDAR pose in ``camera_init`` (the LiDAR frame at the first call)."""

    def __init__(self, noise: OdometryNoise | None = None):
        self.noise = noise or OdometryNoise()
        rng = np.random.default_rng(self.noise.seed)
        heading = rng.uniform(-np.pi, np.pi)
        self._rate = np.array(
            [
                math.cos(heading) * self.noise.drift_xy_per_m,
                math.sin(heading) * self.noise.drift_xy_per_m,
                rng.choice([-1.0, 1.0]) * self.noise.drift_z_per_m,
            ]
        )
        self._yaw_rate = rng.choice([-1.0, 1.0]) * self.noise.drift_yaw_per_m
        self._rng = rng
        self._start: tuple[np.ndarray, np.ndarray] | None = None
        self._last_pos: np.ndarray | None = None
        self.distance = 0.0

    def reset(self) -> None:
        self._start, self._last_pos, self.distance = None, None, 0.0

    def estimate_world(self, pos: np.ndarray, R: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Drifted, noisy world pose of the sensor for the true pose (pos, R); advances the drift."""
        if self._last_pos is not None:
            self.distance += float(np.linalg.norm(pos - self._last_pos))
        self._last_pos = pos.copy()
        if self._start is None:
            self._start = (pos.copy(), R.copy())
        n = self.noise
        yaw_err = self._yaw_rate * self.distance + self._rng.normal(0.0, n.noise_yaw)
        Rz = _yaw_matrix(yaw_err)
        p0 = self._start[0]
        est_pos = p0 + Rz @ (pos - p0) + self._rate * self.distance + self._rng.normal(0.0, n.noise_xyz, 3)
        return est_pos, Rz @ R

    def odometry(self, pos: np.ndarray, R: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(position, rotation) of the LiDAR body in ``camera_init`` for the true world pose (pos, R)."""
        est_pos, est_R = self.estimate_world(pos, R)
        p0, R0 = self._start  # type: ignore[misc]
        return R0.T @ (est_pos - p0), R0.T @ est_R

    def camera_init_in_world(self) -> tuple[np.ndarray, np.ndarray]:
        """True world pose of ``camera_init`` (for ground-truth comparisons only)."""
        if self._start is None:
            raise ValueError("odometry has not started: call odometry() first")
        return self._start[0].copy(), self._start[1].copy()


def _quat_xyzw(R: np.ndarray) -> np.ndarray:
    q = np.zeros(4)
    mujoco.mju_mat2Quat(q, np.ascontiguousarray(R).reshape(-1))
    return np.array([q[1], q[2], q[3], q[0]])


class SimLidarPublisher:
    """rclpy node publishing the simulated MID-360 and odometry as FAST-LIO2 would, from a running simulator.

    It copies ``qpos`` of the simulator's ``data`` into its own ``MjData`` (the physics thread keeps
    stepping; ray casting never touches its state), ray-casts a scan in ``chunks`` parts and every
    ``1/rate_hz`` publishes
    ``/cloud_registered_body`` (PointCloud2 in ``body``, stamped with the node clock) and ``/Odometry``
    (``camera_init`` -> ``body``, the same stamp). ``bringup --sim`` can add it next to the heightmap node.
    """

    def __init__(
        self,
        model: mujoco.MjModel,
        source_data: mujoco.MjData,
        context=None,
        lidar: LidarConfig | None = None,
        odom: OdometryNoise | None = None,
        cloud_topic: str = "/cloud_registered_body",
        odom_topic: str = "/Odometry",
        odom_frame: str = "camera_init",
        body_frame: str = "body",
        ray_model: mujoco.MjModel | None = None,
        chunks: int = 5,
    ):
        """``ray_model``: the same robot with a cheaper terrain for ray casting (``scene.build_ray_model``);
        it must share ``model``'s qpos layout. Default: cast against ``model`` itself. ``chunks``: parts a
        scan is cast in (see below)."""
        import rclpy
        from nav_msgs.msg import Odometry
        from sensor_msgs.msg import PointCloud2

        ray_model = model if ray_model is None else ray_model
        if ray_model.nq != model.nq:
            raise ValueError("the ray model must share the simulator model's qpos layout")
        self.model, self.source = ray_model, source_data
        self.data = mujoco.MjData(ray_model)
        self.lidar = SimLidar(ray_model, lidar)
        self.odometry = SimOdometry(odom)
        self.frames = (odom_frame, body_frame)
        self.node = rclpy.create_node("sim_lidar", context=context)
        self.pub_cloud = self.node.create_publisher(PointCloud2, cloud_topic, 10)
        self.pub_odom = self.node.create_publisher(Odometry, odom_topic, 10)
        self._odom_type = Odometry
        self.scans = 0
        # a scan is cast in ``chunks`` parts spread over its 100 ms, as the real sensor gathers its points
        # over the frame: one 20k-ray cast holds a core for 5-8 ms, which on a core shared with the physics
        # thread (same real-time priority, round-robin) delayed the simulated LowState by as much
        c = self.lidar.config
        self.chunks = max(1, min(int(chunks), c.points_per_scan))
        self._rays = [
            c.points_per_scan // self.chunks + (i < c.points_per_scan % self.chunks)
            for i in range(self.chunks)
        ]
        self._parts: list[np.ndarray] = []  # world-frame points of this scan's parts so far
        self.node.create_timer(1.0 / (c.rate_hz * self.chunks), self.cast_part)

    def cast_part(self) -> None:
        """Cast the next part of the scan from the robot's current pose; after the last part, publish."""
        self.data.qpos[:] = self.source.qpos
        mujoco.mj_kinematics(self.model, self.data)
        pts = self.lidar.scan(self.data, self._rays[len(self._parts)])
        pos, R = self.lidar.sensor_pose(self.data)
        self._parts.append(pos + pts.astype(np.float64) @ R.T)
        if len(self._parts) == self.chunks:
            self.publish_scan(pos, R)

    def publish_scan(self, pos: np.ndarray, R: np.ndarray) -> None:
        """Publish the gathered parts in the sensor frame at the last part's pose (deskewed with the true
        motion, as FAST-LIO2 deskews with its IMU) and the odometry of that pose."""
        from hsi_kernel.heightmap.pointcloud import encode_xyz

        pts = ((np.concatenate(self._parts) - pos) @ R).astype(np.float32)
        self._parts = []
        p, R = self.odometry.odometry(pos, R)
        stamp = self.node.get_clock().now().to_msg()
        od = self._odom_type()
        od.header.stamp, od.header.frame_id, od.child_frame_id = stamp, self.frames[0], self.frames[1]
        pos, ori = od.pose.pose.position, od.pose.pose.orientation
        pos.x, pos.y, pos.z = (float(v) for v in p)
        ori.x, ori.y, ori.z, ori.w = (float(v) for v in _quat_xyzw(R))
        self.pub_odom.publish(od)
        self.pub_cloud.publish(encode_xyz(pts, self.frames[1], stamp))
        self.scans += 1

    def destroy(self) -> None:
        self.node.destroy_node()
