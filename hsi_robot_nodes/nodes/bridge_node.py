"""rclpy shell around the Unitree bridge: parameters, topics and services only (logic in bridge/).

Publishes joint states (contract names), the pelvis IMU, the Unitree remote as sensor_msgs/Joy, the
safety state and diagnostics; takes PD targets (msgs/pd_targets) and events (topic and Trigger services).

Threads: the bridge's DDS reader takes each LowState and feeds the safety machine; every policy slot it hands
the state to this node's ``bridge-out`` thread, which publishes joint states + IMU. Joint states, IMU and PD
targets go over ``local_bus``, so a policy node in the same process answers on that thread: a policy that
hangs holds up only ``bridge-out``, never the safety machine's input, and the 2 ms writer trips it to damping
after 3 cycles.
"""

from __future__ import annotations

import threading

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.node import Node
from sensor_msgs.msg import Imu, JointState, Joy
from std_msgs.msg import Float64MultiArray, String
from std_srvs.srv import Trigger

from hsi_kernel.msgs import pd_targets
from hsi_kernel.unitree.remote import AXES, BUTTONS
from hsi_robot_nodes import defaults
from hsi_robot_nodes.bridge.runtime import BridgeConfig, UnitreeBridge
from hsi_robot_nodes.nodes import local_bus
from hsi_robot_nodes.nodes.run import run_node

DEFAULTS = {
    "dof": defaults.DOF,
    "domain": defaults.DOMAIN,
    "interface": defaults.INTERFACE,
    "joint_state_decimation": defaults.JOINT_STATE_DECIMATION,
    "joint_states_topic": defaults.JOINT_STATES,
    "imu_topic": defaults.IMU,
    "remote_topic": defaults.REMOTE,
    "state_topic": defaults.BRIDGE_STATE,
    "event_topic": defaults.BRIDGE_EVENT,
    "pd_targets_topic": defaults.PD_TARGETS,
    "imu_frame": "imu_in_pelvis",
}


class BridgeNode(Node):
    def __init__(self, context=None, **overrides):
        super().__init__("unitree_bridge", context=context)
        unknown = set(overrides) - set(DEFAULTS)
        if unknown:
            self.destroy_node()
            raise ValueError(f"unitree_bridge: unknown parameters {sorted(unknown)}")
        for k, v in {**DEFAULTS, **overrides}.items():
            self.declare_parameter(k, v)
        g = lambda k: self.get_parameter(k).value  # noqa: E731
        self.bridge = UnitreeBridge(BridgeConfig(dof=g("dof"), domain=g("domain"), interface=g("interface")))
        self.names = list(self.bridge.contract.joint_names)
        # joint states + IMU once per ``decimation`` x 2 ms slot of the LowState receive clock (not every N-th
        # message: a LowState lost on a busy machine would otherwise stretch the policy's period)
        self._slot_s = 0.002 * max(1, int(g("joint_state_decimation")))
        self._slot = -1
        self._n = 0
        self._imu_frame = g("imu_frame")
        self.pub_js = local_bus.publisher(self, JointState, g("joint_states_topic"), 10)
        self.pub_imu = local_bus.publisher(self, Imu, g("imu_topic"), 10)
        self.pub_joy = self.create_publisher(Joy, g("remote_topic"), 10)
        self.pub_state = self.create_publisher(String, g("state_topic"), 10)
        self.pub_diag = self.create_publisher(DiagnosticArray, defaults.DIAGNOSTICS, 10)
        local_bus.subscription(self, Float64MultiArray, g("pd_targets_topic"), self._on_targets, 10)
        self.create_subscription(String, g("event_topic"), lambda m: self._event(m.data), 10)
        for ev in ("start", "run", "damp", "reset"):
            self.create_service(Trigger, f"/bridge/{ev}", self._service(ev))
        self._mailbox: tuple | None = None
        self._ready = threading.Event()
        self._out_running = True
        self._out = threading.Thread(target=self._publish_loop, name="bridge-out", daemon=True)
        self.bridge.on_lowstate_cb = self._on_lowstate
        self.bridge.on_state_change = self._on_state_change
        self.bridge.start()  # raises BridgeError (refuses) before anything is sent
        self._out.start()  # only once the bridge runs: a refusal leaves no thread behind
        self.create_timer(0.1, self._publish_state)
        self.create_timer(1.0, self._publish_diag)

    def _service(self, ev: str):
        def handler(_req, resp):
            state = self._event(ev)
            resp.success, resp.message = True, state
            return resp

        return handler

    def _event(self, name: str) -> str:
        try:
            return self.bridge.event(name)
        except ValueError as e:
            self.get_logger().warning(str(e))
            return self.bridge.state.value

    def _on_targets(self, msg: Float64MultiArray) -> None:
        try:
            err = self.bridge.set_targets(pd_targets.decode(msg))
        except ValueError as e:
            err = str(e)
        if err:
            self.get_logger().error(f"PD targets rejected: {err}", throttle_duration_sec=1.0)

    def _on_lowstate(self, low, remote) -> None:
        """On the DDS reader thread: the first LowState of each slot goes to ``bridge-out`` (newest wins)."""
        slot = int(low.t / self._slot_s)
        if slot == self._slot:
            return
        self._slot = slot
        self._mailbox = (low, remote)
        self._ready.set()

    def _publish_loop(self) -> None:
        while self._out_running:
            if not self._ready.wait(0.2):
                continue
            self._ready.clear()
            item, self._mailbox = self._mailbox, None
            if item is not None and self._out_running:
                self._publish_state_msgs(*item)

    def _publish_state_msgs(self, low, remote) -> None:
        self._n += 1
        sec, nsec = divmod(int(low.t * 1e9), 1_000_000_000)
        js = JointState()
        js.header.stamp.sec, js.header.stamp.nanosec = sec, nsec  # monotonic receive time of the LowState
        js.header.frame_id = "pelvis"
        js.name = self.names
        js.position, js.velocity, js.effort = low.q.tolist(), low.dq.tolist(), low.tau_est.tolist()
        imu = Imu()
        imu.header.stamp, imu.header.frame_id = js.header.stamp, self._imu_frame
        w, x, y, z = low.quat_wxyz
        imu.orientation.w, imu.orientation.x, imu.orientation.y, imu.orientation.z = map(float, (w, x, y, z))
        imu.angular_velocity.x, imu.angular_velocity.y, imu.angular_velocity.z = map(float, low.gyro)
        imu.linear_acceleration.x, imu.linear_acceleration.y, imu.linear_acceleration.z = map(float, low.acc)
        # both to a local policy first (it answers once it has both), then both to DDS
        local_bus.publish_together((self.pub_js, js), (self.pub_imu, imu))
        if self._n % 10 == 0:
            joy = Joy()
            joy.header.stamp = self.get_clock().now().to_msg()
            joy.axes = [float(getattr(remote, a.lower() if a != "L2" else "l2")) for a in AXES]
            joy.buttons = [int(remote.buttons[b]) for b in BUTTONS]
            self.pub_joy.publish(joy)

    def _on_state_change(self, state: str, reason: str) -> None:
        self.get_logger().info(f"state -> {state} ({reason})")
        self.pub_state.publish(String(data=state))

    def _publish_state(self) -> None:
        self.pub_state.publish(String(data=self.bridge.state.value))

    def _publish_diag(self) -> None:
        st = DiagnosticStatus(name="unitree_bridge", hardware_id=f"g1_{self.bridge.cfg.dof}dof")
        state = self.bridge.state.value
        st.level = DiagnosticStatus.WARN if state == "damping" else DiagnosticStatus.OK
        st.message = f"{state}: {self.bridge.safety.reason}"
        st.values = [
            KeyValue(key="lowcmd_written", value=str(self.bridge.lowcmd_written)),
            KeyValue(key="bad_lowstate_crc", value=str(self.bridge.bad_lowstate_crc)),
            KeyValue(key="self_stalls", value=str(self.bridge.safety.self_stalls)),
        ]
        arr = DiagnosticArray(status=[st])
        arr.header.stamp = self.get_clock().now().to_msg()
        self.pub_diag.publish(arr)

    def destroy_node(self) -> None:
        self.bridge.stop()
        self._out_running = False
        self._ready.set()
        if self._out.is_alive() and self._out is not threading.current_thread():
            self._out.join(timeout=2.0)
        local_bus.release(self)
        super().destroy_node()


def main(argv: list[str] | None = None) -> int:
    from hsi_kernel.unitree.sdk import DdsSetupError
    from hsi_robot_nodes.bridge.runtime import BridgeError

    return run_node("unitree_bridge", BridgeNode, (BridgeError, DdsSetupError, ValueError), argv)


def build_node(context=None, **params) -> BridgeNode:
    """In-process construction for `hsi-robot bringup` (same parameters as the launch file)."""
    return BridgeNode(context=context, **params)
