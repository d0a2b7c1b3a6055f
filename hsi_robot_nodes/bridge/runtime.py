"""The bridge's DDS side: reads LowState, runs the safety machine every 2 ms, writes LowCmd with CRC.

ROS-free so the simulator tests and the benchmark can drive it; ``nodes/bridge_node.py`` wraps it in rclpy.
Start-up refuses (one-line ``BridgeError``, nothing sent) when another controller already writes
``rt/lowcmd`` on the domain, or when the robot's ``mode_machine`` is not the configured DoF.
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from hsi_kernel.contract import MODE_MACHINE, MODE_PR, get_contract
from hsi_kernel.unitree import dds, sdk, wire
from hsi_kernel.unitree import remote as remote_codec
from hsi_robot_nodes import defaults
from hsi_robot_nodes.bridge.safety import LowStateView, SafetyConfig, SafetyMachine, State


class BridgeError(RuntimeError):
    """The bridge refuses to start (one line, says what to do)."""


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
        self._mode_machine: int | None = None
        self._prev_buttons: set[str] = set()
        self.bad_lowstate_crc = 0
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
        if not self.contract.accepts_mode_machine(self._mode_machine or 0):
            self._sub.close()
            got = MODE_MACHINE.get(self._mode_machine or 0, "unknown")
            raise BridgeError(
                f"robot reports mode_machine {self._mode_machine} ({got}-DoF) but the bridge "
                f"is configured for {self.cfg.dof} DoF: fix --dof"
            )
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
        self._mode_machine = int(W.get(p, "mode_machine"))
        if not self.contract.accepts_mode_machine(self._mode_machine):
            self._first.set()
            return
        s = self._slots

        def get(path: str) -> np.ndarray:
            return W.get(p, path).astype(np.float64)

        low = LowStateView(
            get("motor_state.q")[s],
            get("motor_state.dq")[s],
            get("imu_state.quaternion"),
            get("imu_state.gyroscope"),
            get("motor_state.temperature")[s].max(axis=1),
            self._mode_machine,
            t,
        )
        low.tau_est = get("motor_state.tau_est")[s]  # type: ignore[attr-defined]
        low.acc = get("imu_state.accelerometer")  # type: ignore[attr-defined]
        try:
            remote = remote_codec.decode(W.get(p, "wireless_remote").tobytes())
        except ValueError:
            remote = remote_codec.RemoteState()
        with self._lock:
            self.safety.on_lowstate(low)
            if self.cfg.remote_buttons:
                pressed = remote.pressed()
                for button in pressed - self._prev_buttons:
                    event = {"start": "start", "A": "run", "select": "damp"}.get(button)
                    if event:
                        self._event_locked(event, t)
                self._prev_buttons = pressed
        self.last_remote = remote
        self._first.set()
        if self.on_lowstate_cb is not None:
            self.on_lowstate_cb(low, remote)

    def _event_locked(self, event: str, t: float) -> None:
        before = self.safety.state
        self.safety.on_event(event, t)
        if self.safety.state != before and self.on_state_change is not None:
            self.on_state_change(self.safety.state.value, self.safety.reason)

    def event(self, name: str) -> str:
        """Apply an operator event (start | run | damp | estop | reset); returns the resulting state."""
        with self._lock:
            self._event_locked(name, time.monotonic())
            return self.safety.state.value

    def set_targets(self, targets) -> str | None:
        t = time.monotonic()
        with self._lock:
            before = self.safety.state
            err = self.safety.on_targets(targets, t)
            if self.safety.state != before and self.on_state_change is not None:
                self.on_state_change(self.safety.state.value, self.safety.reason)
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
        before = self.safety.state
        cmd = self.safety.tick(t)
        if self.safety.state != before and self.on_state_change is not None:
            self.on_state_change(self.safety.state.value, self.safety.reason)
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
            with self._lock:
                self._write_locked(time.monotonic())
            next_t += period
            delay = next_t - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            else:
                next_t = time.monotonic()
