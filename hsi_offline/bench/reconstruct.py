"""``hsi-offline bench reconstruct [--json PATH] [--mocap BVH] [--video MP4]``: synthetic accuracy + speed.

Motion (a real BVH when --mocap is given, else the procedural walk) is laid on known terrains (flat, stairs
up, stairs down, kerb; the bench case is a procedural sit-down/stand-up with its seat height error), seen by
a static and a moving camera with keypoint noise, dropouts, occlusion and a lost stretch, and run through
`hsi_offline.reconstruct.solve.reconstruct` - the same code as the video path after perception. Prints
WA-MPJPE / W-MPJPE (100-frame segments), support-height error, terrain Chamfer, the fit time for a
300-frame clip, and MediaPipe ms/frame when --video is given.
"""

from __future__ import annotations

import argparse
import json
import logging
import time

import numpy as np

SCENES = ("flat", "stairs", "stairs_down", "kerb", "bench")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", default=None, help="also write the figures to this JSON file")
    p.add_argument("--mocap", default=None, help="BVH motion capture file (default: procedural walk)")
    p.add_argument("--video", default=None, help="video to time MediaPipe perception on (ms/frame)")
    p.add_argument("--frames", type=int, default=300, help="frames per clip (default 300)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--scenes", default=",".join(SCENES), help="comma-separated terrains")


def run_case(joints: np.ndarray, fps: float, scene: str, moving: bool, seed: int) -> dict:
    from hsi_kernel.terrain import make_scene_terrain
    from hsi_offline.reconstruct.recon_metrics import segment_mpjpe, terrain_errors
    from hsi_offline.reconstruct.body_skeleton import SMPL
    from hsi_offline.reconstruct.solve import reconstruct
    from hsi_offline.reconstruct.synthetic_scenes import make_clip, place_on_terrain

    ter = make_scene_terrain(scene, 0.02)
    if scene == "bench":  # sit down backwards on the 0.42 m bench and stand up (procedural, see gait.py)
        from hsi_offline.reconstruct.gait import sit_stand
        from hsi_offline.reconstruct.scene import detect_contacts

        gt = sit_stand(0.42, -0.35, fps)
        contacts = detect_contacts(gt, SMPL, fps)
    else:
        gt, contacts = place_on_terrain(joints, fps, ter)
    clip = make_clip(gt, fps, ter, contacts, moving, seed=seed)
    t0 = time.perf_counter()
    rec = reconstruct(clip.obs, clip.cams)
    total = time.perf_counter() - t0
    out = {
        "scene": scene,
        "camera": "moving" if moving else "static",
        "frames": len(gt),
        "fit_seconds": rec.fit_seconds,
        "solve_seconds": total,
    }
    out.update(segment_mpjpe(rec.motion.joints, gt))
    out.update(
        terrain_errors(rec.terrain, ter, rec.motion.joints, gt, contacts, (SMPL.left_foot, SMPL.right_foot))
    )
    if scene == "bench":
        seats = rec.supports.seats
        out["seat_height_err_cm"] = 100 * abs(seats[0].height - 0.42) if seats else float("nan")
    if moving:
        out["alpha_rel_err"] = abs(rec.alpha / clip.true_alpha - 1.0)
    return out


def time_perception(video: str) -> float:
    from hsi_offline.reconstruct.perception import run_mediapipe

    _, stats = run_mediapipe(video)
    return float(stats["perception_ms_per_frame"])


def run(args: argparse.Namespace) -> int:
    from hsi_offline.reconstruct.artifacts import write_json
    from hsi_offline.reconstruct.gait import walk
    from hsi_offline.reconstruct.synthetic_scenes import resample

    logging.basicConfig(level=logging.WARNING)
    if args.frames < 100:
        raise ValueError("--frames must be at least 100 (the metrics use 100-frame segments)")
    if args.mocap:
        from hsi_offline.retarget.bvh import bvh_to_smpl_joints

        J, fps = bvh_to_smpl_joints(args.mocap)
        source = f"bvh:{args.mocap}"
    else:
        fps = 30.0
        J = walk(args.frames / fps, fps, speed=0.75, turn_deg_per_s=8.0)
        source = "procedural walk"
    J, fps = resample(J, fps, args.frames)
    rows = []
    for scene in [s for s in args.scenes.split(",") if s]:
        for moving in (False, True):
            r = run_case(J, fps, scene, moving, args.seed)
            rows.append(r)
            print(
                f"{scene:12s} {r['camera']:7s} WA-MPJPE {r['wa_mpjpe_mm']:6.1f} mm"
                f"  W-MPJPE {r['w_mpjpe_mm']:6.1f} mm"
                f"  support {r['support_height_err_cm']:5.2f} cm  chamfer {r['chamfer_cm']:5.2f} cm"
                f"  fit {r['fit_seconds']:.2f} s"
                + (f"  seat {r['seat_height_err_cm']:.2f} cm" if "seat_height_err_cm" in r else ""),
                flush=True,
            )
    keys = ("wa_mpjpe_mm", "w_mpjpe_mm", "support_height_err_cm", "chamfer_cm", "fit_seconds")
    summary = {f"median_{k}": float(np.median([r[k] for r in rows])) for k in keys}
    for cam in ("static", "moving"):
        for k in keys[:4]:
            summary[f"median_{k}_{cam}"] = float(np.median([r[k] for r in rows if r["camera"] == cam]))
    if args.video:
        summary["perception_ms_per_frame"] = time_perception(args.video)
    else:
        print("perception: not timed (pass --video VIDEO to time MediaPipe, ms/frame)")
    print("summary: " + ", ".join(f"{k} {v:.2f}" for k, v in summary.items()))
    result = {
        "benchmark": "reconstruct",
        "motion": source,
        "frames": args.frames,
        "fps": fps,
        "cases": rows,
        "summary": summary,
    }
    if args.json:
        write_json(result, args.json)
    else:
        json.dumps(result)
    return 0
