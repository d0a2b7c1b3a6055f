"""rclpy shell around the policy runner: parameters, topics and the 50 Hz timer only (logic in policy/runner).

Subscribes joint states (contract order, header stamp = receive time of the LowState), the pelvis IMU, the
policy heightmap and the heightmap node's status (which input went stale and why: named in the fallback's
log line and counted per input, ``fallback_cycles_by_input``), the root target (PoseStamped: x, y, yaw) and
the policy selection (String); publishes PD targets (msgs/pd_targets, stamp = the answered joint state's
stamp) and its cycle timing [period_ms, compute_ms, obs_ms, infer_ms]. It refuses to start (one line, exit
code 2 from ``main``) on a missing/corrupt policy, metadata that disagrees with the robot contract, or
observation terms it cannot supply; then nothing is ever published.

Joint states, IMU and PD targets go over ``local_bus``: with the bridge in the same process, its joint state
and IMU arrive as direct calls on the bridge's ``bridge-out`` thread and the answer goes straight back to it.
The other callbacks come from the executor, so every callback holds ``self._lock`` (the runner is not
thread-safe).
"""

from __future__ import annotations

import sys
import threading
import time
from collections import Counter

import numpy as np
from geometry_msgs.msg import PoseStamped
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Imu, JointState, PointCloud2
from std_msgs.msg import Float64MultiArray, String

from hsi_kernel.contract import get_contract
from hsi_kernel.heightmap.message import decode_heightmap_msg
from hsi_kernel.heightmap.sampler import HeightmapSpec
from hsi_kernel.msgs import pd_targets
from hsi_kernel.policy_file import load_metadata
from hsi_robot_nodes import defaults
from hsi_robot_nodes.joystick.root_command import yaw_from_quat_xyzw
from hsi_robot_nodes.nodes import local_bus
from hsi_robot_nodes.nodes.run import run_node
from hsi_robot_nodes.policy.runner import PolicyRunner, RunnerConfig, quiet_onnxruntime

DEFAULTS = {
    "dof": defaults.DOF,
    "policy": "",
    "blind_policy": "",
    "heightmap": True,
    "rate_hz": 0.0,
    "trigger": "state",
    "max_state_age_s": RunnerConfig.max_state_age_s,
    "max_heightmap_age_s": RunnerConfig.max_heightmap_age_s,
    "resume_cycles": RunnerConfig.resume_cycles,
    "joint_states_topic": defaults.JOINT_STATES,
    "imu_topic": defaults.IMU,
    "heightmap_topic": defaults.HEIGHTMAP,
    "heightmap_status_topic": defaults.HEIGHTMAP_STATUS,
    "root_target_topic": defaults.ROOT_TARGET,
    "policy_select_topic": defaults.POLICY_SELECT,
    "pd_targets_topic": defaults.PD_TARGETS,
    "timing_topic": defaults.POLICY_TIMING,
    "bridge_state_topic": defaults.BRIDGE_STATE,
}
RUN_STATE = "run"
"""The bridge state in which it applies the policy's targets (``bridge.safety.State.RUN``)."""
STATUS_QOS = QoSProfile(
    depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL
)
"""The heightmap node's status publisher's QoS (``heightmap_node.STATUS_QOS``: latched, so joining late
still gets it)."""


def assign_slots(policy: str, blind_policy: str, dof: int) -> dict[str, str]:
    """``policy`` goes to the 'terrain' slot if it reads the heightmap, else to 'blind'; ``blind_policy``
    must be blind. One-line ValueError on conflicts (validates both files' metadata first)."""
    slots: dict[str, str] = {}
    contract = get_contract(dof)
    if policy:
        slots["terrain" if load_metadata(policy, contract).layout.heightmap_size else "blind"] = policy
    if blind_policy:
        if load_metadata(blind_policy, contract).layout.heightmap_size:
            raise ValueError(f"blind_policy {blind_policy} reads the heightmap: it is not a blind policy")
        if "blind" in slots:
            raise ValueError("both 'policy' and 'blind_policy' are blind: 'policy' must read the heightmap")
        slots["blind"] = blind_policy
    if not slots:
        raise ValueError("no policy given: set the 'policy' parameter to an exported ONNX file")
    return slots


def check_policies(policy: str, blind_policy: str, dof: int, heightmap: bool) -> None:
    """Load the policies exactly as the node will (metadata, shapes, trial inference) and drop them: a
    one-line ValueError before anything else starts, so a broken policy never gets as far as the robot."""
    quiet_onnxruntime()
    PolicyRunner(assign_slots(policy, blind_policy, dof), dof, heightmap_available=heightmap)


class PolicyNode(Node):
    def __init__(self, context=None, **overrides):
        super().__init__("policy_node", context=context)
        unknown = set(overrides) - set(DEFAULTS)
        if unknown:
            raise ValueError(f"policy_node: unknown parameters {sorted(unknown)}")
        for k, v in {**DEFAULTS, **overrides}.items():
            self.declare_parameter(k, v)
        g = lambda k: self.get_parameter(k).value  # noqa: E731
        heightmap = bool(g("heightmap"))  # False: no heightmap source; heightmap policies are refused
        cfg = RunnerConfig(
            float(g("max_state_age_s")), float(g("max_heightmap_age_s")), int(g("resume_cycles"))
        )
        quiet_onnxruntime()
        try:
            self.runner = PolicyRunner(
                assign_slots(g("policy"), g("blind_policy"), int(g("dof"))),
                int(g("dof")),
                heightmap_available=heightmap,
                config=cfg,
            )
        except ValueError:
            self.destroy_node()  # refuse: no publisher was ever created
            raise
        self.contract = self.runner.contract
        rate = float(g("rate_hz")) or next(iter(self.runner.policies.values())).meta.control_hz
        self.trigger = str(g("trigger"))
        if self.trigger not in ("state", "timer"):
            self.destroy_node()
            raise ValueError(f"policy_node: trigger must be 'state' or 'timer', not '{self.trigger}'")
        # 'state': a cycle starts when the joint state and IMU of one LowState have both arrived and a policy
        # period has passed since the last answered one, so the robot's 500 Hz clock paces the policy and the
        # answer leaves as soon as the data is in; 'timer': a free-running 50 Hz timer on the latest data.
        self._period_ns = int(1e9 / rate)
        self._js_stamp = self._imu_stamp = self._paired_stamp = -1
        self._interval_ns = float(self._period_ns)  # running estimate of the joint-state interval
        self._pairs = 0
        self._lock = threading.Lock()  # one callback at a time: the runner is not thread-safe
        # every attribute a callback reads exists before the first subscription: a bridge in the same process
        # already publishes, and local_bus calls a subscription from its thread as soon as it is made
        self._bridge_state = ""
        self.resets = 0
        self._index: np.ndarray | None = None
        self._last_tick = 0
        self.cycles = self.published = 0
        self.fallback_cycles_in_run = 0  # see _tick
        self.fallback_starts_in_run: list[float] = []  # monotonic s
        self.fallback_reasons_in_run: list[str] = []  # why each of those began (the runner's reason)
        self.fallback_cycles_by_input: Counter[str] = Counter()  # in RUN, by the input that went stale
        self.heightmap_status = ""  # the heightmap node's last status ('ok' or '<input>: <why>')
        self._on_fallback = False
        self._fallback_in_run = False  # the last cycle was a fallback while the bridge ran the policy
        self.last_reason = ""
        self.dropped_root_targets = 0
        self.pub_targets = local_bus.publisher(self, Float64MultiArray, g("pd_targets_topic"), 10)
        self.pub_timing = self.create_publisher(Float64MultiArray, g("timing_topic"), 10)
        local_bus.subscription(self, JointState, g("joint_states_topic"), self._locked(self._on_joint_state))
        local_bus.subscription(self, Imu, g("imu_topic"), self._locked(self._on_imu))
        self.create_subscription(PoseStamped, g("root_target_topic"), self._locked(self._on_root_target), 10)
        self.create_subscription(String, g("policy_select_topic"), self._locked(self._on_select), 10)
        self.create_subscription(String, g("bridge_state_topic"), self._locked(self._on_bridge_state), 10)
        terrain = self.runner.policies.get("terrain")
        if terrain is not None:  # only a heightmap policy listens to the map
            self._hm_spec = HeightmapSpec.from_dict(terrain.meta.heightmap_spec)
            self.create_subscription(PointCloud2, g("heightmap_topic"), self._on_heightmap, 10)
            self.create_subscription(
                String, g("heightmap_status_topic"), self._locked(self._on_heightmap_status), STATUS_QOS
            )
        if self.trigger == "timer":
            self.create_timer(1.0 / rate, self._locked_timer(self._tick))
        else:  # watchdog: says why nothing is published when no state arrives at all
            self.create_timer(0.5, self._locked_timer(self._idle_check))
        self.get_logger().info(
            f"policies {dict((k, p.path.name) for k, p in self.runner.policies.items())}, "
            f"{rate:.0f} Hz on {self.trigger}, selected '{self.runner.selected}'"
        )

    def _locked(self, callback):
        """``callback(msg)`` under the node's lock (one parameter: rclpy passes no message info to it)."""

        def run(msg):
            with self._lock:
                callback(msg)

        return run

    def _locked_timer(self, callback):
        """``callback()`` under the node's lock (no parameter: the EventsExecutor would pass timer info)."""

        def run():
            with self._lock:
                callback()

        return run

    # ---- inputs -------------------------------------------------------------------------------------------
    def _on_joint_state(self, msg: JointState) -> None:
        names = tuple(msg.name)
        if self._index is None or len(self._index) != len(names) or names != self.contract.joint_names:
            try:
                self._index = np.array([names.index(n) for n in self.contract.joint_names])
            except ValueError:
                self._index = None
                self.get_logger().error(
                    "joint states lack joints of the contract; ignored", throttle_duration_sec=1.0
                )
                return
        q, dq = np.asarray(msg.position), np.asarray(msg.velocity)
        if q.size != len(names) or dq.size != len(names):
            self.get_logger().error(
                "joint state without positions/velocities; ignored", throttle_duration_sec=1.0
            )
            return
        stamp = msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec
        self.runner.update_joint_state(q[self._index], dq[self._index], stamp, time.monotonic_ns())
        self._js_stamp = stamp
        self._maybe_tick()

    def _on_imu(self, msg: Imu) -> None:
        o, w = msg.orientation, msg.angular_velocity
        self.runner.update_imu((o.w, o.x, o.y, o.z), (w.x, w.y, w.z), time.monotonic_ns())
        self._imu_stamp = msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec
        self._maybe_tick()

    def _maybe_tick(self) -> None:
        """State trigger: both halves of one LowState are in; answer every k-th such pair, k = policy period /
        state interval (1 when the bridge publishes at the policy rate). Counting pairs instead of comparing
        stamps keeps the rate exact although the stamps (receive times) jitter by a millisecond or two."""
        if self.trigger != "state" or self._js_stamp != self._imu_stamp:
            return
        if self._js_stamp == self._paired_stamp:
            return
        if self._paired_stamp > 0:
            gap = self._js_stamp - self._paired_stamp
            if 0 < gap < 4 * self._period_ns:
                self._interval_ns += 0.05 * (gap - self._interval_ns)
        self._paired_stamp = self._js_stamp
        self._pairs += 1
        k = max(1, round(self._period_ns / self._interval_ns))
        if self._pairs >= k:
            self._pairs = 0
            self._tick()

    def _idle_check(self) -> None:
        if time.monotonic_ns() - self._last_tick > 0.5e9:
            if min(self._js_stamp, self._imu_stamp) < 0:
                reason = "waiting for joint states and IMU"
            elif self._js_stamp != self._imu_stamp:
                reason = "joint state and IMU stamps never match: both must come from one LowState"
            else:
                reason = f"joint state or IMU older than {self.runner.config.max_state_age_s * 1e3:.0f} ms"
            if reason != self.last_reason:
                self.get_logger().warning(reason)
                self.last_reason = reason

    def _on_heightmap(self, msg) -> None:
        try:  # decoded outside the lock: the control path never waits for it
            values, _valid, _stamp, stale = decode_heightmap_msg(msg, self._hm_spec)
        except ValueError as e:
            self.get_logger().error(f"heightmap ignored: {e}", throttle_duration_sec=1.0)
            return
        with self._lock:
            self.runner.update_heightmap(values, time.monotonic_ns(), stale, self.heightmap_status)

    def _on_heightmap_status(self, msg: String) -> None:
        self.heightmap_status = msg.data

    def _on_root_target(self, msg: PoseStamped) -> None:
        p, o = msg.pose.position, msg.pose.orientation
        vals = (p.x, p.y, yaw_from_quat_xyzw(o.x, o.y, o.z, o.w))
        if all(np.isfinite(vals)):
            self.runner.update_root_target(*vals)
        else:  # dropped at the boundary: the last finite target stays
            self.dropped_root_targets += 1
            self.get_logger().warning("non-finite root target dropped", throttle_duration_sec=1.0)

    def _on_select(self, msg: String) -> None:
        try:
            self.runner.select(msg.data.strip())
            self.get_logger().info(f"policy '{msg.data.strip()}' selected")
        except ValueError as e:
            self.get_logger().warning(str(e))

    def _on_bridge_state(self, msg: String) -> None:
        if msg.data == RUN_STATE and self._bridge_state != RUN_STATE:
            self.runner.reset()  # the bridge now applies our targets: start the history from here
            self.resets += 1
        self._bridge_state = msg.data

    # ---- the cycle ----------------------------------------------------------------------------------------
    def _tick(self) -> None:
        now = time.monotonic_ns()
        period_ms = (now - self._last_tick) * 1e-6 if self._last_tick else 0.0
        self._last_tick = now
        self.cycles += 1
        res = self.runner.step(now)
        # the robot runs on a fallback (a heightmap policy whose map is not fresh): counted, with when each
        # began, because a fallback and the switch back are where a standing student may lose balance
        fallback = bool(res.reason) and res.targets is not None
        in_run = fallback and self._bridge_state == RUN_STATE
        if in_run:
            self.fallback_cycles_in_run += 1
            self.fallback_cycles_by_input[res.stale_input or "other"] += 1
            # a fallback that was already on when RUN began starts at RUN's first cycle
            if not self._fallback_in_run and len(self.fallback_starts_in_run) < 1000:
                self.fallback_starts_in_run.append(now * 1e-9)
                self.fallback_reasons_in_run.append(res.reason)
        self._fallback_in_run = in_run
        was_fallback, self._on_fallback = self._on_fallback, fallback
        if res.reason != self.last_reason:
            if res.reason:
                self.get_logger().warning(res.reason)
            elif res.targets is not None and was_fallback:
                self.get_logger().info(f"'{res.active}' runs again")
            self.last_reason = res.reason
        if res.targets is None:
            return
        self.pub_targets.publish(pd_targets.encode(res.targets))
        self.published += 1
        t = res.timing
        self.pub_timing.publish(Float64MultiArray(data=[period_ms, t.compute_ms, t.obs_ms, t.infer_ms]))

    def destroy_node(self) -> None:
        local_bus.release(self)
        super().destroy_node()


def build_node(context=None, **params) -> PolicyNode:
    """The node in-process (bringup, tests); raises a one-line ValueError when it refuses to start."""
    return PolicyNode(context=context, **params)


def main(argv: list[str] | None = None) -> int:
    return run_node("policy_node", build_node, (ValueError,), argv)


if __name__ == "__main__":
    sys.exit(main())
