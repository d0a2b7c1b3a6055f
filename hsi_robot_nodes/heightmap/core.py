"""The heightmap node's logic without ROS: odometry + scans in, policy heightmap + health out.

Frames. FAST-LIO2 reports the pose of the LiDAR ("body") in ``camera_init``, the LiDAR frame at start; the
G1's MID-360 is mounted upside down, so ``camera_init`` has z pointing DOWN. The map frame ``M`` is the torso
frame at start: ``T_M_ci = T_torso_lidar`` (the mount extrinsic, read from the model's ``mid360`` site
unless configured). This assumes the torso is upright when odometry starts (the robot stands before the
policy runs); roll/pitch then come from odometry. The torso pose used for the heightmap is
``T_M_torso = T_torso_lidar T_ci_body T_torso_lidar^-1``.

Clouds are accepted in the body frame (``/cloud_registered_body``, registered with the odometry of the same
stamp) or in ``camera_init`` (``/cloud_registered``); any other frame is rejected. Bad input never raises
out of ``on_*``: each returns ``None`` when the data was used or a one-line reason why not, counts it, and
the heightmap is flagged ``stale`` whenever it cannot be trusted (see ``HeightmapCore.stale_state``), and
the output names which input went stale (``ODOMETRY`` or ``LIDAR``) and why, for the operator and the policy
node's fallback (the node publishes it on ``/heightmap/status``).
"""

from __future__ import annotations

import math
from collections import Counter, deque
from dataclasses import dataclass, field

import numpy as np

from hsi_kernel.frames import lidar_extrinsic_from_model, quat_xyzw_to_matrix, torso_in_map, yaw_of
from hsi_kernel.heightmap.sampler import DEFAULT_SPEC, HeightmapSpec, sample_heightmap
from hsi_robot_nodes import defaults
from hsi_robot_nodes.heightmap.elevation_map import ElevationMap, ElevationMapConfig
from hsi_robot_nodes.heightmap.self_filter import SelfFilter


@dataclass(frozen=True)
class HeightmapNodeConfig:
    """Everything the node can be told (ROS parameters map 1:1 onto these names)."""

    spec: HeightmapSpec = DEFAULT_SPEC
    map: ElevationMapConfig = field(default_factory=ElevationMapConfig)
    dof: int = defaults.DOF
    odom_source: str = "odometry"  # "odometry": nav_msgs/Odometry; "tf": /tf odom_frame -> body_frame
    odom_frame: str = "camera_init"  # FAST-LIO2 world frame (registered clouds)
    body_frame: str = "body"  # FAST-LIO2 body frame (body clouds)
    heightmap_frame: str = "torso_yaw"
    map_frame: str = "hsi_map"  # gravity-aligned map frame of the operator view
    odom_timeout_s: float = 0.25  # no odometry for longer -> stale
    cloud_timeout_s: float = 0.35  # no integrated scan for longer -> stale
    max_cloud_odom_dt: float = 0.02  # a body cloud needs odometry within this of its stamp
    max_speed: float = 3.0  # m/s, faster apparent motion is an odometry jump
    max_yaw_rate: float = 6.0  # rad/s
    jump_margin_m: float = 0.05
    self_filter_inflate: float = 0.06
    joint_timeout_s: float = 0.2  # older joint states: fall back to the default pose

    def __post_init__(self) -> None:
        for name in ("odom_timeout_s", "cloud_timeout_s", "max_cloud_odom_dt", "max_speed", "max_yaw_rate"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v > 0):
                raise ValueError(f"heightmap node {name} must be a positive number, got {v!r}")
        if self.odom_source not in ("odometry", "tf"):
            raise ValueError(
                f"heightmap node odom_source must be 'odometry' or 'tf', got {self.odom_source!r}"
            )
        if self.odom_frame == self.body_frame:
            raise ValueError("heightmap node odom_frame and body_frame must differ")


ODOMETRY = "odometry"
LIDAR = "LiDAR cloud"
"""The inputs whose staleness makes the map stale: ``HeightmapOutput.source`` / ``stale_state``."""


def status_text(source: str, reason: str) -> str:
    """The node's status (``/heightmap/status``): ``ok``, or ``<input>: <why>`` (``LiDAR cloud: last scan
    is 0.42 s old``); the policy runner splits it back (``PolicyRunner.update_heightmap``)."""
    return f"{source}: {reason}" if reason else "ok"


@dataclass
class HeightmapOutput:
    values: np.ndarray  # (size*size,) policy values, fill where unknown
    valid: np.ndarray  # (size*size,) bool
    stamp: float  # time of the torso pose used (s); -inf before any odometry
    stale: bool
    reason: str  # why stale ('' when fresh)
    inferred: np.ndarray  # (size*size,) bool: valid by the occlusion fill (ElevationMap.lookup), not seen
    source: str = ""  # the input that went stale (ODOMETRY or LIDAR; '' when fresh)

    @property
    def status(self) -> str:
        return status_text(self.source, self.reason)


@dataclass
class _Pose:
    t: float
    p: np.ndarray  # body in camera_init
    R: np.ndarray


class HeightmapCore:
    """Elevation map + self filter + input checks. Times are seconds on the sensors' clock."""

    def __init__(
        self,
        config: HeightmapNodeConfig | None = None,
        extrinsic: tuple[np.ndarray, np.ndarray] | None = None,
    ):
        self.config = config or HeightmapNodeConfig()
        self.map = ElevationMap(self.config.map)
        self.self_filter = SelfFilter(self.config.dof, self.config.self_filter_inflate)
        p, R = extrinsic if extrinsic is not None else lidar_extrinsic_from_model(self.config.dof)
        self.t_tl, self.R_tl = np.asarray(p, dtype=np.float64), np.asarray(R, dtype=np.float64)
        self._odom: deque[_Pose] = deque(maxlen=64)
        self._pending: tuple[float, str, np.ndarray, float | None] | None = None
        self._last_cloud_t = -math.inf
        self._jump_t = -math.inf
        # receipt times on the caller's clock: staleness is judged on these, so a sensor clock that is not
        # synchronised with the host cannot make a live stream look dead (or a dead one look live)
        self._odom_rx = -math.inf
        self._cloud_rx = -math.inf
        self._joint_t = -math.inf
        self.counts: Counter[str] = Counter()
        self.last_error = ""
        self.last_cloud_rejection = ""  # why the last cloud was not fused ('' once one is)
        self.last_inferred_cells = 0  # policy cells valid by the occlusion fill in the last heightmap

    # ---- helpers --------------------------------------------------------------------------------
    def reject(self, kind: str, reason: str) -> str:
        """Count a rejected input under ``kind`` and remember the reason (reported in diagnostics)."""
        self.counts[kind] += 1
        self.last_error = reason
        return reason

    def torso_pose(self, pose: _Pose) -> tuple[np.ndarray, float]:
        """Torso position in the map frame and its yaw, from a LiDAR pose in camera_init."""
        p, R = torso_in_map(pose.p, pose.R, self.t_tl, self.R_tl)
        return p, yaw_of(R)

    def _pose_at(self, t: float) -> _Pose | None:
        best = min(self._odom, key=lambda o: abs(o.t - t), default=None)
        if best is None or abs(best.t - t) > self.config.max_cloud_odom_dt:
            return None
        return best

    # ---- inputs ---------------------------------------------------------------------------------
    def on_joint_state(self, t: float, q: np.ndarray) -> str | None:
        try:
            self.self_filter.update(q)
        except ValueError as e:
            return self.reject("bad_joint_state", str(e))
        self._joint_t = t
        return None

    def on_odometry(
        self, t: float, position: np.ndarray, quat_xyzw: np.ndarray, received: float | None = None
    ) -> str | None:
        """FAST-LIO2 ``/Odometry``: LiDAR body pose in camera_init at time ``t`` (received at ``received``,
        the caller's clock; default ``t``)."""
        c = self.config
        p = np.asarray(position, dtype=np.float64)
        if not math.isfinite(t) or p.shape != (3,) or not np.all(np.isfinite(p)):
            return self.reject("bad_odometry", f"odometry at t={t} has a non-finite stamp or position")
        try:
            R = quat_xyzw_to_matrix(quat_xyzw)
        except ValueError as e:
            return self.reject("bad_odometry", str(e))
        last = self._odom[-1] if self._odom else None
        if last is not None and t <= last.t:
            return self.reject("odometry_out_of_order", f"odometry stamp {t:.3f} is not after {last.t:.3f}")
        pose = _Pose(t, p, R)
        self._odom_rx = t if received is None else received
        if last is not None:
            dt = t - last.t
            moved = float(np.linalg.norm(p - last.p))
            turned = math.acos(float(np.clip((np.trace(last.R.T @ R) - 1) / 2, -1.0, 1.0)))
            if moved > c.max_speed * dt + c.jump_margin_m or turned > c.max_yaw_rate * dt + 0.05:
                self.map.clear()
                self._jump_t = t
                self._odom.clear()
                self._odom.append(pose)
                self._pending = None
                return self.reject(
                    "odometry_jump",
                    f"odometry jumped {moved:.2f} m / {turned:.2f} rad in {dt:.3f} s: map cleared",
                )
            self.map.propagate(moved, turned, dt)
        self._odom.append(pose)
        if self._pending is not None and abs(self._pending[0] - t) <= c.max_cloud_odom_dt:
            pending, self._pending = self._pending, None
            return self.on_cloud(*pending[:3], received=pending[3])
        return None

    def on_cloud(self, t: float, frame_id: str, xyz: np.ndarray, received: float | None = None) -> str | None:
        """A scan (N, 3) in ``body_frame`` or ``odom_frame`` with stamp ``t`` (received at ``received``)."""
        why = self._on_cloud(t, frame_id, xyz, received)
        if why is not None:
            self.last_cloud_rejection = why
        return why

    def _on_cloud(self, t: float, frame_id: str, xyz: np.ndarray, received: float | None) -> str | None:
        c = self.config
        if frame_id not in (c.body_frame, c.odom_frame):
            return self.reject(
                "unknown_frame", f"cloud in frame '{frame_id}': expected '{c.body_frame}' or '{c.odom_frame}'"
            )
        if not math.isfinite(t):
            return self.reject("bad_stamp", "cloud stamp is not finite")
        if t <= self._last_cloud_t:
            return self.reject(
                "cloud_out_of_order",
                f"cloud stamp {t:.3f} is not after the last scan {self._last_cloud_t:.3f}",
            )
        xyz = np.asarray(xyz)
        if xyz.ndim != 2 or xyz.shape[1] != 3:
            return self.reject("bad_cloud", f"cloud must be (N, 3) points, got {xyz.shape}")
        finite = np.isfinite(xyz).all(axis=1)
        n_finite = int(finite.sum())
        if n_finite < len(xyz):
            self.counts["non_finite_points"] += len(xyz) - n_finite
        if n_finite == 0:
            return self.reject("empty_cloud", f"cloud at t={t:.3f} has no finite points")
        if not self._odom:
            return self.reject("missing_odometry", "no odometry received yet: cannot register the cloud")
        newest = self._odom[-1].t
        if t < newest - c.odom_timeout_s:
            return self.reject(
                "stale_cloud", f"cloud stamp {t:.3f} is {newest - t:.2f} s older than odometry"
            )
        if t < self._jump_t:
            return self.reject("stale_cloud", "cloud predates the last odometry jump")
        pose = self._pose_at(t)
        if pose is None:
            if t > newest:  # its odometry may still come (FAST-LIO2 publishes both per scan)
                if self._pending is not None:
                    self.reject("missing_odometry", f"no odometry for the cloud at {self._pending[0]:.3f}")
                self._pending = (t, frame_id, xyz, received)
                return None
            return self.reject(
                "missing_odometry", f"no odometry within {c.max_cloud_odom_dt} s of cloud stamp {t:.3f}"
            )
        # body -> camera_init -> map, applied inside the map kernel
        R_mb = self.R_tl @ pose.R
        t_mb = self.R_tl @ pose.p + self.t_tl
        # the self filter works in the LiDAR frame
        body = xyz if frame_id == c.body_frame else (xyz - pose.p) @ pose.R
        keep = self.self_filter.keep_mask(body) & finite
        self.counts["self_points"] += int(n_finite - keep.sum())
        torso, _ = self.torso_pose(pose)
        self.map.recenter(torso[0], torso[1])
        self.map.integrate(body, t_mb, t, R_mb, t_mb, keep)
        self._last_cloud_t = t
        self._cloud_rx = t if received is None else received
        self.last_cloud_rejection = ""
        self.counts["scans"] += 1
        return None

    # ---- output ---------------------------------------------------------------------------------
    def stale_reason(self, now: float) -> str:
        """Why the map cannot be trusted now ('' when it can); ``stale_state`` also names the input."""
        return self.stale_state(now)[1]

    def stale_state(self, now: float) -> tuple[str, str]:
        """(the input that went stale: ``ODOMETRY`` or ``LIDAR``, why) or ``("", "")`` when the map is fresh.

        Odometry is judged first: without it no scan can be registered, so a scan that is late because its
        odometry is missing is the odometry's fault. A late scan names the last cloud's rejection, if any
        (clouds that arrive but are not fused, e.g. no odometry at their stamp, against none arriving).
        """
        c = self.config
        if not self._odom:
            return ODOMETRY, "no odometry"
        if now - self._odom_rx > c.odom_timeout_s:
            return ODOMETRY, f"odometry is {now - self._odom_rx:.2f} s old"
        if self._last_cloud_t < self._jump_t:
            return ODOMETRY, "odometry jumped; waiting for a new scan"
        if now - self._cloud_rx > c.cloud_timeout_s:
            why = (
                "no scan yet"
                if self._cloud_rx == -math.inf
                else f"last scan is {now - self._cloud_rx:.2f} s old"
            )
            if self.last_cloud_rejection:
                why += f"; last cloud rejected: {self.last_cloud_rejection}"
            return LIDAR, why
        return "", ""

    def heightmap(self, now: float) -> HeightmapOutput:
        """The policy grid at the latest odometry pose; all-fill and stale before any odometry."""
        spec = self.config.spec
        source, reason = self.stale_state(now)
        if not self._odom:
            return HeightmapOutput(
                np.full(spec.num_cells, spec.fill),
                np.zeros(spec.num_cells, bool),
                -math.inf,
                True,
                reason,
                np.zeros(spec.num_cells, bool),
                source,
            )
        pose = self._odom[-1]
        torso, yaw = self.torso_pose(pose)
        looked: list[np.ndarray] = []

        def height_fn(xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            z, _sigma, ok, inferred = self.map.lookup(xy)
            looked.append(inferred)
            return z, ok

        values, valid = sample_heightmap(height_fn, torso, np.array(yaw), spec)
        inferred = looked[0].reshape(-1)
        self.last_inferred_cells = int(inferred.sum())
        return HeightmapOutput(values, valid, pose.t, bool(reason), reason, inferred, source)

    @property
    def last_cloud_stamp(self) -> float:
        """Stamp of the newest scan fused into the map (-inf before any)."""
        return self._last_cloud_t

    def joint_state_age(self, now: float) -> float:
        """Seconds since the last joint state (``on_joint_state``'s ``t``: pass the receipt time)."""
        return now - self._joint_t

    def use_default_pose_if_old(self, now: float) -> None:
        """Joint states stopped: pose the self filter at the default pose (better than a frozen old pose)."""
        if self.joint_state_age(now) > self.config.joint_timeout_s and math.isfinite(self._joint_t):
            self.self_filter.update(None)
            self._joint_t = -math.inf
