"""``hsi-offline export``: a training checkpoint -> the ONNX policy the robot runs (see hsi_offline/export).

hsi-offline export CHECKPOINT.pt --out policy.onnx   # rsl-rl-style checkpoint with an hsi_meta dict
hsi-offline export --hold-default [--dof 23] [--out PATH]   # regenerate the shipped placeholder
hsi-offline export --show policy.onnx                # print an exported policy's metadata
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

from hsi_offline.cli import UserError


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "checkpoint",
        nargs="?",
        type=Path,
        help="training checkpoint (.pt) with hsi_meta, or a run folder (its last model_<it>.pt)",
    )
    p.add_argument("--out", type=Path, default=None, help="ONNX file to write (default: CHECKPOINT.onnx)")
    p.add_argument("--hold-default", action="store_true", help="export the zero-action hold-default policy")
    p.add_argument("--dof", type=int, default=23, choices=(23, 29), help="DoF for --hold-default")
    p.add_argument(
        "--golden-obs",
        type=Path,
        default=None,
        help=".npy (N, dim) observations for the golden "
        "check (default: the checkpoint's recorded_obs, else synthetic ones)",
    )
    p.add_argument("--tol", type=float, default=1e-4, help="max abs torch/onnxruntime difference allowed")
    p.add_argument("--show", type=Path, default=None, help="print the metadata of an exported ONNX policy")


def last_checkpoint(run_dir: Path) -> Path:
    """The highest-numbered ``model_<it>.pt`` of a run folder (the iteration a stage ended on depends on
    its warm-up and resume history, so scripts name the folder, not the file)."""
    found = sorted(
        (int(m.group(1)), f)
        for f in run_dir.glob("model_*.pt")
        if (m := re.fullmatch(r"model_(\d+)\.pt", f.name))
    )
    if not found:
        raise UserError(f"run folder {run_dir} has no model_<iteration>.pt checkpoint")
    return found[-1][1]


def run(args: argparse.Namespace) -> int:
    import numpy as np

    if args.show:
        from hsi_kernel.policy_file import load_metadata

        print(json.dumps(load_metadata(args.show).to_dict(), indent=2))
        return 0
    if args.hold_default:
        from hsi_offline.export.hold_default import export_hold_default

        res = export_hold_default(args.dof, args.out)
    else:
        from hsi_offline.export.checkpoint import load_checkpoint
        from hsi_offline.export.onnx_export import export_policy

        if args.checkpoint is None:
            raise UserError("give a CHECKPOINT to export, or --hold-default, or --show POLICY.onnx")
        if args.checkpoint.is_dir():
            args.checkpoint = last_checkpoint(args.checkpoint)
        ck = load_checkpoint(args.checkpoint)
        obs = ck.recorded_obs
        if args.golden_obs is not None:
            if not args.golden_obs.is_file():
                raise UserError(f"golden observations {args.golden_obs} do not exist")
            obs = np.load(args.golden_obs)
        res = export_policy(
            ck.actor,
            ck.layout,
            ck.normalizer,
            ck.dof,
            ck.action_scale,
            ck.action_clip,
            ck.kp,
            ck.kd,
            ck.default_q,
            ck.heightmap_spec,
            ck.provenance,
            args.out or args.checkpoint.with_suffix(".onnx"),
            recorded_obs=obs,
            tol=args.tol,
        )
    print(
        f"wrote {res.path}: {res.metadata.dof}-DoF, obs dim {res.metadata.layout.dim} "
        f"({', '.join(res.metadata.layout.term_names())}); golden check max abs diff "
        f"{res.max_abs_diff:.2e} on {res.num_golden} observations"
    )
    return 0
