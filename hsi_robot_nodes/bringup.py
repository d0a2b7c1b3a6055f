"""``hsi-robot bringup``: the onboard nodes of config/nodes.yaml without the ros2 CLI.

The bridge, policy and joystick nodes run in this process on one executor; nodes marked ``process: own`` (the
heightmap node: scan integration would stall the 500 Hz bridge) run as child processes started the way ros2
launch starts them; ``--single-process`` puts them all in this process.

``--sim`` also starts the simulated G1 (DDS domain 1 on lo, simulated MID-360 + odometry) as a child process,
the way the robot is a machine of its own: its 500 Hz physics never competes with the nodes for one Python
interpreter lock. The nodes share one rclpy executor (``--executor``, default rclpy's C++ EventsExecutor).
``hsi-robot demo`` (what ``make demo`` runs) is bringup --sim with a scripted operator on the virtual remote:
start (stand up), release the gantry, A (run the policy), select (damping), and prints what it measured.
"""

from __future__ import annotations

import argparse
import importlib
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import yaml

from hsi_kernel.child_process import die_with_parent, owned_temp_dir
from hsi_kernel.paths import config_dir, models_dir
from hsi_kernel.realtime import (
    control_cpus,
    freeze_heap,
    pin_control,
    realtime_interpreter,
    realtime_priority,
)
from hsi_robot_nodes import defaults
from hsi_robot_nodes.nodes.executors import EXECUTORS, make_executor, spin_while


def load_node_list(path: Path | None = None) -> list[dict]:
    data = yaml.safe_load((path or config_dir() / "nodes.yaml").read_text())
    nodes = data.get("nodes") if isinstance(data, dict) else None
    if not nodes or not all({"name", "module", "executable"} <= set(n) for n in nodes):
        raise ValueError("config/nodes.yaml must list nodes with name, module and executable")
    return nodes


def add_arguments(p: argparse.ArgumentParser, demo: bool = False) -> None:
    p.add_argument("--sim", action="store_true", default=demo, help="also start the simulated G1")
    if demo:
        p.add_argument(
            "--walk",
            action="store_true",
            help="send the demo's goal path (2 m forward, turn around) even when the policy's metadata lists "
            "no 'walk' skill",
        )
    p.add_argument("--scene", default="flat")
    p.add_argument("--dof", type=int, default=defaults.DOF, choices=(23, 29))
    p.add_argument("--domain", type=int, default=defaults.DOMAIN)
    p.add_argument("--interface", default=defaults.INTERFACE)
    policy = defaults.DEMO_POLICY if demo else defaults.BRINGUP_POLICY
    p.add_argument(
        "--policy",
        default=str(models_dir() / policy),
        help="ONNX policy (with hsi_robot metadata); demo: the shipped trained student, bringup: "
        "the hold-default-pose placeholder",
    )
    p.add_argument("--blind-policy", default="", help="optional blind policy for the B-button switch")
    p.add_argument("--no-heightmap", dest="heightmap", action="store_false")
    p.add_argument("--duration", type=float, default=18.0 if demo else 0.0, help="seconds (0 = until Ctrl-C)")
    p.add_argument(
        "--single-process",
        action="store_true",
        help="also run the nodes marked `process: own` in config/nodes.yaml in this process",
    )
    p.add_argument(
        "--executor",
        choices=EXECUTORS,
        default="events",
        help="rclpy executor shared by the in-process nodes: events (rclpy's C++ EventsExecutor), "
        "single (SingleThreadedExecutor) or multi (MultiThreadedExecutor)",
    )
    p.add_argument("--json", type=Path, default=None, help="write the measured summary here")


class NodeProcess:
    """A node of the list in a process of its own, started exactly as ``ros2 launch`` would start it
    (``python -m <module> --ros-args -p name:=value ...``); it dies with its parent."""

    def __init__(self, name: str, module: str, params: dict):
        self.name = name
        self.cmd = [sys.executable, "-m", module, "--ros-args"]
        for k, v in params.items():
            text = str(v).lower() if isinstance(v, bool) else str(v)
            self.cmd += ["-p", f"{k}:={text}"]
        self.proc: subprocess.Popen | None = None

    def start(self) -> NodeProcess:
        # HSI_RT_PRIORITY=0: the node's realtime_interpreter() drops the real-time scheduling it inherits.
        # These nodes have a process of their own because they are CPU-heavy (scan integration); at SCHED_RR
        # a busy thread keeps a core for whole 100 ms round-robin slices, which delayed the simulator's and
        # the bridge's threads by 100 ms (LowState stale trips at stand-up); at normal priority the kernel
        # preempts it within a millisecond for them. It takes the control loop's weight (nice -10,
        # realtime.control_weight): its map feeds the policy.
        self.proc = subprocess.Popen(
            self.cmd, preexec_fn=die_with_parent, env=dict(os.environ, HSI_RT_PRIORITY="0")
        )
        return self

    def stop(self) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


class Bringup:
    """Start the simulator (optional) and every node of the list on one multi-threaded executor."""

    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.sim = None  # SimProcess
        self.scheduling = ""
        self.trace_path: Path | None = None
        self.nodes: list = []
        self.failure = ""  # set when the executor thread died (see _spin)
        self.children: list[NodeProcess] = []  # nodes of config/nodes.yaml marked `process: own`
        self.context = None
        self.executor = None
        self._thread: threading.Thread | None = None
        self._spinning = threading.Event()

    def start(self, script: str = "") -> Bringup:
        import rclpy

        a = self.args
        realtime_interpreter(priority=False)  # real-time priority once started (realtime_priority: why)
        control_cpus()  # a malformed HSI_CONTROL_CPUS is refused before anything starts
        if getattr(a, "policy", "") or getattr(a, "blind_policy", ""):  # so is a broken policy
            from hsi_robot_nodes.nodes.policy_node import check_policies

            check_policies(a.policy, a.blind_policy or "", a.dof, getattr(a, "heightmap", True))
        if a.sim:
            from hsi_sim.process import SimProcess

            self.trace_path = sim_trace_dir() / "trace.json"  # removed in stop()
            try:
                self.sim = SimProcess(
                    a.scene,
                    a.dof,
                    a.domain,
                    a.interface,
                    band=True,
                    lidar=getattr(a, "heightmap", True),
                    script=script,
                    trace=self.trace_path,
                ).start()
            except BaseException:  # a failed start leaves no temp folder either
                self.stop()
                raise
        self.context = rclpy.Context()
        rclpy.init(context=self.context, args=getattr(a, "ros_args", None))
        try:
            for spec in load_node_list():
                flag = spec.get("optional_flag")
                if flag and not getattr(a, flag, True):
                    continue
                params = dict(spec.get("params") or {})
                for key in spec.get("from_args", []):
                    value = getattr(a, key, None)
                    if value not in (None, ""):
                        params[key] = value
                if spec.get("process") == "own" and getattr(a, "control_only", False):
                    continue  # hsi_robot_control under ros2 launch: the launch file starts these
                if spec.get("process") == "own" and not getattr(a, "single_process", False):
                    self.children.append(NodeProcess(spec["name"], spec["module"], params).start())
                    continue
                module = importlib.import_module(spec["module"])
                self.nodes.append(module.build_node(context=self.context, **params))
        except BaseException:
            self.stop()
            raise
        self.executor = make_executor(getattr(a, "executor", "events"), self.context)
        for n in self.nodes:
            self.executor.add_node(n)
        freeze_heap()  # before the loop starts: no full collection pauses it later
        self._spinning.set()
        self._thread = threading.Thread(target=self._spin, daemon=True, name="executor")
        self._thread.start()
        self.scheduling = realtime_priority()  # every thread of this process, now that start-up is over
        kids = [c.proc.pid for c in self.children if c.proc is not None]
        if self.sim is not None and self.sim.proc is not None:
            kids.append(self.sim.proc.pid)
        self.scheduling += "; " + pin_control(kids)
        return self

    def _spin(self) -> None:
        """The executor thread. A callback that raises ends it, and with it every DDS-delivered callback (the
        operator's services and events, the root target, the heightmap), while the control path goes on over
        ``local_bus``: so the bridge is damped at once and ``failure`` says why (``run`` exits 1)."""
        try:
            spin_while(self.executor, self._spinning)
        except Exception as e:
            import traceback

            traceback.print_exc()
            self.failure = f"executor thread ended: {e!r}"
            for n in self.nodes:
                bridge = getattr(n, "bridge", None)
                if bridge is not None:
                    bridge.event("damp")
            print(f"hsi-robot bringup: {self.failure}; bridge damped", file=sys.stderr, flush=True)

    def node(self, name: str):
        """An in-process node by name (nodes in processes of their own are in ``children``)."""
        return next(n for n in self.nodes if n.get_name() == name)

    def stop(self) -> dict | None:
        """Stop the nodes, then the simulator; returns the simulator's ground-truth trace (``--sim``)."""
        import rclpy

        if self.executor is not None:
            self._spinning.clear()
            if self._thread is not None:
                self._thread.join(timeout=2)  # no callback may still run when the nodes are destroyed
            self.executor.shutdown()
            self.executor = None
        for n in reversed(self.nodes):
            n.destroy_node()
        self.nodes = []
        for c in self.children:
            c.stop()
        self.children = []
        if self.context is not None:
            rclpy.try_shutdown(context=self.context)
            self.context = None
        trace = self.sim.stop() if self.sim is not None else None
        if self.trace_path is not None:  # the trace is read: its temp folder must not outlive the run
            shutil.rmtree(self.trace_path.parent, ignore_errors=True)
            self.trace_path = None
        return trace


SIM_TMP_PREFIX = "hsi_sim_"
"""Temp folders for the simulator's trace: ``hsi_sim_<pid>-<start time of the bringup>_<random>``."""


def sim_trace_dir() -> Path:
    """A fresh temp folder for the simulator's trace, named after this process, after removing the folders
    of bringups that no longer run (``child_process.owned_temp_dir``).

    Why: ``Bringup.stop`` removes the folder, but a process killed outright (SIGKILL: an evaluation child
    stopped at its time limit, the OOM killer) runs no clean-up, and its folder would stay for good. Only
    this user's folders are touched, and only those whose process is gone.
    """
    return owned_temp_dir(SIM_TMP_PREFIX)


def run(args: argparse.Namespace) -> int:
    b = Bringup(args).start()
    names = [n.get_name() for n in b.nodes] + [c.name for c in b.children]
    print(
        f"hsi-robot bringup: {', '.join(names)}{' + simulated G1' if b.sim else ''}; {b.scheduling}",
        flush=True,
    )
    t0 = time.monotonic()
    try:
        while (args.duration <= 0 or time.monotonic() - t0 < args.duration) and not b.failure:
            time.sleep(0.1)
    except KeyboardInterrupt:
        pass
    finally:
        b.stop()
    return 1 if b.failure else 0
