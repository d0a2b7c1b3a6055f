"""``hsi-robot``: the robot side's single entry point (sim, bringup, demo, model, bench).

Errors a user can fix (unknown scene, bad heightfield, wrong DoF, missing interface, a second simulator on
the domain, a refused bridge start) print one line and exit 2; nothing is left half-started.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time

BENCHES = {
    "sim": "hsi_robot_nodes.bench.sim",
    "loop": "hsi_robot_nodes.bench.loop",
    "heightmap": "hsi_robot_nodes.bench.heightmap",
}


def _add_dds(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dof", type=int, default=23, choices=(23, 29))
    p.add_argument("--domain", type=int, default=1, help="DDS domain (default 1; a real robot uses 0)")
    p.add_argument("--interface", default="lo", help="network interface for DDS (default lo)")


def add_sim_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--scene", default="flat",
                   help="flat | stairs | stairs_down | kerb | bench | rough | path to a terrain .npz")
    _add_dds(p)
    p.add_argument("--speed", type=float, default=1.0, help="real-time factor (0 = as fast as possible)")
    p.add_argument("--duration", type=float, default=0.0, help="seconds to run (0 = until Ctrl-C)")
    p.add_argument("--band", action="store_true", help="hold the robot on an elastic band (gantry)")
    p.add_argument("--remote-script", default="",
                   help="scripted remote presses, e.g. '1.0:start,4.0:A,14:select' (seconds:button)")


def parse_remote_script(text: str) -> list[tuple[float, str]]:
    out = []
    for item in filter(None, (s.strip() for s in text.split(","))):
        try:
            t, button = item.split(":")
            out.append((float(t), button))
        except ValueError:
            raise ValueError(f"bad --remote-script item '{item}': use seconds:button") from None
    return sorted(out)


def run_sim(args: argparse.Namespace) -> int:
    from hsi_robot_nodes.sim.dds_sim import DdsSimulator, SimConfig

    script = parse_remote_script(args.remote_script)
    sim = DdsSimulator(SimConfig(args.scene, args.dof, args.domain, args.interface, args.speed, band=args.band))
    sim.start()
    print(f"hsi-robot sim: G1 {args.dof}-DoF on '{sim.robot.scene.name}', DDS domain {args.domain} on "
          f"{args.interface}; Ctrl-C to stop", flush=True)
    t0 = time.monotonic()
    try:
        while args.duration <= 0 or time.monotonic() - t0 < args.duration:
            el = time.monotonic() - t0
            while script and script[0][0] <= el:
                sim.remote.press(script.pop(0)[1])
            time.sleep(0.01)
    except KeyboardInterrupt:
        pass
    finally:
        sim.stop()
    s = sim.stats
    print(json.dumps({"sim_time_s": round(sim.sim_time, 3), "wall_s": round(s.wall_s, 3),
                      "lowstate_published": len(s.publish_times), "lowcmd_received": s.lowcmd_received,
                      "lowcmd_bad_crc": s.lowcmd_bad_crc, "base_height_m": round(sim.robot.base_height(), 4)}))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hsi-robot", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("sim", help="MuJoCo G1 speaking the robot's DDS protocol")
    add_sim_arguments(p)
    p.set_defaults(func=run_sim)

    from hsi_robot_nodes import bringup

    p = sub.add_parser("bringup", help="start the onboard nodes in one process (optionally with --sim)")
    bringup.add_arguments(p)
    p.set_defaults(func=bringup.run)
    p = sub.add_parser("demo", help="make demo: bringup --sim with the shipped policy and a scripted operator")
    bringup.add_arguments(p, demo=True)
    p.set_defaults(func=bringup.run_demo)

    p = sub.add_parser("model", help="G1 model files")
    msub = p.add_subparsers(dest="model_cmd", required=True)
    mb = msub.add_parser("build", help="regenerate models/g1_23dof.xml and g1_29dof.xml")
    mb.set_defaults(func=lambda a: _model_build())

    bench = sub.add_parser("bench", help="benchmarks that print figures (and --json PATH)")
    bsub = bench.add_subparsers(dest="bench", required=True)
    for name, module in BENCHES.items():
        bp = bsub.add_parser(name)
        bp.set_defaults(_module=module)
        if sys.argv[1:3] == ["bench", name]:
            importlib.import_module(module).add_arguments(bp)
    return parser


def _model_build() -> int:
    from hsi_robot_nodes.model.mjcf_builder import write_models

    for path in write_models():
        print(f"wrote {path}")
    return 0


def main(argv: list[str] | None = None) -> int:
    if argv is not None:
        sys.argv = [sys.argv[0], *argv]
    args = build_parser().parse_args()
    from hsi_robot_nodes.bridge.runtime import BridgeError
    from hsi_robot_nodes.terrain import TerrainError
    from hsi_robot_nodes.unitree.sdk import DdsSetupError

    try:
        if hasattr(args, "_module"):
            return int(importlib.import_module(args._module).run(args) or 0)
        return int(args.func(args) or 0)
    except (TerrainError, DdsSetupError, BridgeError, ValueError, FileNotFoundError) as e:
        print(f"hsi-robot {args.command}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
