"""``hsi-offline clips --out DIR``: write the procedural flat-ground clips (standing, sway) as clip files.

They are the training data of the CPU-scale run of all four stages (``make train-cpu``), which needs no
captured data; any other clip folder (retargeted mocap or video) trains the same way.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from .procedural_clips import standing_clip, sway_clip

KINDS = ("standing", "sway")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", type=Path, required=True, help="folder for the clip .npz files")
    p.add_argument("--kinds", nargs="+", choices=KINDS, default=list(KINDS))
    p.add_argument("--seconds", type=float, default=10.0, help="length of each clip")
    p.add_argument("--dof", type=int, choices=(23, 29), default=23)


def run(args: argparse.Namespace) -> int:
    if args.seconds < 1.0:
        raise ValueError(f"--seconds must be at least 1 (got {args.seconds})")
    from hsi_offline.outputs import check_output_dir

    check_output_dir(args.out)
    args.out.mkdir(parents=True, exist_ok=True)
    for kind in args.kinds:
        clip = (standing_clip if kind == "standing" else sway_clip)(dof=args.dof, seconds=args.seconds)
        path = clip.save(args.out / f"{kind}.npz")
        print(f"wrote {path} ({clip.num_frames} frames at {clip.fps:g} fps)")
    return 0
