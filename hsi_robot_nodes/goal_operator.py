"""The operator that walks the robot along a path: goal poses on ``/goal_pose``, anchored at its start.

``/goal_pose`` is in the map frame ``hsi_map`` (the torso at odometry start, z up), the frame in which the
joystick node reads FAST-LIO2's odometry (``frames.torso_in_map``). A path is given in the robot's start frame
(x forward, y left, yaw) as a function of time; the operator anchors it at the torso pose when it begins and
publishes ``path(t + lookahead)`` at 50 Hz, which the joystick node's goal mode turns into the policy's root
target. ``make demo`` and the deploy-side evaluation both drive the stack this way.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from hsi_kernel.frames import quat_xyzw_to_matrix
from hsi_robot_nodes import defaults
from hsi_robot_nodes.joystick.root_command import yaw_from_quat_xyzw


class TimedPath(Protocol):
    """A root path in the start frame: ``path_at(t) -> (x, y, yaw)``, commanded ``lookahead_s`` ahead."""

    lookahead_s: float

    def path_at(self, t: np.ndarray | float) -> np.ndarray: ...


@dataclass(frozen=True)
class KeyframePath:
    """Keyframes (t s, x m, y m, yaw rad) in the start frame, linearly interpolated, held after the last."""

    keyframes: tuple[tuple[float, float, float, float], ...]
    lookahead_s: float = 0.02  # one policy frame ahead, as the policy was trained

    def path_at(self, t: np.ndarray | float) -> np.ndarray:
        k = np.asarray(self.keyframes, dtype=np.float64)
        tt = np.asarray(t, dtype=np.float64)
        return np.stack([np.interp(tt, k[:, 0], k[:, i]) for i in (1, 2, 3)], axis=-1)

    @property
    def goal(self) -> np.ndarray:
        return np.asarray(self.keyframes[-1][1:], dtype=np.float64)


@dataclass(frozen=True)
class PathAnchor:
    """The start frame of a path (x forward, y left at the torso) as a pose in the map frame ``hsi_map``.

    ``/goal_pose`` is in the map frame (the torso at odometry start, z up), which is how the joystick node
    reads FAST-LIO2's odometry too (``frames.torso_in_map``). The path is anchored at the torso pose when the
    policy takes over.
    """

    x: float
    y: float
    yaw: float

    @classmethod
    def from_odometry(cls, p, R, extrinsic: tuple[np.ndarray, np.ndarray]) -> PathAnchor:
        """From FAST-LIO2's LiDAR pose in camera_init and the LiDAR mount (position, rotation in torso)."""
        from hsi_kernel.frames import torso_in_map, yaw_of

        torso, R_torso = torso_in_map(p, R, *extrinsic)
        return cls(float(torso[0]), float(torso[1]), yaw_of(R_torso))

    def goal(self, x: float, y: float, yaw: float) -> tuple[np.ndarray, float]:
        """Position and yaw in the map frame of the pose (x, y, yaw) of the start frame."""
        c, s = math.cos(self.yaw), math.sin(self.yaw)
        return np.array([self.x + c * x - s * y, self.y + s * x + c * y, 0.0]), self.yaw + yaw


class PathOperator:
    """An rclpy node in the bringup's executor: publishes a path's goal poses, records what came back.

    Records (monotonic receive times): odometry, the root target the joystick node published, and the policy
    node's cycle periods (``/policy/timing``).
    """

    def __init__(self, context, path: TimedPath, dof: int, rate_hz: float = 50.0):
        from geometry_msgs.msg import PoseStamped
        from nav_msgs.msg import Odometry
        from rclpy.node import Node
        from std_msgs.msg import Float64MultiArray

        from hsi_kernel.frames import lidar_extrinsic_from_model

        self.path = path
        self.node = Node("evaluation_operator", context=context)
        self._pose_type = PoseStamped
        self.pub_goal = self.node.create_publisher(PoseStamped, defaults.GOAL_POSE, 10)
        self.node.create_subscription(Odometry, defaults.ODOMETRY, self._on_odom, 10)
        self.node.create_subscription(PoseStamped, defaults.ROOT_TARGET, self._on_target, 10)
        self.node.create_subscription(Float64MultiArray, defaults.POLICY_TIMING, self._on_timing, 50)
        from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
        from std_msgs.msg import String

        latched = QoSProfile(
            depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL
        )
        self.node.create_subscription(String, defaults.HEIGHTMAP_STATUS, self._on_status, latched)
        self.heightmap_status = ""  # the heightmap node's latest status: 'ok' or which input is stale
        self.node.create_timer(1.0 / rate_hz, self._tick)
        self._extrinsic = lidar_extrinsic_from_model(dof)  # LiDAR mount in the torso frame
        self._lock = threading.Lock()
        self.odom: tuple[float, np.ndarray, np.ndarray] | None = None  # (t, p, R) latest, camera_init
        self.targets: list[tuple[float, float, float, float]] = []
        self.odom_times: list[float] = []  # one per LiDAR scan (the simulated odometry comes with each)
        self.periods: list[tuple[float, float]] = []
        self.goals_sent = 0
        self._t0: float | None = None
        self._anchor: PathAnchor | None = None

    # ---- inputs ---------------------------------------------------------------------------------------
    def _on_odom(self, msg) -> None:
        p, o = msg.pose.pose.position, msg.pose.pose.orientation
        now = time.monotonic()
        with self._lock:
            self.odom = (now, np.array([p.x, p.y, p.z]), quat_xyzw_to_matrix((o.x, o.y, o.z, o.w)))
        self.odom_times.append(now)

    def _on_status(self, msg) -> None:
        self.heightmap_status = str(msg.data)

    def _on_target(self, msg) -> None:
        p, o = msg.pose.position, msg.pose.orientation
        self.targets.append((time.monotonic(), p.x, p.y, yaw_from_quat_xyzw(o.x, o.y, o.z, o.w)))

    def _on_timing(self, msg) -> None:
        if len(msg.data) >= 1:
            self.periods.append((time.monotonic(), float(msg.data[0])))

    # ---- the path -------------------------------------------------------------------------------------
    def odometry_fresh(self, max_age_s: float = 0.5) -> bool:
        with self._lock:
            return self.odom is not None and time.monotonic() - self.odom[0] <= max_age_s

    def begin(self, t0: float) -> None:
        """Anchor the path at the latest odometry pose and start publishing goals for times since ``t0``."""
        with self._lock:
            if self.odom is None:
                raise RuntimeError("no odometry to anchor the path at")
            _, p, R = self.odom
        self._anchor = PathAnchor.from_odometry(p, R, self._extrinsic)
        self._t0 = t0

    def end(self) -> None:
        self._t0 = None

    def _tick(self) -> None:
        if self._t0 is None or self._anchor is None:
            return
        x, y, yaw = self.path.path_at(time.monotonic() - self._t0 + self.path.lookahead_s)
        pos, yaw = self._anchor.goal(x, y, yaw)
        msg = self._pose_type()
        msg.header.stamp = self.node.get_clock().now().to_msg()
        msg.header.frame_id = "hsi_map"
        msg.pose.position.x, msg.pose.position.y, msg.pose.position.z = (float(v) for v in pos)
        msg.pose.orientation.z, msg.pose.orientation.w = math.sin(yaw / 2), math.cos(yaw / 2)
        self.pub_goal.publish(msg)
        self.goals_sent += 1
