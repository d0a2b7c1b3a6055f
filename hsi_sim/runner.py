"""``hsi-robot sim``: the simulated G1 as its own process, like the real robot is its own machine.

Runs a :class:`DdsSimulator` (and, with ``--lidar``, the simulated MID-360 + odometry as rclpy topics from a
child process fed the pose by shared memory, ``sim/lidar_process.py``), plays
a scripted operator on the virtual remote, records a ground-truth trace and prints one ``ready`` line once
LowState is on the wire so a parent process (``hsi-robot bringup --sim``, the loop benchmark, evaluation)
can wait for it. SIGTERM stops it cleanly, like Ctrl-C, so the trace is still written.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hsi_kernel.unitree import link
from hsi_kernel.unitree.remote import BUTTONS
from hsi_sim.process import READY

ACTIONS = ("release", "sticks")


@dataclass(frozen=True)
class ScriptItem:
    """One scripted operator action at ``t`` seconds after start: a remote button, ``release`` (the
    gantry band) or ``sticks`` (lx, ly, rx, ry in [-1, 1], held until the next ``sticks`` item)."""

    t: float
    action: str
    sticks: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)


def parse_remote_script(text: str) -> list[ScriptItem]:
    """``'1:start,3.5:release,4:A,6:sticks=0/0.5/0/0,14:select'`` -> sorted items; one-line ValueError."""
    out = []
    for item in filter(None, (s.strip() for s in text.split(","))):
        try:
            t_text, what = item.split(":")
            t = float(t_text)
        except ValueError:
            raise ValueError(f"bad --remote-script item '{item}': use seconds:button") from None
        if what.startswith("sticks="):
            try:
                vals = tuple(float(v) for v in what[len("sticks=") :].split("/"))
            except ValueError:
                vals = ()
            if len(vals) != 4 or not all(math.isfinite(v) and -1 <= v <= 1 for v in vals):
                raise ValueError(f"bad --remote-script item '{item}': sticks=lx/ly/rx/ry, each in [-1, 1]")
            out.append(ScriptItem(t, "sticks", vals))  # type: ignore[arg-type]
        elif what in BUTTONS or what == "release":
            out.append(ScriptItem(t, what))
        else:
            raise ValueError(
                f"bad --remote-script item '{item}': '{what}' is not a remote button "
                f"({', '.join(BUTTONS)}), 'release' or 'sticks=lx/ly/rx/ry'"
            )
    return sorted(out, key=lambda s: s.t)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--scene",
        default="flat",
        help="flat | stairs | stairs_down | kerb | bench | rough | path to a terrain .npz",
    )
    p.add_argument("--dof", type=int, default=link.DOF, choices=(23, 29))
    p.add_argument("--domain", type=int, default=link.DOMAIN, help="DDS domain (a real robot uses 0)")
    p.add_argument("--interface", default=link.INTERFACE, help="network interface for DDS")
    p.add_argument("--speed", type=float, default=1.0, help="real-time factor (0 = as fast as possible)")
    p.add_argument("--duration", type=float, default=0.0, help="seconds to run (0 = until Ctrl-C)")
    p.add_argument("--band", action="store_true", help="hold the robot on an elastic band (gantry)")
    p.add_argument(
        "--physics-priority",
        type=int,
        default=None,
        help="SCHED_FIFO priority of the physics thread, the robot's firmware; the simulator's other threads "
        "run one below (default: two above $HSI_RT_PRIORITY; 0 = normal scheduling; needs root or "
        "CAP_SYS_NICE, else it runs normally)",
    )
    p.add_argument(
        "--remote-script",
        default="",
        help="scripted operator, e.g. '1:start,3.5:release,4:A,6:sticks=0/0.5/0/0,14:select'",
    )
    p.add_argument(
        "--lidar",
        action="store_true",
        help="also publish the simulated MID-360 cloud and odometry (rclpy, ROS_DOMAIN_ID)",
    )
    p.add_argument(
        "--trace",
        type=Path,
        default=None,
        help="write a ground-truth trace (JSON: monotonic time, pelvis pose, height, tilt, torque "
        "and joint-limit margins; see TRACE_COLUMNS)",
    )
    p.add_argument("--trace-hz", type=float, default=50.0)
    p.add_argument("--seed", type=int, default=0, help="seed of the simulated LiDAR and odometry noise")
    p.add_argument(
        "--stdin-control",
        action="store_true",
        help="also take operator actions as lines on stdin ('start', 'release', "
        "'sticks=0/0.5/0/0'); end of stdin stops the simulator (a parent process that dies "
        "takes it along)",
    )


TRACE_COLUMNS = (
    "t",
    "x",
    "y",
    "z",
    "height",
    "tilt",
    "yaw",
    "tau_ratio",
    "tau_joint",
    "qlim_margin",
    "qlim_joint",
)
"""Ground-truth trace columns: the pelvis first, then what evaluation needs: heading, the largest
|tau| / effort limit over the joints and which joint (contract index), the smallest distance to a joint limit
(rad, negative beyond it) and which joint."""


def _sample(sim) -> list[float]:
    """One trace row of the running simulator, stamped with the monotonic clock."""
    return trace_row(sim.robot, time.monotonic())


def trace_row(robot, t: float) -> list[float]:
    """One trace row (``TRACE_COLUMNS``) of the pelvis and motors of a ``SimRobot`` (ground truth)."""
    qpos = robot.data.qpos[:7].copy()
    w, x, y, z = qpos[3:7]
    up_z = 1.0 - 2.0 * (x * x + y * y)  # z of the pelvis' up axis in world
    h = float(qpos[2] - robot.scene.terrain.height_at(qpos[:2]))
    yaw = math.atan2(2.0 * (w * z + x * y), 1.0 - 2.0 * (y * y + z * z))
    c = robot.contract
    st = robot.state()
    tau_ratio = np.abs(c.slots_to_joints(st.tau_est)) / c.effort
    q = c.slots_to_joints(st.q)
    margin = np.minimum(q - c.lower, c.upper - q)
    i_tau, i_q = int(np.argmax(tau_ratio)), int(np.argmin(margin))
    return [
        t,
        *(round(float(v), 5) for v in qpos[:3]),
        round(h, 5),
        round(math.acos(max(-1.0, min(1.0, up_z))), 5),
        round(yaw, 5),
        round(float(tau_ratio[i_tau]), 5),
        i_tau,
        round(float(margin[i_q]), 5),
        i_q,
    ]


def _read_stdin(script: list[ScriptItem], stop: threading.Event) -> None:
    """Operator actions from the parent, applied at once (t = -1 sorts them first); EOF stops the sim."""
    import sys

    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        try:
            items = parse_remote_script(f"0:{line}")
        except ValueError as e:
            print(f"hsi-robot sim: ignored stdin action: {e}", flush=True)
            continue
        script[:0] = [ScriptItem(-1.0, i.action, i.sticks) for i in items]
    stop.set()


class LidarProcess:
    """The simulated MID-360 + odometry child (``sim/lidar_process.py``) and the shared pose it reads."""

    def __init__(self, proc: subprocess.Popen, qpos) -> None:
        self.proc, self.qpos = proc, qpos

    def stop(self) -> None:
        """End the child. The shared pose stays until ``close()``: the physics thread may still write it."""
        with contextlib.suppress(OSError):
            self.proc.stdin.close()  # type: ignore[union-attr]
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def close(self) -> None:
        """Remove the shared pose; only once the simulator's physics thread has stopped."""
        self.qpos.close()


class LidarStartError(RuntimeError):
    def __init__(self, message: str, lidar: LidarProcess):
        super().__init__(message)
        self.lidar = lidar


def start_lidar_process(sim, args: argparse.Namespace, timeout_s: float = 60.0) -> LidarProcess:
    """Share the simulator's pose and start the LiDAR process on it; returns once it publishes (its ready
    line). One-line RuntimeError with the child's last words if it does not come up."""
    import sys

    from hsi_kernel.child_process import die_with_parent
    from hsi_sim.lidar_process import READY as LIDAR_READY
    from hsi_sim.shared_qpos import SharedQpos

    qpos = SharedQpos.create(sim.robot.model.nq)
    qpos.write(sim.robot.data.qpos, 0.0)
    sim.qpos_out = qpos
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "hsi_sim.lidar_process",
            "--qpos",
            qpos.name,
            "--nq",
            str(sim.robot.model.nq),
            "--scene",
            str(args.scene),
            "--dof",
            str(args.dof),
            "--seed",
            str(args.seed),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        preexec_fn=die_with_parent,
    )
    lines: list[str] = []
    ready = threading.Event()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            if not ready.is_set():
                lines.append(line.rstrip())
            if line.startswith(LIDAR_READY):
                ready.set()
            elif ready.is_set():
                print(f"sim lidar: {line.rstrip()}", flush=True)
        ready.set()  # EOF: it exited

    threading.Thread(target=pump, daemon=True).start()
    out = LidarProcess(proc, qpos)
    if not ready.wait(timeout_s) or proc.poll() is not None:
        out.stop()  # the caller stops the simulator, then closes the shared pose
        last = next((ln for ln in reversed(lines) if ln.strip()), "no output")
        raise LidarStartError(f"the simulated LiDAR did not start: {last}", out)
    return out


def run(args: argparse.Namespace) -> int:
    from hsi_kernel.realtime import realtime_interpreter, realtime_priority, rt_priority
    from hsi_sim.dds_sim import DdsSimulator, SimConfig

    # the 500 Hz physics thread must not wait 5 ms behind the LiDAR or the DDS reader; real-time priority
    # (if asked for) only once started, as in bringup
    realtime_interpreter(priority=False)
    script = parse_remote_script(args.remote_script)
    if args.trace_hz <= 0:
        raise ValueError("--trace-hz must be positive")
    stop = threading.Event()

    def _on_term(_sig, _frame):
        stop.set()

    signal.signal(signal.SIGTERM, _on_term)
    cfg = SimConfig(args.scene, args.dof, args.domain, args.interface, args.speed, band=args.band)
    sim = DdsSimulator(cfg)
    sim.start()
    try:
        lidar = start_lidar_process(sim, args) if args.lidar else None
    except LidarStartError as e:
        sim.stop()
        e.lidar.close()
        print(f"hsi-robot sim: error: {e}", flush=True)
        return 2
    if args.stdin_control:
        threading.Thread(target=_read_stdin, args=(script, stop), daemon=True).start()
    from hsi_kernel.realtime import freeze_heap

    freeze_heap()  # no full garbage collection pauses the 500 Hz physics later
    scheduling = realtime_priority()
    physics = rt_priority() + 2 if args.physics_priority is None else args.physics_priority
    scheduling += "; " + sim.raise_physics_priority(physics)
    t0 = time.monotonic()
    print(
        f"{READY}: G1 {args.dof}-DoF on '{sim.robot.scene.name}', DDS domain {args.domain} on "
        f"{args.interface}{', lidar' if lidar else ''}; {scheduling}; Ctrl-C to stop",
        flush=True,
    )
    trace: list[list[float]] = []
    events: list[tuple[float, str]] = []
    next_sample = t0
    try:
        while not stop.is_set() and (args.duration <= 0 or time.monotonic() - t0 < args.duration):
            now = time.monotonic()
            while script and (script[0].t <= now - t0 or script[0].t < 0):
                item = script.pop(0)
                if item.action == "release":
                    sim.release_band()
                elif item.action == "sticks":
                    sim.remote.set_sticks(*item.sticks)
                else:
                    sim.remote.press(item.action)
                events.append((now, item.action))
            if args.trace and now >= next_sample:
                trace.append(_sample(sim))
                next_sample += 1.0 / args.trace_hz
            time.sleep(0.005)
    except KeyboardInterrupt:
        pass
    finally:
        if lidar is not None:
            lidar.stop()
        sim.stop()
        if lidar is not None:
            lidar.close()
    s = sim.stats
    summary = {
        "sim_time_s": round(sim.sim_time, 3),
        "wall_s": round(s.wall_s, 3),
        "lowstate_published": s.published,
        "lowcmd_received": s.lowcmd_received,
        "lowstate_publish_gaps_over_8ms": {
            "count": len(s.publish_gaps),
            "worst_ms": round(1e3 * max((g for _, g in s.publish_gaps), default=0.0), 1),
            # monotonic s (system-wide clock, comparable with the bridge's) and ms of the recent ones
            "at_monotonic_s_ms": [(round(t, 3), round(1e3 * g, 1)) for t, g in s.publish_gaps[-200:]],
        },
        "lowcmd_bad_crc": s.lowcmd_bad_crc,
        "lowcmd_rejected": s.lowcmd_rejected,
        "overruns": s.overruns,
        "realtime_dropped": s.realtime_dropped,
        "base_height_m": round(sim.robot.base_height(), 4),
    }
    print(json.dumps(summary), flush=True)
    if args.trace:
        from hsi_kernel.atomic import write_json_atomic

        write_json_atomic(
            args.trace, {"summary": summary, "events": events, "columns": list(TRACE_COLUMNS), "trace": trace}
        )
    return 0
