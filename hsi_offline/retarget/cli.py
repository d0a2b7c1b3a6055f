"""``hsi-offline retarget INPUT``: human motion or mocap -> G1 motion clip folder, with a quality report.

INPUT is a clip folder from ``hsi-offline reconstruct`` (``human_motion.npz`` + ``terrain.npz``), a keypoints
npz, a BVH file, or a G1 motion (BeyondMimic/holosoma npz, Unitree CSV). G1 motions are imported (names
checked, 29 <-> 23 converted, link poses re-derived by FK) unless ``--re-retarget`` asks to treat their
keypoints as a human and solve again.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from hsi_offline.cli import UserError
from hsi_offline.motion.clip import MotionClip
from hsi_offline.outputs import check_output_dir

from .inputs import FORMATS, g1_as_human, open_input
from .weights import PRESETS, weights_for


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "input",
        help="clip folder, keypoints .npz, .bvh, AMASS .npz, holosoma/BeyondMimic .npz, Unitree .csv, "
        "VideoMimic .h5 or a holosoma box-climbing sequence folder",
    )
    p.add_argument("--smpl-model", type=Path, help="SMPL/SMPL-X model file for AMASS inputs")
    p.add_argument("--out", type=Path, help="output clip folder (default: the input folder, or INPUT_g1/)")
    p.add_argument("--format", choices=FORMATS, default="auto")
    p.add_argument("--dof", type=int, choices=(23, 29), default=23)
    p.add_argument(
        "--fps", type=float, default=30.0, help="solve at this rate (input is resampled; default 30)"
    )
    p.add_argument("--preset", choices=tuple(PRESETS), default="default")
    p.add_argument(
        "--iterations", type=int, default=None, help="Levenberg-Marquardt iteration cap (default 40)"
    )
    p.add_argument("--re-retarget", action="store_true", help="solve G1 inputs again from their keypoints")
    p.add_argument("--no-picture", action="store_true")


def run(args: argparse.Namespace) -> int:
    from .human import resample_human
    from .pipeline import retarget_clip, write_clip_folder

    src = Path(args.input)
    own_folder = src.is_dir() and (src / "human_motion.npz").is_file()  # a clip folder gets its motion.npz
    if args.out is not None:
        out = args.out
    elif own_folder:
        out = src
    else:  # next to a file; a foreign folder (e.g. an installed package's data) gets NAME_g1 here
        out = Path(src.name + "_g1") if src.is_dir() else src.with_name(src.stem + "_g1")
    if args.fps <= 0 or (args.iterations is not None and args.iterations < 1):
        raise UserError("--fps must be positive and --iterations at least 1")
    check_output_dir(out)  # before the solve, which takes minutes
    data = open_input(src, args.format, args.dof, smpl_model=args.smpl_model)
    if isinstance(data, MotionClip):
        if not args.re_retarget:
            out.mkdir(parents=True, exist_ok=True)
            path = data.save(out / "motion.npz")
            print(f"imported {data.num_frames} frames at {data.fps:g} fps ({data.dof} DoF) -> {path}")
            return 0
        data = g1_as_human(data)
    human = resample_human(data, args.fps) if abs(data.fps - args.fps) > 1e-6 else data
    t0 = time.perf_counter()
    clip, result, report = retarget_clip(human, args.dof, weights_for(args.preset), args.iterations)
    path = write_clip_folder(out, clip, result.human or human, report, picture=not args.no_picture)
    print(
        f"retargeted {clip.num_frames} frames at {clip.fps:g} fps in {time.perf_counter() - t0:.1f} s "
        f"(warm start {result.init_seconds:.1f} s, solve {result.solve_seconds:.1f} s, "
        f"{result.iterations} iterations) -> {path}"
    )
    print(report.format())
    return 0
