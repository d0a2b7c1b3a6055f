"""The bridge's DDS side: reads LowState, runs the safety machine every 2 ms, writes LowCmd with CRC.

ROS-free so the simulator tests and the benchmark can drive it; ``nodes/bridge_node.py`` wraps it in rclpy.
Start-up refuses (one-line ``BridgeError``, nothing sent) when another controller already writes
``rt/lowcmd`` on the domain, or when the robot's ``mode_machine`` is not the configured DoF. While running,
other writers on ``rt/lowcmd`` are watched every cycle (DDS matching, ``dds.WriterWatch``), a LowState with a
wrong ``mode_machine`` trips at once and is never used or echoed, and ``_write_locked`` is the single point
where a LowCmd is written: a command with any non-finite field never leaves it.
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from hsi_kernel.contract import MODE_MACHINE, MODE_PR, get_contract
from hsi_kernel.msgs.pd_targets import PdTargets
from hsi_kernel.unitree import dds, sdk, wire
from hsi_kernel.unitree import remote as remote_codec
from hsi_robot_nodes import defaults
from hsi_robot_nodes.bridge.safety import LowStateView, SafetyConfig, SafetyMachine, State
from hsi_robot_nodes.joystick.buttons import ButtonMapper


class BridgeError(RuntimeError):
    """The bridge refuses to start (one line, says what to do)."""


POLL_AFTER_S = 0.006
"""LowState older than this (3 robot periods) at a tick: the writer takes waiting samples itself
(``dds.Reader.poll``), so a late reader thread is never mistaken for a silent robot."""
LOWSTATE_GAP_LOG_S = 0.008
"""LowState inter-arrival gaps above this (4 robot periods) are logged in ``UnitreeBridge.lowstate_gaps``."""


@dataclass
class BridgeConfig:
    dof: int = defaults.DOF
    domain: int = defaults.DOMAIN
    interface: str = defaults.INTERFACE
    write_hz: float = 500.0
    wait_lowstate_s: float = 3.0
    check_other_controller: bool = True
    remote_buttons: bool = True  # start / A / select on the Unitree remote drive the state machine
    safety: SafetyConfig = field(default_factory=SafetyConfig)


class UnitreeBridge:
    def __init__(self, cfg: BridgeConfig):
        self.cfg = cfg
        self.contract = get_contract(cfg.dof)
        self.safety = SafetyMachine(self.contract, cfg.safety)
        self._lock = threading.Lock()
        self._slots = self.contract.motor_slots
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._mode_machine: int | None = None  # the accepted value only: what LowCmds echo
        self._seen_mode_machine: int | None = None  # the first value seen, for the start-up refusal
        self._buttons = ButtonMapper()  # start / A / select edges -> events, as the joystick node maps them
        self._watch: dds.WriterWatch | None = None
        self.bad_lowstate_crc = 0
        self.bad_mode_machine = 0  # LowStates dropped for a mode_machine that is not the configured DoF's
        self.nonfinite_blocked = 0  # LowCmds not written because a field was not finite
        self.lowstate_polled = 0  # LowStates the writer took because the reader thread was late
        self.lowcmd_written = 0
        self.last_remote = remote_codec.RemoteState()
        self.on_lowstate_cb: Callable[[LowStateView, remote_codec.RemoteState], None] | None = None
        self.on_state_change: Callable[[str, str], None] | None = None
        # (monotonic time the LowCmd left, stamp_ns = bridge receive time of the LowState it answers): one
        # entry per policy answer, for the control-path latency benchmark; bounded to the last ~2 h at 50 Hz.
        self.answer_log: collections.deque[tuple[float, int]] = collections.deque(maxlen=400_000)
        # (arrival, gap) of each LowState more than LOWSTATE_GAP_LOG_S after the previous one: tells a late
        # robot/simulator apart from a late bridge when a policy cycle is missed (bench loop reports it)
        self.lowstate_gaps: collections.deque[tuple[float, float]] = collections.deque(maxlen=10_000)
        self._last_arrival = 0.0

    # ---- lifecycle ------------------------------------------------------------------------------------
    def start(self) -> UnitreeBridge:
        dds.init_channels(self.cfg.domain, self.cfg.interface)
        if self.cfg.check_other_controller and dds.someone_publishes(sdk.TOPIC_LOWCMD, sdk.LowCmd_):
            raise BridgeError(
                f"another controller already publishes rt/lowcmd on DDS domain "
                f"{self.cfg.domain}: stop it first (only one writer may drive the motors)"
            )
        first = threading.Event()
        self._first = first
        # the handler runs on the reader's own thread with the newest sample (unitree/dds.py says why)
        self._sub = dds.Reader(
            sdk.TOPIC_LOWSTATE, sdk.LowState_, self._on_lowstate, name="bridge-lowstate", raw=True
        )
        if not first.wait(self.cfg.wait_lowstate_s):
            self._sub.close()
            raise BridgeError(
                f"no LowState on rt/lowstate (domain {self.cfg.domain}, {self.cfg.interface}) "
                f"within {self.cfg.wait_lowstate_s:.0f} s: is the robot/simulator up and the "
                "interface right?"
            )
        deadline = time.monotonic() + 0.2  # one wrong sample first is not yet a wrong robot
        while self._mode_machine is None and time.monotonic() < deadline:
            time.sleep(0.005)
        if self._mode_machine is None:
            self._sub.close()
            seen = self._seen_mode_machine
            got = MODE_MACHINE.get(seen or 0, "unknown")
            raise BridgeError(
                f"robot reports mode_machine {seen} ({got}-DoF) but the bridge "
                f"is configured for {self.cfg.dof} DoF: fix --dof"
            )
        self._watch = dds.WriterWatch(sdk.TOPIC_LOWCMD, sdk.LowCmd_)
        self._pub = dds.Writer(sdk.TOPIC_LOWCMD, sdk.LowCmd_)
        self._payload = wire.LOWCMD.new_payload()
        self._thread = threading.Thread(target=self._writer, name="lowcmd-writer", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
        if hasattr(self, "_sub"):
            self._sub.close()
        if self._watch is not None:
            self._watch.close()
        if hasattr(self, "_pub"):  # a stopped bridge is no writer: others on the domain must not see one
            self._pub.close()

    # ---- inputs ---------------------------------------------------------------------------------------
    def _on_lowstate(self, data: bytes) -> None:
        t = time.monotonic()
        if self._last_arrival and t - self._last_arrival > LOWSTATE_GAP_LOG_S:
            self.lowstate_gaps.append((t, t - self._last_arrival))
        self._last_arrival = t
        W = wire.LOWSTATE
        try:
            p = W.payload(data)
        except ValueError:
            self.bad_lowstate_crc += 1
            return
        if W.crc(p) != int(W.get(p, "crc")):
            self.bad_lowstate_crc += 1
            return
        mode_machine = int(W.get(p, "mode_machine"))
        if self._seen_mode_machine is None:
            self._seen_mode_machine = mode_machine
        if not self.contract.accepts_mode_machine(mode_machine):
            self.bad_mode_machine += 1
            with self._lock:
                before = self.safety.state
                self.safety.on_bad_mode_machine(mode_machine, t)
                self._notify(before)
            self._first.set()
            return
        self._mode_machine = mode_machine
        s = self._slots

        def get(path: str) -> np.ndarray:
            return W.get(p, path).astype(np.float64)

        low = LowStateView(
            q=get("motor_state.q")[s],
            dq=get("motor_state.dq")[s],
            quat_wxyz=get("imu_state.quaternion"),
            gyro=get("imu_state.gyroscope"),
            temperature=get("motor_state.temperature")[s].max(axis=1),
            mode_machine=mode_machine,
            t=t,
            tick=int(W.get(p, "tick")),
            tau_est=get("motor_state.tau_est")[s],
            acc=get("imu_state.accelerometer"),
        )
        try:
            remote = remote_codec.decode(W.get(p, "wireless_remote").tobytes())
        except ValueError:
            remote = remote_codec.RemoteState()
        with self._lock:
            self.safety.on_lowstate(low)
            if self.cfg.remote_buttons:
                events, _ = self._buttons.update(remote.pressed())
                for event in events:
                    self._event_locked(event, t)
        self.last_remote = remote
        self._first.set()
        if self.on_lowstate_cb is not None:
            self.on_lowstate_cb(low, remote)

    def _notify(self, before: State) -> None:
        if self.safety.state != before and self.on_state_change is not None:
            self.on_state_change(self.safety.state.value, self.safety.reason)

    def _event_locked(self, event: str, t: float) -> None:
        before = self.safety.state
        self.safety.on_event(event, t)
        self._notify(before)

    def event(self, name: str) -> str:
        """Apply an operator event (start | run | damp | estop | reset); returns the resulting state."""
        with self._lock:
            self._event_locked(name, time.monotonic())
            return self.safety.state.value

    def set_targets(self, targets: PdTargets) -> str | None:
        t = time.monotonic()
        with self._lock:
            before = self.safety.state
            err = self.safety.on_targets(targets, t)
            self._notify(before)
            if err is None and self.safety.state == State.RUN:
                self._write_locked(t)  # answer at once; the 2 ms writer keeps re-sending
                if self.safety.state == State.RUN and self.safety.targets is not None:
                    self.answer_log.append((time.monotonic(), self.safety.targets.stamp_ns))
        return err

    @property
    def state(self) -> State:
        return self.safety.state

    # ---- output ---------------------------------------------------------------------------------------
    def _write_locked(self, t: float) -> None:
        """The only place a LowCmd is written."""
        if self._stop.is_set():  # stopped: its writer is closed, and nothing may drive the motors from here
            return
        before = self.safety.state
        if self._watch is not None:
            self.safety.other_writers = self._watch.count()
        cmd = self.safety.tick(t)
        if cmd is not None and not SafetyMachine.finite(cmd):
            # unreachable while the safety machine holds its own rule; kept as the last line of defence
            self.nonfinite_blocked += 1
            self.safety.trip(t, "non-finite motor command at the write point")
            cmd = self.safety.tick(t)
            if cmd is not None and not SafetyMachine.finite(cmd):
                cmd = None
        self._notify(before)
        if cmd is None:
            return
        W, p = wire.LOWCMD, self._payload
        W.set(p, "mode_pr", MODE_PR)
        W.set(p, "mode_machine", self._mode_machine or 0)
        for name in ("mode", "q", "dq", "tau", "kp", "kd"):
            W.set(p, f"motor_cmd.{name}", getattr(cmd, name))
        self._pub.write_raw(W.seal(p))
        self.lowcmd_written += 1

    def _writer(self) -> None:
        period = 1.0 / self.cfg.write_hz
        next_t = time.monotonic()
        while not self._stop.is_set():
            low = self.safety.low
            if low is not None and time.monotonic() - low.t > POLL_AFTER_S and self._sub.poll():
                self.lowstate_polled += 1
            with self._lock:
                self._write_locked(time.monotonic())
            next_t += period
            delay = next_t - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            else:
                next_t = time.monotonic()
