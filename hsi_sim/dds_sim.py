"""The simulated G1 on the wire: a MuJoCo robot behind the Unitree low-level DDS interface.

A controller cannot tell it from the robot: it publishes ``rt/lowstate`` (unitree_hg LowState_) at 500 Hz with
joint q/dq/tau_est in motor slots, the pelvis IMU, ``tick``, ``mode_machine``, the wireless remote bytes and a
correct CRC; it takes ``rt/lowcmd``, drops commands whose CRC is wrong, and its motor drivers recompute PD
every 2 ms physics step from the latest command (disabled motors, ``mode`` 0, produce no torque). The default
DDS domain is 1 on ``lo`` so it never talks to a real robot on domain 0.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field

import numpy as np

from hsi_kernel.contract import MODE_PR
from hsi_kernel.motor import MotorCommand
from hsi_kernel.unitree import dds, link, sdk, wire
from hsi_kernel.unitree import remote as remote_codec
from hsi_sim.robot_sim import SimRobot
from hsi_sim.scene import build_scene


@dataclass
class SimConfig:
    scene: str = "flat"  # flat | stairs | stairs_down | kerb | bench | rough | path/to/terrain.npz
    dof: int = link.DOF
    domain: int = link.DOMAIN
    interface: str = link.INTERFACE
    speed: float = 1.0  # real-time factor to pace to; 0 = as fast as possible
    lowstate_hz: float = 500.0
    band: bool = False  # elastic band holding the pelvis (release with release_band())
    check_other_sim: bool = True


class VirtualRemote:
    """A scripted Unitree remote: tests and demos press buttons and move sticks like an operator."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._state = remote_codec.RemoteState()
        self._release_at: dict[str, float] = {}

    def press(self, button: str, hold_s: float = 0.15) -> None:
        if button not in remote_codec.BUTTONS:
            raise ValueError(f"unknown remote button '{button}' (have {', '.join(remote_codec.BUTTONS)})")
        with self._lock:
            self._state.buttons[button] = True
            self._release_at[button] = time.monotonic() + hold_s

    def set_sticks(self, lx: float = 0.0, ly: float = 0.0, rx: float = 0.0, ry: float = 0.0) -> None:
        with self._lock:
            self._state.lx, self._state.ly, self._state.rx, self._state.ry = (
                float(np.clip(v, -1, 1)) for v in (lx, ly, rx, ry)
            )

    def encoded(self) -> list[int]:
        now = time.monotonic()
        with self._lock:
            for b, t in list(self._release_at.items()):
                if now >= t:
                    self._state.buttons[b] = False
                    del self._release_at[b]
            return remote_codec.encode(self._state)


RT_MIN_SLEEP_S = 0.0002
"""The real-time physics thread sleeps at least this long every cycle (see raise_physics_priority)."""
RT_GIVE_UP_CYCLES = 250
"""Cycles in a row behind schedule (0.5 s) after which the physics thread drops real-time priority."""
PUBLISH_GAP_LOG_S = 0.008  # 4 LowState periods, as the bridge's arrival-gap log


@dataclass
class SimStats:
    publish_times: list[float] = field(default_factory=list)  # monotonic s of the recent LowState writes
    published: int = 0  # all LowState writes (publish_times keeps only the recent ones)
    # (monotonic s, gap s) of each write more than PUBLISH_GAP_LOG_S after the previous one: a late robot,
    # told apart from a late transport or bridge by comparing with the bridge's own arrival gaps
    publish_gaps: list[tuple[float, float]] = field(default_factory=list)
    lowcmd_received: int = 0
    lowcmd_bad_crc: int = 0
    lowcmd_rejected: int = 0
    overruns: int = 0
    realtime_dropped: bool = False  # the physics thread could not keep pace at real-time priority
    steps: int = 0
    wall_s: float = 0.0


class DdsSimulator:
    """Owns a SimRobot, its DDS endpoints and the paced physics thread. ``start()`` / ``stop()``."""

    def __init__(self, cfg: SimConfig):
        self.cfg = cfg
        self.robot = SimRobot(build_scene(cfg.scene, cfg.dof), band=cfg.band)
        self.remote = VirtualRemote()
        self.stats = SimStats()
        self._lock = threading.Lock()
        self._pending: MotorCommand | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._payload = wire.LOWSTATE.new_payload()
        self._driven_mode = np.zeros(wire.NUM_MOTOR_SLOTS, np.uint8)
        self._driven_mode[self.robot.contract.motor_slots] = 1
        self.physics_tid: int | None = None  # the physics thread's kernel id, once it runs
        self._realtime = False  # the physics thread runs at real-time priority (raise_physics_priority)
        self.on_lowcmd_hook = None  # optional callable(monotonic_time) for latency measurement
        self.on_lowstate_hook = None
        self.qpos_out = None  # optional SharedQpos: the pose after every step, for sensor processes

    # ---- DDS ----------------------------------------------------------------------------------------
    def start(self) -> DdsSimulator:
        dds.init_channels(self.cfg.domain, self.cfg.interface)
        if self.cfg.check_other_sim and dds.someone_publishes(sdk.TOPIC_LOWSTATE, sdk.LowState_):
            raise sdk.DdsSetupError(
                f"something already publishes rt/lowstate on DDS domain {self.cfg.domain}"
                f" ({self.cfg.interface}): stop the other simulator or pick --domain"
            )
        self._pub = dds.Writer(sdk.TOPIC_LOWSTATE, sdk.LowState_)
        self._sub = dds.Reader(sdk.TOPIC_LOWCMD, sdk.LowCmd_, self._on_lowcmd, name="sim-lowcmd", raw=True)
        self._thread = threading.Thread(target=self._run, name="g1-sim", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        for ep in ("_sub", "_pub"):
            if hasattr(self, ep):
                getattr(self, ep).close()

    def __enter__(self) -> DdsSimulator:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def raise_physics_priority(self, prio: int) -> str:
        """Run the physics thread at real-time ``SCHED_FIFO`` ``prio`` and this process's other threads at
        ``SCHED_RR`` ``prio - 1`` (``prio`` < 2: leave them); returns what was done, for the start-up line.

        Why: the physics thread is the robot's motor controller and state publisher, which on the robot is
        firmware that no onboard process can delay. Here it shares the machine with the controller under
        test, the simulated LiDAR, the DDS threads and whatever else runs; at their priority a woken physics
        thread waits behind them, and its LowState gaps (30-100 ms under load, or for a whole 100 ms
        round-robin slice under the controller's own ``HSI_RT_PRIORITY``) trip the bridge for a fault the
        real robot would not have. Above every controller thread it preempts them at once and waits at most
        one interpreter switch interval (0.5 ms) for its own process's lock: the other threads of this
        process (the LowCmd reader, the operator and trace loops) run just below it, also above the
        controller, because a thread of normal priority that holds the interpreter lock while the machine is
        busy would hold the physics thread back with it (measured: 90-110 ms LowState gaps with the physics
        thread alone real-time). Only when paced (``speed`` > 0), and it sleeps at least ``RT_MIN_SLEEP_S``
        a cycle, so a machine too slow to keep pace still runs everything else.
        """
        if prio < 2:
            return "physics thread at the process's priority"
        if self.cfg.speed <= 0:
            return "physics thread at the process's priority (not real-time when unpaced)"
        if self.physics_tid is None:
            return "physics thread at the process's priority (not running)"
        prio = min(prio, 49)
        try:
            for tid in os.listdir("/proc/self/task"):
                os.sched_setscheduler(int(tid), os.SCHED_RR, os.sched_param(prio - 1))
            os.sched_setscheduler(self.physics_tid, os.SCHED_FIFO, os.sched_param(prio))
        except OSError as e:
            return f"physics thread at the process's priority (SCHED_FIFO {prio}: {e.strerror})"
        self._realtime = True
        return f"physics thread SCHED_FIFO {prio}, the simulator's other threads SCHED_RR {prio - 1}"

    def release_band(self) -> None:
        self.robot.band.enabled = False

    def _on_lowcmd(self, data: bytes) -> None:
        t = time.monotonic()
        self.stats.lowcmd_received += 1
        W = wire.LOWCMD
        try:
            p = W.payload(data)
        except ValueError:
            self.stats.lowcmd_bad_crc += 1
            return
        if W.crc(p) != int(W.get(p, "crc")):
            self.stats.lowcmd_bad_crc += 1
            return

        def get(name: str) -> np.ndarray:
            return W.get(p, f"motor_cmd.{name}").astype(np.float64)

        cmd = MotorCommand(
            W.get(p, "motor_cmd.mode").copy(), get("q"), get("dq"), get("tau"), get("kp"), get("kd")
        )
        finite = np.isfinite(np.stack([cmd.q, cmd.dq, cmd.tau, cmd.kp, cmd.kd]))
        if not finite.all():  # a motor driver would reject a non-finite setpoint; we drop the message
            self.stats.lowcmd_rejected += 1
            return
        with self._lock:
            self._pending = cmd
        if self.on_lowcmd_hook is not None:
            self.on_lowcmd_hook(t)

    # ---- physics thread -----------------------------------------------------------------------------
    def _fill_lowstate(self) -> tuple[bytes, int]:
        """The current state as a sealed LowState sample, and its tick."""
        st = self.robot.state()
        W, p = wire.LOWSTATE, self._payload
        tick = int(st.tick * self.robot.dt * 1000) & 0xFFFFFFFF
        W.set(p, "mode_pr", MODE_PR)
        W.set(p, "mode_machine", self.robot.mode_machine)
        W.set(p, "tick", tick)
        W.set(p, "imu_state.quaternion", st.quat_wxyz)
        W.set(p, "imu_state.gyroscope", st.gyro)
        W.set(p, "imu_state.accelerometer", st.acc)
        W.set(p, "imu_state.rpy", st.rpy)
        W.set(p, "imu_state.temperature", 40)
        W.set(p, "motor_state.q", st.q)
        W.set(p, "motor_state.dq", st.dq)
        W.set(p, "motor_state.ddq", st.ddq)
        W.set(p, "motor_state.tau_est", st.tau_est)
        W.set(p, "motor_state.mode", self._driven_mode)
        W.set(p, "motor_state.temperature", 35)
        W.set(p, "wireless_remote", self.remote.encoded())
        return W.seal(p), tick

    def _run(self) -> None:
        self.physics_tid = threading.get_native_id()
        dt = self.robot.dt
        substeps = max(1, int(round(1.0 / (self.cfg.lowstate_hz * dt))))
        period = dt * substeps / self.cfg.speed if self.cfg.speed > 0 else 0.0
        t0 = time.monotonic()
        next_t = t0
        behind = 0  # consecutive cycles that started late
        while not self._stop.is_set():
            with self._lock:
                if self._pending is not None:
                    self.robot.set_command(self._pending)
                    self._pending = None
            self.robot.step(substeps)
            self.stats.steps += substeps
            if self.qpos_out is not None:
                self.qpos_out.write(self.robot.data.qpos, self.robot.tick * self.robot.dt)
            data, tick = self._fill_lowstate()
            now = time.monotonic()
            self._pub.write_raw(data)
            st = self.stats
            gap = now - st.publish_times[-1] if st.publish_times else 0.0
            if gap > PUBLISH_GAP_LOG_S and len(st.publish_gaps) < 10_000:
                st.publish_gaps.append((now, gap))
            st.published += 1
            self.stats.publish_times.append(now)
            if len(self.stats.publish_times) > 200_000:
                del self.stats.publish_times[:100_000]
            if self.on_lowstate_hook is not None:
                self.on_lowstate_hook(now, tick)
            if period:
                next_t += period
                delay = next_t - time.monotonic()
                behind = 0 if delay > 0 else behind + 1
                if delay > 0:
                    time.sleep(max(delay, RT_MIN_SLEEP_S) if self._realtime else delay)
                elif self._realtime:
                    time.sleep(RT_MIN_SLEEP_S)
                    if behind >= RT_GIVE_UP_CYCLES:  # cannot keep pace: never hog the machine at real time
                        os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))
                        self._realtime, self.stats.realtime_dropped = False, True
                if delay < -0.05:  # fell far behind (machine busy): resynchronise instead of bursting
                    self.stats.overruns += 1
                    next_t = time.monotonic()
        self.stats.wall_s = time.monotonic() - t0

    @property
    def sim_time(self) -> float:
        return self.robot.tick * self.robot.dt
