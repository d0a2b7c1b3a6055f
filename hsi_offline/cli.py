"""``hsi-offline``: the workstation pipeline's single entry point.

Each subcommand lives in its own module exposing ``add_arguments(parser)`` and ``run(args) -> int``; they are
imported only when chosen, so ``hsi-offline --help`` stays fast and a broken optional stage cannot break the
others. Errors a user can fix print one line and exit 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys

COMMANDS: dict[str, tuple[str, str]] = {
    "reconstruct": ("hsi_offline.reconstruct.cli", "video -> human motion and terrain (clip folder)"),
    "view": ("hsi_offline.reconstruct.view", "interactive 3D view (viser) of a clip folder"),
    "retarget": ("hsi_offline.retarget.cli", "human motion / mocap -> G1 motion clip"),
    "clips": ("hsi_offline.training.clips_cli", "write procedural flat-ground clips (standing, sway)"),
    "train": ("hsi_offline.training.cli", "train a policy stage: mpt | track | distill | finetune"),
    "export": ("hsi_offline.training.export", "export a checkpoint to ONNX with metadata"),
    "evaluate": ("hsi_offline.evaluation.cli", "sim2sim evaluation of an exported policy"),
    "tracking": ("hsi_offline.evaluation.tracking", "how well a training checkpoint tracks each clip"),
    "pipeline": ("hsi_offline.pipeline.cli", "run file -> every stage to an evaluated policy (resumable)"),
}
BENCHES: dict[str, str] = {
    "retarget": "hsi_offline.bench.retarget",
    "reconstruct": "hsi_offline.bench.reconstruct",
    "env": "hsi_offline.bench.env",
    "policy": "hsi_offline.bench.policy",
    "train": "hsi_offline.bench.train",
}


class UserError(Exception):
    """An error with a one-line, actionable message (exit code 2)."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hsi-offline", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (module, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text)
        p.set_defaults(_module=module)
        if name in sys.argv[1:2]:  # only the chosen command's module is imported
            importlib.import_module(module).add_arguments(p)
    bench = sub.add_parser("bench", help="benchmarks that print figures (and --json PATH)")
    bsub = bench.add_subparsers(dest="bench", required=True)
    for name, module in BENCHES.items():
        p = bsub.add_parser(name)
        p.set_defaults(_module=module)
        if sys.argv[1:3] == ["bench", name]:
            importlib.import_module(module).add_arguments(p)
    return parser


def one_line(e: BaseException) -> str:
    """The error as one line that names the file: an ``OSError`` as "'FILE': what happened" (its own text
    names the file only sometimes), anything else as its message with line breaks folded."""
    if isinstance(e, OSError) and e.filename is not None:
        where = f"'{e.filename}'" + (f" -> '{e.filename2}'" if e.filename2 is not None else "")
        text = f"{where}: {e.strerror or type(e).__name__}"
    else:
        text = str(e) or type(e).__name__
    return " ".join(part.strip() for part in text.splitlines() if part.strip())


def main(argv: list[str] | None = None) -> int:
    """Run one subcommand. A user's mistake (bad input, a file that cannot be read or written, a config of
    the wrong shape) is one line and exit 2; Ctrl-C is one line and exit 130 (the shell's code for SIGINT),
    never a traceback: the writers are atomic, so nothing half-written is left to explain."""
    import yaml

    if argv is not None:
        sys.argv = [sys.argv[0], *argv]
    command = " ".join(a for a in sys.argv[1:3] if not a.startswith("-")) or "hsi-offline"
    try:
        args = build_parser().parse_args()
        command = args.command
        return int(importlib.import_module(args._module).run(args) or 0)
    except KeyboardInterrupt:
        print(f"hsi-offline {command}: interrupted (Ctrl-C)", file=sys.stderr)
        return 130
    except (UserError, OSError, ValueError, TypeError, yaml.YAMLError) as e:
        print(f"hsi-offline {command}: error: {one_line(e)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
