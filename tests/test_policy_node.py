"""The policy node through real rclpy/DDS: JointState + Imu in, PD targets out at ~50 Hz; refusals."""

from __future__ import annotations

import time

import numpy as np
import pytest
import rclpy
from rclpy.executors import SingleThreadedExecutor
from sensor_msgs.msg import Imu, JointState, PointCloud2
from std_msgs.msg import Float64MultiArray, String

from hsi_kernel.contract import get_contract
from hsi_kernel.heightmap.message import encode_heightmap_msg
from hsi_kernel.heightmap.sampler import HeightmapSpec
from hsi_kernel.msgs import pd_targets
from hsi_kernel.observation import make_layout
from hsi_kernel.paths import models_dir
from hsi_robot_nodes import defaults
from hsi_robot_nodes.nodes.policy_node import STATUS_QOS, build_node

C = get_contract(23)
HOLD = str(models_dir() / "hold_default_23dof.onnx")


class Robot:
    """Plays the bridge: publishes JointState/Imu at 200 Hz (stamp = monotonic ns) and records targets."""

    def __init__(self, ctx):
        self.node = rclpy.create_node("fake_bridge", context=ctx)
        self.pub_js = self.node.create_publisher(JointState, defaults.JOINT_STATES, 10)
        self.pub_imu = self.node.create_publisher(Imu, defaults.IMU, 10)
        self.targets: list[tuple[float, pd_targets.PdTargets]] = []
        self.timing: list[list[float]] = []
        self.sent_stamps: set[int] = set()
        self.publishing = True
        self.node.create_subscription(
            Float64MultiArray,
            defaults.PD_TARGETS,
            lambda m: self.targets.append((time.monotonic(), pd_targets.decode(m))),
            10,
        )
        self.node.create_subscription(
            Float64MultiArray, defaults.POLICY_TIMING, lambda m: self.timing.append(list(m.data)), 10
        )
        self.node.create_timer(0.005, self._publish)

    def _publish(self):
        if not self.publishing:
            return
        ns = time.monotonic_ns()
        js = JointState()
        js.header.stamp.sec, js.header.stamp.nanosec = divmod(ns, 1_000_000_000)
        js.name = list(C.joint_names)
        js.position, js.velocity = (C.default_q + 0.01).tolist(), [0.0] * 23
        self.pub_js.publish(js)
        imu = Imu()
        imu.header.stamp = js.header.stamp
        imu.orientation.w = 1.0
        self.pub_imu.publish(imu)
        self.sent_stamps.add(ns)


def _spin(ex, seconds):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        ex.spin_once(timeout_sec=0.002)


def test_policy_node_answers_joint_states_at_50hz(ctx):
    node = build_node(context=ctx, policy=HOLD)
    robot = Robot(ctx)
    ex = SingleThreadedExecutor(context=ctx)
    ex.add_node(node)
    ex.add_node(robot.node)
    try:
        _spin(ex, 2.0)
        times = np.array([t for t, _ in robot.targets])
        assert len(times) > 40, f"only {len(times)} PD target messages in 2 s"
        period = np.median(np.diff(times[times > times[-1] - 1.0]))
        assert 0.017 < period < 0.023, f"median period {period * 1e3:.1f} ms"
        last = robot.targets[-1][1]
        assert last.joint_names == C.joint_names and last.policy == "blind"
        np.testing.assert_allclose(last.q, C.default_q)  # the hold-default policy
        np.testing.assert_allclose(last.kp, node.runner.policies["blind"].meta.kp)  # the policy's own gains
        assert last.stamp_ns in robot.sent_stamps  # answers a joint state the bridge sent
        seqs = [t.seq for _, t in robot.targets]
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
        assert robot.timing and len(robot.timing[-1]) == 4 and robot.timing[-1][1] > 0
        # the bridge entering 'run' restarts the policy's history (once per entry)
        pub_state = robot.node.create_publisher(String, defaults.BRIDGE_STATE, 10)
        for state in ("hold", "run", "run", "run"):
            pub_state.publish(String(data=state))
            _spin(ex, 0.05)
        assert node.resets == 1
        # the bridge stops (stale joint states): targets stop within max_state_age (100 ms) + one cycle
        robot.publishing = False
        before = node.published
        _spin(ex, 0.4)
        stopped_at = node.published
        assert stopped_at - before <= 6  # at most max_state_age (100 ms) of 20 ms cycles, plus one
        _spin(ex, 0.6)
        assert node.published == stopped_at
        assert node.last_reason.startswith("joint state or IMU older than")
    finally:
        ex.shutdown()
        node.destroy_node()
        robot.node.destroy_node()


def test_policy_node_refuses_bad_policy_without_publishing(ctx, tmp_path):
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not onnx")
    probe = rclpy.create_node("probe", context=ctx)
    try:
        for params, message in [
            ({"policy": str(junk)}, "not a readable ONNX model"),
            ({"policy": str(tmp_path / "missing.onnx")}, "does not exist"),
            ({}, "no policy given"),
            ({"policy": HOLD, "blind_policy": HOLD}, "both 'policy' and 'blind_policy'"),
            ({"policy": HOLD, "dof": 29}, "robot is configured for 29 DoF"),
        ]:
            with pytest.raises(ValueError, match=message) as e:
                build_node(context=ctx, **params)
            assert "\n" not in str(e.value)
        assert probe.count_publishers(defaults.PD_TARGETS) == 0
    finally:
        probe.destroy_node()


@pytest.fixture(scope="module")
def terrain_policy(tmp_path_factory):
    """A heightmap policy with stiffer gains than the hold-default one, to tell them apart on the wire."""
    import torch

    from hsi_kernel.policy_file import PolicyMetadata
    from hsi_offline.export import export_policy

    lay = make_layout(23, "student", heightmap=True)
    torch.manual_seed(0)
    md = PolicyMetadata.for_contract(23, lay, 0.25, 8.0, C.kp * 1.2, C.kd, heightmap_spec=HeightmapSpec())
    return str(
        export_policy(torch.nn.Linear(lay.dim, 23), None, md, tmp_path_factory.mktemp("t") / "t.onnx").path
    )


def test_policy_node_heightmap_fallback_and_select(ctx, terrain_policy):
    node = build_node(context=ctx, policy=terrain_policy, blind_policy=HOLD, resume_cycles=3)
    robot = Robot(ctx)
    pub_hm = robot.node.create_publisher(PointCloud2, defaults.HEIGHTMAP, 10)
    pub_sel = robot.node.create_publisher(String, defaults.POLICY_SELECT, 10)
    pub_status = robot.node.create_publisher(String, defaults.HEIGHTMAP_STATUS, STATUS_QOS)
    hm = {"stale": False, "on": True}

    def send_map():
        if hm["on"]:
            msg = encode_heightmap_msg(np.full(121, 0.8), np.ones(121, bool), time.time(), hm["stale"])
            pub_hm.publish(msg)

    robot.node.create_timer(0.02, send_map)
    ex = SingleThreadedExecutor(context=ctx)
    ex.add_node(node)
    ex.add_node(robot.node)

    def active_after(seconds):
        robot.targets.clear()
        _spin(ex, seconds)
        return robot.targets[-1][1].policy

    try:
        assert active_after(1.0) == "terrain"
        np.testing.assert_allclose(robot.targets[-1][1].kp, C.kp * 1.2)
        # the heightmap node says its map cannot be trusted, and why (its latched status): blind policy, and
        # the fallback's reason names the input that went stale
        pub_status.publish(String(data="LiDAR cloud: last scan is 0.40 s old"))
        hm["stale"] = True
        assert active_after(0.5) == "blind"
        assert node.last_reason == (
            "'terrain' waits for a fresh heightmap; stale: LiDAR cloud (last scan is 0.40 s old)"
        )
        hm["stale"] = False
        assert active_after(0.5) == "terrain"
        pub_sel.publish(String(data="blind"))  # the operator's B button
        assert active_after(0.5) == "blind"
        pub_sel.publish(String(data="terrain"))
        assert active_after(0.5) == "terrain"
        hm["on"] = False  # heightmap node gone: after max_heightmap_age_s (0.5 s) the blind policy runs
        assert active_after(1.0) == "blind"
        assert "stale: heightmap node (its last map is older than 500 ms" in node.last_reason
        # the bridge enters RUN while the fallback is on: counted from RUN's first cycle, with why
        assert node.fallback_starts_in_run == []
        pub_state = robot.node.create_publisher(String, defaults.BRIDGE_STATE, 10)
        pub_state.publish(String(data="run"))
        _spin(ex, 0.5)
        assert len(node.fallback_starts_in_run) == 1 and node.fallback_cycles_in_run > 5
        assert "stale: heightmap node" in node.fallback_reasons_in_run[0]
        assert set(node.fallback_cycles_by_input) == {"heightmap node"}
    finally:
        ex.shutdown()
        node.destroy_node()
        robot.node.destroy_node()


def test_heightmap_policy_refused_without_heightmap_source(ctx, terrain_policy):
    with pytest.raises(ValueError, match="no heightmap source is configured"):
        build_node(context=ctx, policy=terrain_policy, heightmap=False)
