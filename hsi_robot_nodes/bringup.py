"""``hsi-robot bringup``: the onboard nodes of config/nodes.yaml in one process (no ros2 CLI needed).

``--sim`` also starts the simulated G1 (DDS domain 1 on lo). ``hsi-robot demo`` (what ``make demo`` runs)
is bringup --sim with a scripted operator on the virtual remote: start (stand up), A (run the policy), select
(damping), and prints what it measured.
"""

from __future__ import annotations

import argparse
import importlib
import json
import threading
import time
from pathlib import Path

import numpy as np
import yaml

from hsi_robot_nodes.paths import config_dir, models_dir


def load_node_list(path: Path | None = None) -> list[dict]:
    data = yaml.safe_load((path or config_dir() / "nodes.yaml").read_text())
    nodes = data.get("nodes") if isinstance(data, dict) else None
    if not nodes or not all({"name", "module", "executable"} <= set(n) for n in nodes):
        raise ValueError("config/nodes.yaml must list nodes with name, module and executable")
    return nodes


def add_arguments(p: argparse.ArgumentParser, demo: bool = False) -> None:
    p.add_argument("--sim", action="store_true", default=demo, help="also start the simulated G1")
    p.add_argument("--scene", default="flat")
    p.add_argument("--dof", type=int, default=23, choices=(23, 29))
    p.add_argument("--domain", type=int, default=1)
    p.add_argument("--interface", default="lo")
    p.add_argument("--policy", default=str(models_dir() / "hold_default_23dof.onnx"),
                   help="ONNX policy (with hsi_robot metadata)")
    p.add_argument("--blind-policy", default="", help="optional blind policy for the B-button switch")
    p.add_argument("--no-heightmap", dest="heightmap", action="store_false")
    p.add_argument("--duration", type=float, default=18.0 if demo else 0.0, help="seconds (0 = until Ctrl-C)")
    p.add_argument("--json", type=Path, default=None, help="write the measured summary here")


class Bringup:
    """Start the simulator (optional) and every node of the list on one multi-threaded executor."""

    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.sim = None
        self.nodes: list = []
        self.context = None
        self.executor = None
        self._thread: threading.Thread | None = None

    def start(self) -> Bringup:
        import rclpy
        from rclpy.executors import MultiThreadedExecutor

        a = self.args
        if a.sim:
            from hsi_robot_nodes.sim.dds_sim import DdsSimulator, SimConfig

            self.sim = DdsSimulator(SimConfig(a.scene, a.dof, a.domain, a.interface, band=True)).start()
        self.context = rclpy.Context()
        rclpy.init(context=self.context)
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
                module = importlib.import_module(spec["module"])
                self.nodes.append(module.build_node(context=self.context, **params))
        except BaseException:
            self.stop()
            raise
        if self.sim is not None and getattr(a, "heightmap", True):
            from hsi_robot_nodes.sim.lidar import SimLidarPublisher

            self.lidar = SimLidarPublisher(self.sim.robot.model, self.sim.robot.data, self.context)
            self.nodes.append(self.lidar.node)
        self.executor = MultiThreadedExecutor(num_threads=4, context=self.context)
        for n in self.nodes:
            self.executor.add_node(n)
        self._thread = threading.Thread(target=self.executor.spin, daemon=True)
        self._thread.start()
        return self

    def node(self, name: str):
        return next(n for n in self.nodes if n.get_name() == name)

    def stop(self) -> None:
        import rclpy

        if self.executor is not None:
            self.executor.shutdown(timeout_sec=2)
        for n in reversed(self.nodes):
            n.destroy_node()
        if self.context is not None:
            rclpy.try_shutdown(context=self.context)
        if self.sim is not None:
            self.sim.stop()


def run(args: argparse.Namespace) -> int:
    b = Bringup(args).start()
    print(f"hsi-robot bringup: {', '.join(n.get_name() for n in b.nodes)}" + (" + simulated G1" if b.sim else ""),
          flush=True)
    t0 = time.monotonic()
    try:
        while args.duration <= 0 or time.monotonic() - t0 < args.duration:
            time.sleep(0.1)
    except KeyboardInterrupt:
        pass
    finally:
        b.stop()
    return 0


def run_demo(args: argparse.Namespace) -> int:
    """Scripted operator: start at 1 s, release the gantry at 3.5 s, A at 4 s, select 10 s later."""
    b = Bringup(args).start()
    sim, bridge = b.sim, b.node("unitree_bridge").bridge
    print(f"demo: G1 {args.dof}-DoF on '{args.scene}' with {Path(args.policy).name}; nodes: "
          f"{', '.join(n.get_name() for n in b.nodes)}", flush=True)
    script = [(1.0, "start"), (3.5, "release"), (4.0, "A"), (14.0, "select")]
    heights, t0 = [], time.monotonic()
    try:
        while time.monotonic() - t0 < max(args.duration, 15.0):
            el = time.monotonic() - t0
            while script and script[0][0] <= el:
                _, what = script.pop(0)
                if what == "release":
                    sim.release_band()
                else:
                    sim.remote.press(what)
                print(f"  t={el:5.1f}s  operator: {what:7s}  bridge: {bridge.state.value}", flush=True)
            if bridge.state.value == "run":
                heights.append(sim.robot.base_height())
            time.sleep(0.05)
    finally:
        b.stop()
    h = np.array(heights) if heights else np.array([np.nan])
    summary = {
        "transitions": [s for _, _, s in bridge.safety.transitions], "final_state": bridge.state.value,
        "run_seconds": round(len(heights) * 0.05, 2),
        "base_height_during_run_m": {"min": float(h.min()), "mean": float(h.mean()), "max": float(h.max())},
        "lowcmd_written": bridge.lowcmd_written, "sim_lowcmd_bad_crc": sim.stats.lowcmd_bad_crc,
        "bridge_bad_lowstate_crc": bridge.bad_lowstate_crc,
    }
    print(json.dumps(summary, indent=2))
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2))
    return 0 if summary["final_state"] == "damping" and "run" in summary["transitions"] else 1
