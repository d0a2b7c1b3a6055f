"""``hsi-offline export``: a training checkpoint -> the ONNX policy the robot runs (see hsi_offline/export).

hsi-offline export CHECKPOINT.pt --out policy.onnx   # rsl-rl-style checkpoint with an hsi_meta dict
hsi-offline export --hold-default [--dof 23] [--out PATH]   # regenerate the shipped placeholder
hsi-offline export --show policy.onnx                # print an exported policy's metadata
"""

from __future__ import annotations

import argparse
import json
import re
import sys
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
    p.add_argument(
        "--skills",
        nargs="*",
        default=[],
        help="skills the policy has shown in evaluation (stand, walk, turn, kerb, sit), recorded in its "
        "metadata; `hsi-robot demo` walks its goal path only with a policy that has 'walk'",
    )


def last_checkpoint(run_dir: Path) -> Path:
    """The highest-numbered ``model_<it>.pt`` of a finished run folder (the iteration a stage ended on
    depends on its warm-up and resume history, so scripts name the folder, not the file).

    Finished: the run wrote history.json (its last file) and the history reaches that checkpoint. Without
    it the run was interrupted, and its last checkpoint may be an untrained ``model_0.pt`` or a resumed
    run's partial one: exporting it, or starting the next stage from it, would go on without a word."""
    from hsi_offline.outputs import TRAINING_MARKER

    found = sorted(
        (int(m.group(1)), f)
        for f in run_dir.glob("model_*.pt")
        if (m := re.fullmatch(r"model_(\d+)\.pt", f.name))
    )
    if not found:
        raise UserError(f"run folder {run_dir} has no model_<iteration>.pt checkpoint")
    it, path = found[-1]
    history = run_dir / TRAINING_MARKER
    if not history.is_file():
        raise UserError(
            f"run folder {run_dir} is incomplete: no {TRAINING_MARKER} (the training run was interrupted "
            f"after {path.name}); train again, or --resume {path}"
        )
    try:
        rows = json.loads(history.read_text())
        reached = max((int(r["iteration"]) for r in rows), default=0)
    except (ValueError, TypeError, KeyError):
        raise UserError(f"{history} is not a training history (a list of rows with 'iteration')") from None
    if reached < it:
        raise UserError(
            f"run folder {run_dir} is incomplete: {path.name} is newer than {TRAINING_MARKER} (iteration "
            f"{reached}): a resumed run was interrupted; --resume {path} to finish it"
        )
    return path


def _warn_if_unfinished(path: Path) -> None:
    """One line on stderr when a checkpoint named directly (not its run folder) stopped short of its
    configured iterations: allowed (an intermediate checkpoint is a fair thing to export), never silent."""
    import torch

    try:
        ckpt = torch.load(str(path), map_location="cpu", weights_only=True)
        meta = ckpt["infos"]["hsi_robot"]
        rows, planned = meta.get("history") or [], int((meta.get("config") or {})["iterations"])
    except Exception:  # not a training run's checkpoint: load_checkpoint_policy reports what it is
        return
    done = max((int(r.get("iteration", -1)) for r in rows), default=-1) + 1
    if done < planned:
        print(
            f"warning: checkpoint {path} is from iteration {done} of the {planned} its run was configured "
            "for (an interrupted or intermediate checkpoint)",
            file=sys.stderr,
            flush=True,
        )


def run(args: argparse.Namespace) -> int:
    import numpy as np

    if args.show:
        from hsi_kernel.policy_file import load_metadata

        print(json.dumps(load_metadata(args.show).to_dict(), indent=2))
        return 0
    from hsi_offline.outputs import check_output_file

    if args.out is not None:
        check_output_file(args.out, "ONNX file")  # before the checkpoint is read and exported
    if args.hold_default:
        from hsi_offline.export.hold_default import export_hold_default

        res = export_hold_default(args.dof, args.out)
    else:
        from hsi_offline.export.checkpoint import load_checkpoint_policy
        from hsi_offline.export.onnx_export import export_policy

        if args.checkpoint is None:
            raise UserError("give a CHECKPOINT to export, or --hold-default, or --show POLICY.onnx")
        if args.checkpoint.is_dir():
            args.checkpoint = last_checkpoint(args.checkpoint)
        else:
            _warn_if_unfinished(args.checkpoint)
        if args.out is None:
            check_output_file(args.checkpoint.with_suffix(".onnx"), "ONNX file")
        ck = load_checkpoint_policy(args.checkpoint)
        ck.metadata.provenance["skills"] = list(args.skills)
        obs = ck.recorded_obs
        if args.golden_obs is not None:
            if not args.golden_obs.is_file():
                raise UserError(f"golden observations {args.golden_obs} do not exist")
            obs = np.load(args.golden_obs)
        res = export_policy(
            ck.actor,
            ck.normalizer,
            ck.metadata,
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
