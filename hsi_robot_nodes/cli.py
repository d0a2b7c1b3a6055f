"""``hsi-robot``: the robot side's single entry point (sim, bringup, demo, model, bench).

Errors a user can fix (unknown scene, bad heightfield, wrong DoF, missing interface, a second simulator on
the domain, a refused bridge start) print one line and exit 2; nothing is left half-started.
"""

from __future__ import annotations

import argparse
import importlib
import sys

BENCHES = {
    "sim": "hsi_robot_nodes.bench.sim",
    "loop": "hsi_robot_nodes.bench.loop",
    "heightmap": "hsi_robot_nodes.bench.heightmap",
    "machine": "hsi_robot_nodes.bench.stalls",
    "demo": "hsi_robot_nodes.bench.demo",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hsi-robot", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    from hsi_sim import runner as sim_runner

    p = sub.add_parser("sim", help="MuJoCo G1 speaking the robot's DDS protocol")
    sim_runner.add_arguments(p)
    p.set_defaults(func=sim_runner.run)

    from hsi_robot_nodes import bringup, demo

    p = sub.add_parser("bringup", help="start the onboard nodes in one process (optionally with --sim)")
    bringup.add_arguments(p)
    p.set_defaults(func=bringup.run)
    p = sub.add_parser(
        "demo", help="make demo: bringup --sim with the shipped policy and a scripted operator"
    )
    bringup.add_arguments(p, demo=True)
    p.set_defaults(func=demo.run_demo)

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
    from hsi_kernel.model.mjcf_builder import write_models

    for path in write_models():
        print(f"wrote {path}")
    return 0


def main(argv: list[str] | None = None) -> int:
    if argv is not None:
        sys.argv = [sys.argv[0], *argv]
    args = build_parser().parse_args()
    from hsi_kernel.terrain import TerrainError
    from hsi_kernel.unitree.sdk import DdsSetupError
    from hsi_robot_nodes.bridge.runtime import BridgeError

    try:
        if hasattr(args, "_module"):
            return int(importlib.import_module(args._module).run(args) or 0)
        return int(args.func(args) or 0)
    except KeyboardInterrupt:  # a Ctrl-C outside a command's own handler (start-up, a benchmark): one line
        print(f"hsi-robot {args.command}: interrupted (Ctrl-C)", file=sys.stderr)
        return 130
    except (TerrainError, DdsSetupError, BridgeError, ValueError, FileNotFoundError) as e:
        print(f"hsi-robot {args.command}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
