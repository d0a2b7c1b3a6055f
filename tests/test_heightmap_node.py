"""The heightmap node through real rclpy/DDS: simulated MID-360 + odometry in, 50 Hz policy heightmap out."""

from __future__ import annotations

import time

import mujoco
import numpy as np
import pytest
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from nav_msgs.msg import Odometry
from rclpy.executors import SingleThreadedExecutor
from sensor_msgs.msg import JointState, PointCloud2
from std_msgs.msg import String

from hsi_kernel.heightmap.message import decode_heightmap_msg, stamp_to_sec
from hsi_kernel.heightmap.pointcloud import encode_xyz
from hsi_kernel.heightmap.sampler import HeightmapSpec, sample_heightmap, terrain_height_fn
from hsi_robot_nodes import defaults
from hsi_robot_nodes.bench.heightmap_walk import ScriptedRobot
from hsi_robot_nodes.heightmap.tf_dds import DdsTransformStamped, TfReader, TfTransform, TfWriter, dds_topic
from hsi_robot_nodes.nodes.heightmap_node import build_node
from hsi_robot_nodes.nodes.policy_node import STATUS_QOS as POLICY_STATUS_QOS
from hsi_sim.lidar import LidarConfig, SimLidar, SimLidarPublisher, SimOdometry


@pytest.fixture(scope="module")
def recording():
    """2.5 s of walking on flat ground: (points, odom position, odom quat xyzw, q, true torso z) per scan."""
    robot = ScriptedRobot("flat")
    lidar = SimLidar(robot.model, LidarConfig(points_per_scan=12000))
    odom = SimOdometry()
    out = []
    for k in range(25):
        t = 0.1 * k
        q = robot.joint_q(t)
        robot.pose(np.array([-1.0 + 0.8 * t, 0.0]), 0.0, q)
        pts = lidar.scan(robot.data)
        pos, R = lidar.sensor_pose(robot.data)
        p, Rc = odom.odometry(pos, R)
        quat = np.zeros(4)
        mujoco.mju_mat2Quat(quat, Rc.reshape(-1))
        out.append((pts, p, np.array([quat[1], quat[2], quat[3], quat[0]]), q, robot.torso_pose()[0][2]))
    return out, robot.contract.joint_names


class Sensors:
    """Plays the recording as FAST-LIO2 would publish it, and listens to the node's outputs."""

    def __init__(self, ctx, recording, joint_names):
        self.node = rclpy.create_node("fake_fastlio", context=ctx)
        self.pub_cloud = self.node.create_publisher(PointCloud2, defaults.POINTS, 10)
        self.pub_odom = self.node.create_publisher(Odometry, defaults.ODOMETRY, 10)
        self.pub_joints = self.node.create_publisher(JointState, defaults.JOINT_STATES, 10)
        self.maps, self.arrivals, self.diags = [], [], []
        self.node.create_subscription(PointCloud2, defaults.HEIGHTMAP, self._on_map, 10)
        self.node.create_subscription(
            DiagnosticArray, defaults.DIAGNOSTICS, lambda m: self.diags.append(m), 10
        )
        self.recording, self.names, self.k = recording, joint_names, 0
        self.frame = "body"
        self.playing = False
        self.tf: TfWriter | None = None  # set: odometry goes out as /tf instead of /Odometry
        self.tf_parent = "camera_init"
        self.send_odometry = True
        self._joints_sent = False
        self.node.create_timer(0.05, self._play)

    def _on_map(self, msg):
        self.maps.append(msg)
        self.arrivals.append(time.monotonic())

    def _play(self):
        """Every 0.1 s: the joint state of a scan, then 50 ms later its odometry and cloud. The self filter
        uses the newest joint state when a scan is fused; the bridge sends them at 500 Hz on the robot, this
        10 Hz playback sends each one ahead so no race between callbacks can pair a scan with the last one."""
        if not self.playing or self.k >= len(self.recording):
            return
        pts, p, quat, q, _ = self.recording[self.k]
        stamp = self.node.get_clock().now().to_msg()
        if not self._joints_sent:
            js = JointState(name=list(self.names), position=[float(v) for v in q])
            js.header.stamp = stamp
            self.pub_joints.publish(js)
            self._joints_sent = True
            return
        self._joints_sent = False
        self.k += 1
        if self.tf is not None and self.send_odometry:
            other = TfTransform(stamp_to_sec(stamp), "body", "livox", np.zeros(3), np.array([0, 0, 0, 1.0]))
            self.tf.publish([other, TfTransform(stamp_to_sec(stamp), self.tf_parent, "body", p, quat)])
        elif self.send_odometry:
            od = Odometry()
            od.header.stamp, od.header.frame_id, od.child_frame_id = stamp, "camera_init", "body"
            pp, oo = od.pose.pose.position, od.pose.pose.orientation
            pp.x, pp.y, pp.z = (float(v) for v in p)
            oo.x, oo.y, oo.z, oo.w = (float(v) for v in quat)
            self.pub_odom.publish(od)
        self.pub_cloud.publish(encode_xyz(pts, self.frame, stamp))


def _spin(ex, seconds):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        ex.spin_once(timeout_sec=0.002)


def test_node_publishes_policy_heightmap_at_50hz(ctx, recording):
    rec, names = recording
    node = build_node(context=ctx)
    sensors = Sensors(ctx, rec, names)
    ex = SingleThreadedExecutor(context=ctx)
    ex.add_node(node)
    ex.add_node(sensors.node)
    spec = HeightmapSpec()
    try:
        _spin(ex, 0.5)  # no odometry yet: the node still publishes, flagged stale, all fill
        assert sensors.maps, "no heightmap published"
        values, valid, _, stale = decode_heightmap_msg(sensors.maps[-1], spec)
        assert stale and not valid.any() and np.all(values == spec.fill)

        sensors.playing = True
        _spin(ex, 2.7)
        n0 = len(sensors.arrivals)
        t0 = time.monotonic()
        _spin(ex, 1.0)
        rate = (len(sensors.arrivals) - n0) / (time.monotonic() - t0)
        values, valid, stamp, stale = decode_heightmap_msg(sensors.maps[-1], spec)
        assert 40.0 < rate < 60.0, f"heightmap at {rate:.1f} Hz"
        assert node.core.counts["scans"] >= 20
        # after 2.4 s of walking the grid is known and right: torso height above the floor
        assert valid.mean() > 0.9
        np.testing.assert_allclose(values[valid], rec[-1][4], atol=0.04)
        # playback finished: the map goes stale once odometry is older than its timeout
        _spin(ex, 0.5)
        values, valid, _, stale = decode_heightmap_msg(sensors.maps[-1], spec)
        assert stale and valid.mean() > 0.9  # still shown, but flagged
        assert any(s.message != "ok" for d in sensors.diags for s in d.status)
    finally:
        ex.shutdown()
        node.destroy_node()
        sensors.node.destroy_node()


def test_node_rejects_unknown_frame_and_bad_parameters(ctx, recording):
    rec, names = recording
    node = build_node(context=ctx, rate_hz=50.0)
    sensors = Sensors(ctx, rec[:6], names)
    sensors.frame = "livox_frame"
    ex = SingleThreadedExecutor(context=ctx)
    ex.add_node(node)
    ex.add_node(sensors.node)
    try:
        sensors.playing = True
        _spin(ex, 1.2)
        assert node.core.counts["unknown_frame"] >= 3
        assert node.core.counts["scans"] == 0
        values, valid, _, stale = decode_heightmap_msg(sensors.maps[-1], HeightmapSpec())
        assert stale and not valid.any()
        # a policy with another grid spec refuses this map instead of reading it wrongly
        with pytest.raises(ValueError, match="spec"):
            decode_heightmap_msg(sensors.maps[-1], HeightmapSpec(resolution=0.05))
        keys = {kv.key: kv.value for d in sensors.diags for s in d.status for kv in s.values}
        assert int(keys.get("unknown_frame", 0)) >= 1
    finally:
        ex.shutdown()
        node.destroy_node()
        sensors.node.destroy_node()
    with pytest.raises(ValueError, match="unknown parameters"):
        build_node(context=ctx, sise=11)
    with pytest.raises(ValueError, match="rate_hz"):
        build_node(context=ctx, rate_hz=0.0)


def test_sim_lidar_publisher_feeds_the_node(ctx):
    """Simulated sensors as ``bringup --sim`` would run them: a moving simulator, FAST-LIO2 topics, node."""
    robot = ScriptedRobot("kerb")
    robot.pose(np.array([-1.0, 0.0]), 0.0, robot.contract.default_q)
    pub = SimLidarPublisher(robot.model, robot.data, ctx, LidarConfig(points_per_scan=12000))
    node = build_node(context=ctx)
    walker = rclpy.create_node("walker", context=ctx)
    t0 = time.monotonic()

    def walk():  # the "physics thread": the robot walks towards the kerb at 0.8 m/s
        x = -1.0 + 0.8 * min(time.monotonic() - t0, 2.5)
        robot.pose(np.array([x, 0.0]), 0.0, robot.contract.default_q)

    walker.create_timer(0.02, walk)
    maps = []
    walker.create_subscription(PointCloud2, defaults.HEIGHTMAP, maps.append, 10)
    ex = SingleThreadedExecutor(context=ctx)
    for n in (pub.node, node, walker):
        ex.add_node(n)
    try:
        _spin(ex, 3.0)
        assert pub.scans >= 20 and node.core.counts["scans"] >= 20
        values, valid, _, stale = decode_heightmap_msg(maps[-1], HeightmapSpec())
        assert not stale and valid.mean() > 0.9
        torso, yaw = robot.torso_pose()
        truth, _ = sample_heightmap(terrain_height_fn(robot.scene.terrain), torso, np.array(yaw))
        err = values[valid] - truth[valid]
        assert np.sqrt(np.mean(err**2)) < 0.05  # the robot moved since the last scan: loose bound
    finally:
        ex.shutdown()
        pub.destroy()
        node.destroy_node()
        walker.destroy_node()


def test_tf_wire_format_matches_ros_transform_stamped(ctx, ros_domain):
    """The /tf reader's element type against rclpy's own geometry_msgs/TransformStamped, both directions."""
    from cyclonedds.core import Policy, Qos
    from cyclonedds.domain import DomainParticipant
    from cyclonedds.pub import DataWriter
    from cyclonedds.sub import DataReader
    from cyclonedds.topic import Topic
    from geometry_msgs.msg import TransformStamped

    node = rclpy.create_node("tf_wire", context=ctx)
    pub = node.create_publisher(TransformStamped, "/hsi_tf_wire_a", 10)
    got: list[TransformStamped] = []
    node.create_subscription(TransformStamped, "/hsi_tf_wire_b", got.append, 10)
    dp = DomainParticipant(ros_domain)
    qos = Qos(Policy.Reliability.Reliable(max_blocking_time=100_000_000), Policy.History.KeepLast(10))
    reader = DataReader(dp, Topic(dp, dds_topic("/hsi_tf_wire_a"), DdsTransformStamped), qos=qos)
    writer = DataWriter(dp, Topic(dp, dds_topic("/hsi_tf_wire_b"), DdsTransformStamped), qos=qos)
    ex = SingleThreadedExecutor(context=ctx)
    ex.add_node(node)
    sent = TfTransform(
        12.000000345, "camera_init", "body", np.array([1.5, -0.25, 3.0]), np.array([0.0, 0.0, 0.6, 0.8])
    )
    from hsi_robot_nodes.heightmap.tf_dds import to_message

    dds_msg = to_message([sent]).transforms[0]
    received = []
    try:
        end = time.monotonic() + 5.0
        while time.monotonic() < end and not (received and got):
            m = TransformStamped()
            m.header.stamp.sec, m.header.stamp.nanosec, m.header.frame_id = 7, 500, "odom"
            m.child_frame_id = "base"
            m.transform.translation.x, m.transform.translation.z = 0.5, -2.0
            m.transform.rotation.y, m.transform.rotation.w = 0.6, 0.8
            pub.publish(m)
            writer.write(dds_msg)
            ex.spin_once(timeout_sec=0.05)
            received += list(reader.take(N=10))
        assert received and got, "no exchange between rclpy and the /tf wire types"
        r = received[0]
        assert (r.header.stamp.sec, r.header.stamp.nanosec, r.header.frame_id, r.child_frame_id) == (
            7,
            500,
            "odom",
            "base",
        )
        assert (
            r.transform.translation.x,
            r.transform.translation.z,
            r.transform.rotation.y,
            r.transform.rotation.w,
        ) == (0.5, -2.0, 0.6, 0.8)
        g = got[0]
        assert (g.header.stamp.sec, g.header.stamp.nanosec, g.header.frame_id, g.child_frame_id) == (
            12,
            345,
            "camera_init",
            "body",
        )
        assert (g.transform.translation.x, g.transform.translation.y, g.transform.translation.z) == (
            1.5,
            -0.25,
            3.0,
        )
        assert (g.transform.rotation.z, g.transform.rotation.w) == (0.6, 0.8)
    finally:
        ex.shutdown()
        node.destroy_node()


def test_node_with_tf_odometry_builds_the_map_and_flags_missing_tf(ctx, recording, ros_domain):
    rec, names = recording
    node = build_node(context=ctx, odom_source="tf")
    sensors = Sensors(ctx, rec, names)
    sensors.tf = TfWriter(ros_domain)
    ex = SingleThreadedExecutor(context=ctx)
    ex.add_node(node)
    ex.add_node(sensors.node)
    spec = HeightmapSpec()
    try:
        sensors.playing = True
        end = time.monotonic() + 8.0
        while sensors.k < len(rec) and time.monotonic() < end:  # the whole 2.5 s walk, however loaded
            _spin(ex, 0.1)
        _spin(ex, 0.05)
        assert node.core.counts["scans"] >= 20, node.core.counts
        values, valid, _, stale = decode_heightmap_msg(sensors.maps[-1], spec)
        assert not stale and valid.mean() > 0.9
        np.testing.assert_allclose(values[valid], rec[-1][4], atol=0.05)
        # the other transform of the tree (body -> livox) is ignored, not counted as bad input
        assert node.core.counts["unknown_frame"] == 0
        # TF stops (clouds would go on): the map is flagged stale once the transform is too old
        sensors.k, sensors.send_odometry = 0, False
        _spin(ex, 0.6)
        _, valid, _, stale = decode_heightmap_msg(sensors.maps[-1], spec)
        assert stale and "odometry is" in node.core.stale_reason(node._now())
    finally:
        ex.shutdown()
        node.destroy_node()
        sensors.node.destroy_node()
        sensors.tf.close()


def test_node_with_tf_in_the_wrong_parent_frame_stays_stale(ctx, recording, ros_domain):
    rec, names = recording
    node = build_node(context=ctx, odom_source="tf")
    sensors = Sensors(ctx, rec[:8], names)
    sensors.tf = TfWriter(ros_domain)
    sensors.tf_parent = "map"
    ex = SingleThreadedExecutor(context=ctx)
    ex.add_node(node)
    ex.add_node(sensors.node)
    try:
        sensors.playing = True
        _spin(ex, 1.0)
        assert node.core.counts["unknown_frame"] >= 3 and node.core.counts["scans"] == 0
        _, valid, _, stale = decode_heightmap_msg(sensors.maps[-1], HeightmapSpec())
        assert stale and not valid.any() and node.core.stale_reason(node._now()) == "no odometry"
        # the latched status names the input: a reader that joins now (the policy node's QoS) still gets it
        got: list[str] = []
        sensors.node.create_subscription(
            String, defaults.HEIGHTMAP_STATUS, lambda m: got.append(m.data), POLICY_STATUS_QOS
        )
        _spin(ex, 0.5)
        assert got == ["odometry: no odometry"]
    finally:
        ex.shutdown()
        node.destroy_node()
        sensors.node.destroy_node()
        sensors.tf.close()
    with pytest.raises(ValueError, match="odom_source"):
        build_node(context=ctx, odom_source="gps")
    reader = TfReader(ros_domain)  # nothing published: polling is empty, never blocks
    assert reader.poll() == []
    reader.close()
