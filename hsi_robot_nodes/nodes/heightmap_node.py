"""rclpy shell around ``heightmap.core``: parameters, topics and timers only (logic in heightmap/).

Subscribes to the LiDAR cloud (sensor_msgs/PointCloud2, FAST-LIO2 ``/cloud_registered_body`` in ``body`` or
``/cloud_registered`` in ``camera_init``), the odometry (nav_msgs/Odometry, ``/Odometry``, camera_init ->
body; or, with ``odom_source: tf``, the ``odom_frame -> body_frame`` transform on ``/tf``, read through
``heightmap/tf_dds.py``) and the joint states (for the self filter). Publishes at ``rate_hz`` (50) the
policy heightmap (PointCloud2, layout in ``heightmap/message.py``; decode with ``decode_heightmap_msg``),
at ``viz_rate_hz`` the whole elevation map for operators (PointCloud2 x, y, z, variance in ``map_frame``) and
at 1 Hz diagnostics (diagnostic_msgs/DiagnosticArray: rejected inputs by kind, stale reason), and on
``status_topic`` (std_msgs/String, reliable and latched) ``ok`` or which input went stale and why
(``core.status_text``), each time that changes and before the first map it concerns: the policy node names
it when it falls back, and the node logs it.
"""

from __future__ import annotations

import math
import re
import sys
import time

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from nav_msgs.msg import Odometry
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from sensor_msgs.msg import JointState, PointCloud2
from std_msgs.msg import String

from hsi_kernel.contract import get_contract
from hsi_kernel.heightmap.message import encode_heightmap_msg, encode_map_msg, stamp_to_sec
from hsi_kernel.heightmap.pointcloud import cloud_xyz
from hsi_kernel.heightmap.sampler import HeightmapSpec
from hsi_robot_nodes import defaults
from hsi_robot_nodes.heightmap.core import HeightmapCore, HeightmapNodeConfig
from hsi_robot_nodes.heightmap.elevation_map import ElevationMapConfig
from hsi_robot_nodes.heightmap.tf_dds import TfReader
from hsi_robot_nodes.nodes.run import run_node

_CFG = HeightmapNodeConfig()
_SPEC = HeightmapSpec()
DEFAULTS = {
    "dof": _CFG.dof,
    "rate_hz": 50.0,
    "viz_rate_hz": 2.0,
    "odom_source": _CFG.odom_source,
    "tf_topic": "/tf",
    "tf_poll_hz": 100.0,
    "size": _SPEC.size,
    "resolution": _SPEC.resolution,
    "fill": _SPEC.fill,
    "map_resolution": _CFG.map.resolution,
    "map_length": _CFG.map.length,
    "occlusion_fill_max_gap": _CFG.map.occlusion_fill_max_gap,
    "odom_frame": _CFG.odom_frame,
    "body_frame": _CFG.body_frame,
    "heightmap_frame": _CFG.heightmap_frame,
    "map_frame": _CFG.map_frame,
    "odom_timeout_s": _CFG.odom_timeout_s,
    "cloud_timeout_s": _CFG.cloud_timeout_s,
    "max_cloud_odom_dt": _CFG.max_cloud_odom_dt,
    "max_speed": _CFG.max_speed,
    "self_filter_inflate": _CFG.self_filter_inflate,
    "cloud_topic": defaults.POINTS,
    "odom_topic": defaults.ODOMETRY,
    "joint_states_topic": defaults.JOINT_STATES,
    "heightmap_topic": defaults.HEIGHTMAP,
    "viz_topic": defaults.HEIGHTMAP_VIZ,
    "status_topic": defaults.HEIGHTMAP_STATUS,
    "diagnostics_topic": defaults.DIAGNOSTICS,
}


STATUS_QOS = QoSProfile(
    depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL
)
"""``/heightmap/status``: a subscriber that joins late still gets the current status."""


def _status_kind(text: str) -> str:
    """The status without its numbers: a new status is published when this changes, not every tick."""
    return re.sub(r"[-+]?\d+(\.\d+)?", "#", text)


class HeightmapNode(Node):
    def __init__(self, context=None, **overrides):
        super().__init__("heightmap_node", context=context)
        unknown = set(overrides) - set(DEFAULTS)
        if unknown:
            self.destroy_node()
            raise ValueError(f"heightmap_node: unknown parameters {sorted(unknown)}")
        for k, v in {**DEFAULTS, **overrides}.items():
            self.declare_parameter(k, v)
        g = lambda k: self.get_parameter(k).value  # noqa: E731
        try:
            rate, viz_rate = float(g("rate_hz")), float(g("viz_rate_hz"))
            tf_poll = float(g("tf_poll_hz"))
            if not (math.isfinite(rate) and rate > 0 and math.isfinite(viz_rate) and viz_rate >= 0):
                raise ValueError(f"rate_hz must be positive and viz_rate_hz >= 0, got {rate}, {viz_rate}")
            if not (math.isfinite(tf_poll) and tf_poll > 0):
                raise ValueError(f"tf_poll_hz must be positive, got {tf_poll}")
            spec = HeightmapSpec(int(g("size")), float(g("resolution")), float(g("fill")))
            cfg = HeightmapNodeConfig(
                spec=spec,
                map=ElevationMapConfig(
                    float(g("map_resolution")),
                    float(g("map_length")),
                    occlusion_fill_max_gap=float(g("occlusion_fill_max_gap")),
                ),
                dof=int(g("dof")),
                odom_source=str(g("odom_source")),
                odom_frame=g("odom_frame"),
                body_frame=g("body_frame"),
                heightmap_frame=g("heightmap_frame"),
                map_frame=g("map_frame"),
                odom_timeout_s=float(g("odom_timeout_s")),
                cloud_timeout_s=float(g("cloud_timeout_s")),
                max_cloud_odom_dt=float(g("max_cloud_odom_dt")),
                max_speed=float(g("max_speed")),
                self_filter_inflate=float(g("self_filter_inflate")),
            )
            self.core = HeightmapCore(cfg)
            self.tf = (
                TfReader(self.context.get_domain_id(), str(g("tf_topic")))
                if cfg.odom_source == "tf"
                else None
            )
        except (ValueError, TypeError) as e:
            self.destroy_node()
            raise ValueError(f"heightmap_node: {e}") from None
        self.contract = get_contract(cfg.dof)
        self.pub_map = self.create_publisher(PointCloud2, g("heightmap_topic"), 10)
        self.pub_viz = self.create_publisher(PointCloud2, g("viz_topic"), 1)
        self.pub_diag = self.create_publisher(DiagnosticArray, g("diagnostics_topic"), 10)
        self.pub_status = self.create_publisher(String, g("status_topic"), STATUS_QOS)
        self.status = ""  # the last status published (status_text)
        self.create_subscription(PointCloud2, g("cloud_topic"), self._on_cloud, qos_profile_sensor_data)
        if self.tf is None:
            self.create_subscription(Odometry, g("odom_topic"), self._on_odom, qos_profile_sensor_data)
        else:
            self.create_timer(1.0 / tf_poll, self._poll_tf)
        self.create_subscription(JointState, g("joint_states_topic"), self._on_joints, 10)
        self._msg = PointCloud2()
        self.publish_times: list[float] = []  # monotonic, for tests and the timing report
        self.publish_log: list[tuple[float, float]] = []  # (node clock, stamp of the newest scan in the map)
        self.create_timer(1.0 / rate, self._tick)
        if viz_rate > 0:
            self.create_timer(1.0 / viz_rate, self._tick_viz)
        self.create_timer(1.0, self._tick_diag)

    def _now(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    def _warn(self, reason: str | None) -> None:
        if reason:
            self.get_logger().warning(reason, throttle_duration_sec=1.0)

    def _on_cloud(self, msg: PointCloud2) -> None:
        try:
            xyz = cloud_xyz(msg)
        except ValueError as e:
            self._warn(self.core.reject("bad_cloud", str(e)))
            return
        self._warn(
            self.core.on_cloud(stamp_to_sec(msg.header.stamp), msg.header.frame_id, xyz, received=self._now())
        )

    def _on_odom(self, msg: Odometry) -> None:
        c = self.core.config
        if msg.header.frame_id != c.odom_frame or (msg.child_frame_id and msg.child_frame_id != c.body_frame):
            self._warn(
                self.core.reject(
                    "unknown_frame",
                    f"odometry {msg.header.frame_id} -> "
                    f"{msg.child_frame_id}: expected {c.odom_frame} -> {c.body_frame}",
                )
            )
            return
        p, o = msg.pose.pose.position, msg.pose.pose.orientation
        self._warn(
            self.core.on_odometry(
                stamp_to_sec(msg.header.stamp),
                np.array([p.x, p.y, p.z]),
                np.array([o.x, o.y, o.z, o.w]),
                received=self._now(),
            )
        )

    def _poll_tf(self) -> None:
        """Odometry from /tf: every ``odom_frame -> body_frame`` transform received since the last poll."""
        c = self.core.config
        now = self._now()
        for tr in self.tf.poll():
            if tr.child != c.body_frame:
                continue  # other frames of the tf tree: not ours
            if tr.parent != c.odom_frame:
                self._warn(
                    self.core.reject(
                        "unknown_frame",
                        f"tf {tr.parent} -> {tr.child}: expected {c.odom_frame} -> {c.body_frame}",
                    )
                )
                continue
            self._warn(self.core.on_odometry(tr.stamp, tr.translation, tr.quat_xyzw, received=now))

    def destroy_node(self) -> None:
        tf = getattr(self, "tf", None)
        if tf is not None:
            tf.close()
        super().destroy_node()

    def _on_joints(self, msg: JointState) -> None:
        index = {n: i for i, n in enumerate(msg.name)}
        try:
            q = np.array([msg.position[index[n]] for n in self.contract.joint_names])
        except (KeyError, IndexError):
            self._warn(self.core.reject("bad_joint_state", "joint state lacks some of the robot's joints"))
            return
        self._warn(self.core.on_joint_state(self._now(), q))  # receipt time: bridges may not stamp

    def _tick(self) -> None:
        now = self._now()
        self.core.use_default_pose_if_old(now)
        out = self.core.heightmap(now)
        status = out.status
        if _status_kind(status) != _status_kind(self.status):  # before the map: a reader has the why first
            self.pub_status.publish(String(data=status))
            if out.reason:
                self.get_logger().warning(f"heightmap stale: {status}")
            elif self.status:
                self.get_logger().info("heightmap fresh again")
            self.status = status
        stamp = out.stamp if math.isfinite(out.stamp) else now
        msg = encode_heightmap_msg(
            out.values,
            out.valid,
            stamp,
            out.stale,
            self.core.config.spec,
            self.core.config.heightmap_frame,
            msg=self._msg,
            inferred=out.inferred,
        )
        self.pub_map.publish(msg)
        self.publish_times.append(time.monotonic())
        self.publish_log.append((now, self.core.last_cloud_stamp))
        del self.publish_times[:-1000]
        del self.publish_log[:-1000]

    def _tick_viz(self) -> None:
        xyz, var = self.core.map.cells_xyz()
        self.pub_viz.publish(encode_map_msg(xyz, var, self._now(), self.core.config.map_frame))

    def _tick_diag(self) -> None:
        reason = self.core.stale_reason(self._now())
        st = DiagnosticStatus(
            name="heightmap_node",
            hardware_id="mid360",
            level=DiagnosticStatus.WARN if reason else DiagnosticStatus.OK,
            message=reason or "ok",
        )
        st.values = [KeyValue(key=k, value=str(v)) for k, v in sorted(self.core.counts.items())]
        st.values.append(KeyValue(key="last_error", value=self.core.last_error))
        st.values.append(KeyValue(key="inferred_cells", value=str(self.core.last_inferred_cells)))
        arr = DiagnosticArray(status=[st])
        arr.header.stamp = self.get_clock().now().to_msg()
        self.pub_diag.publish(arr)


def build_node(context=None, **params) -> HeightmapNode:
    """The node in-process (bringup, tests); one-line ValueError on bad parameters."""
    return HeightmapNode(context=context, **params)


def main(argv: list[str] | None = None) -> int:
    return run_node("heightmap_node", build_node, (ValueError,), argv)


if __name__ == "__main__":
    sys.exit(main())
