"""``hsi-offline reconstruct VIDEO --out DIR``: video (or imported GPU-tool outputs) -> clip folder."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np

from hsi_offline.outputs import check_output_dir
from hsi_offline.reconstruct.perception import PerceptionConfig
from hsi_offline.reconstruct.solve import SolveConfig, reconstruct

log = logging.getLogger("hsi_offline.reconstruct")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("video", nargs="?", help="input video (MP4/MOV/...); optional with --smpl/--videomimic")
    p.add_argument("--out", required=True, help="clip folder to write")
    p.add_argument(
        "--focal-px",
        type=float,
        default=None,
        help="camera focal length in pixels (default: from --focal-mm35)",
    )
    p.add_argument("--focal-mm35", type=float, default=26.0, help="35 mm-equivalent focal length (phone: 26)")
    p.add_argument("--max-gap", type=float, default=2.0, help="longest untracked stretch allowed (s)")
    p.add_argument(
        "--person",
        default=None,
        help="several people: keep largest | centre | longest | N (N from people_first_frame.png in --out); "
        "default: refuse a video with several people",
    )
    p.add_argument("--allow-multiple", action="store_true", help="same as --person largest")
    p.add_argument(
        "--moving-camera",
        choices=("auto", "yes", "no"),
        default="auto",
        help="estimate camera motion by structure-from-motion on the background (auto: detect)",
    )
    p.add_argument("--terrain-res", type=float, default=0.04, help="heightfield resolution (0.02-0.05 m)")
    p.add_argument("--depth-onnx", default=None, help="optional monocular depth ONNX model (onnxruntime)")
    p.add_argument(
        "--smpl", default=None, help="per-frame SMPL/SMPL-X parameters (.npz) instead of MediaPipe"
    )
    p.add_argument("--smpl-model", default=None, help="folder or file of the SMPL/SMPL-X model (for --smpl)")
    p.add_argument(
        "--depth-cameras", default=None, help="MegaSaM/MonST3R-style .npz: depths, cam_c2w, intrinsic"
    )
    p.add_argument(
        "--videomimic",
        default=None,
        help="VideoMimic output folder (gravity-calibrated keypoints + background mesh)",
    )


def run(args: argparse.Namespace) -> int:

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    if not (0.02 <= args.terrain_res <= 0.05):
        raise ValueError(f"--terrain-res {args.terrain_res} outside 0.02..0.05 m")
    if args.depth_onnx and not args.video:
        raise ValueError("--depth-onnx needs the VIDEO the depth model runs on")
    out = check_output_dir(args.out)  # before perception and the solve, which take minutes
    person = None
    if args.person is not None:
        from hsi_offline.reconstruct.people import parse_person_rule

        person = parse_person_rule(args.person)
    pcfg = PerceptionConfig(
        person=person,
        preview_path=str(Path(out) / "people_first_frame.png") if args.video else None,
        focal_mm_35=args.focal_mm35,
        focal_px=args.focal_px,
        max_gap_seconds=args.max_gap,
        allow_multiple=args.allow_multiple,
    )
    scfg = SolveConfig(terrain_resolution=args.terrain_res)
    if args.videomimic:
        from hsi_offline.reconstruct.clip_folder import write_clip
        from hsi_offline.reconstruct.importers.videomimic import load_videomimic

        rec = load_videomimic(args.videomimic, scfg)
        report = write_clip(rec, out, {"source": "videomimic", "input": str(args.videomimic)})
        _summary(report, out)
        return 0
    if args.smpl:
        from hsi_offline.reconstruct.importers.smpl import observations_from_smpl

        if not args.smpl_model:
            raise ValueError("--smpl needs --smpl-model PATH (the licensed SMPL/SMPL-X model files)")
        obs, stats = observations_from_smpl(args.smpl, args.smpl_model, pcfg)
        frames = None
    else:
        if not args.video:
            raise ValueError("give a VIDEO (or --smpl / --videomimic inputs)")
        from hsi_offline.reconstruct.perception import run_mediapipe

        obs, stats = run_mediapipe(args.video, pcfg)
        frames = None
    cams, points = None, None
    if args.depth_cameras:
        from hsi_offline.reconstruct.importers.depth import load_depth_cameras

        dc = load_depth_cameras(args.depth_cameras, obs)
        cams, points = dc.cams, dc.points
        obs.K = dc.K
        stats["camera_source"] = "depth_cameras"
    elif args.video and args.moving_camera != "no":
        from hsi_offline.reconstruct.sfm import estimate_camera_motion

        sfm = estimate_camera_motion(
            args.video, obs, force=args.moving_camera == "yes", max_side=pcfg.max_side
        )
        stats["camera_source"] = sfm.source
        stats["camera_motion"] = sfm.summary
        cams = sfm.cams
    if args.depth_onnx and args.video:
        from hsi_offline.reconstruct.importers.onnx_depth import scene_points_from_onnx

        if points is None:
            points = scene_points_from_onnx(args.depth_onnx, args.video, obs, cams)
            stats["depth_source"] = "onnx"
    rec = reconstruct(obs, cams, points, scfg)
    if args.video:
        frames = _sheet_frames(args.video, obs.num_frames)
    from hsi_offline.reconstruct.clip_folder import write_clip

    report = write_clip(
        rec,
        out,
        {
            "source": "smpl" if args.smpl else "mediapipe",
            "input": str(args.video or args.smpl),
            "perception": stats,
        },
        frames,
        person_boxes=obs.boxes,
        person_rule=str(stats.get("person", {}).get("rule", "only person")),
    )
    _summary(report, out)
    return 0


def _sheet_frames(video: str, T: int, n: int = 12) -> dict[int, np.ndarray]:
    from hsi_offline.reconstruct.video import iter_frames

    want = set(np.linspace(0, T - 1, min(n, T)).round().astype(int).tolist())
    out = {}
    for i, (_, img) in enumerate(iter_frames(video, max_side=480)):
        if i in want:
            out[i] = img
    return out


def _summary(report: dict, out: Path) -> None:
    seats = (
        ", ".join(
            f"{s['height_m']:.2f} m at ({s['centre_xy_m'][0]:.2f}, {s['centre_xy_m'][1]:.2f})"
            for s in report.get("seats", [])
        )
        or "none"
    )
    up = np.asarray(report["gravity_up_in_camera"], dtype=float)
    # the camera's own "up" is -y (OpenCV axes): the angle between them is how far the camera is tilted
    tilt = float(np.degrees(np.arccos(np.clip(-up[1] / max(np.linalg.norm(up), 1e-9), -1.0, 1.0))))
    perc = report.get("perception", {}).get("perception_ms_per_frame")
    print(
        f"clip folder: {out}\n  tracked {report['tracked_frames']}/{report['frames']} frames, body height "
        f"{report['body_height_m']:.2f} m, ground {report['ground_level_m']:.2f} m, seats: {seats}, "
        f"support levels {report['support_levels_m']}\n  gravity up in camera axes "
        f"({up[0]:.2f}, {up[1]:.2f}, {up[2]:.2f}) (camera tilted {tilt:.0f} deg from level), camera "
        f"{'static' if report.get('camera_static') else 'moving'}, fit {report['fit_seconds']:.2f} s"
        + (f", perception {perc:.0f} ms/frame" if perc is not None else "")
    )
    traj = report.get("trajectory", {})
    if traj:
        spread = report.get("ground_spread_under_feet_m", {}).get("p5_p95_range", 0.0)
        path, speed = report.get("path_length_m", 0.0), report.get("mean_speed_m_s", 0.0)
        print(
            f"  path {path:.2f} m, mean speed {speed:.2f} m/s, trajectory from {traj.get('source')} "
            f"(camera: {traj.get('camera_kind')}), ground under the feet spans {100 * spread:.1f} cm"
        )
    for w in report.get("warnings", []):
        print(f"  warning: {w}")
