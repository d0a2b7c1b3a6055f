"""``hsi-offline bench reconstruct [--json PATH] [--mocap BVH] [--video MP4]``: synthetic accuracy + speed.

Motion (a real BVH when --mocap is given, else the procedural walk) is laid on known terrains (flat, stairs
up, stairs down, kerb; the bench case is a procedural sit-down/stand-up with its seat height error), seen by
a static and a moving camera with keypoint noise, dropouts, occlusion and a lost stretch, and run through
`hsi_offline.reconstruct.solve.reconstruct` - the same code as the video path after perception. Prints
WA-MPJPE / W-MPJPE (100-frame segments), support-height error, terrain Chamfer, the fit time for a
300-frame clip, and MediaPipe ms/frame when --video is given.

The casual-footage suite (`--suite casual`) is what phones film: a camera that follows the walker (SfM
translation with a scale that drifts from keyframe pair to keyframe pair), one that pans from a fixed spot
(rotation only) and a static one, each with perception errors shaped like BlazePose's
(`NoiseConfig.blazepose`: correlated over 0.25 s, larger in depth, a drifting body-size error, a left/right
leg swap), on flat / stairs / stairs down / kerb; and two people who cross in front of a static camera.
Per case: hip path-length error, the spread of the estimated ground under the planted feet (flat scenes),
the support-height error under the true contacts (frame-matched, no alignment) and identity switches.
"""

from __future__ import annotations

import argparse
import json
import logging
import time

import numpy as np

SCENES = ("flat", "stairs", "stairs_down", "kerb", "bench")
CASUAL_SCENES = ("flat", "stairs", "stairs_down", "kerb")
CASUAL_CAMERAS = ("static", "following", "panning")
SUITES = ("synthetic", "casual", "all")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", default=None, help="also write the figures to this JSON file")
    p.add_argument("--mocap", default=None, help="BVH motion capture file (default: procedural walk)")
    p.add_argument("--video", default=None, help="video to time MediaPipe perception on (ms/frame)")
    p.add_argument("--frames", type=int, default=300, help="frames per clip (default 300)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--scenes", default=",".join(SCENES), help="comma-separated terrains")
    p.add_argument(
        "--write-clips",
        default=None,
        help="casual suite: also write each case's clip folder (report, top-down with camera path) here",
    )
    p.add_argument(
        "--suite",
        choices=SUITES,
        default="all",
        help="synthetic: WA/W-MPJPE cases; casual: following/panning/static cameras with BlazePose-like "
        "errors and two people crossing; all: both",
    )


def run_case(joints: np.ndarray, fps: float, scene: str, moving: bool, seed: int) -> dict:
    from hsi_kernel.terrain import make_scene_terrain
    from hsi_offline.reconstruct.body_skeleton import SMPL
    from hsi_offline.reconstruct.recon_metrics import segment_mpjpe, terrain_errors
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


def support_error_frame_matched(rec: object, gt: np.ndarray, contacts: np.ndarray, terrain: object) -> float:
    """Mean |estimated support height - true terrain height| (cm) under the true contacts, frame by frame.

    Both worlds are gravity-aligned with the ground at z = 0, so no alignment is needed: a whole-clip
    similarity alignment would tilt the terrain wherever the estimated path bends differently."""
    from hsi_offline.reconstruct.body_skeleton import SMPL

    X = rec.motion.joints
    errs = []
    for side, feet in enumerate((SMPL.left_foot, SMPL.right_foot)):
        ts = np.flatnonzero(contacts[:, side])
        if ts.size == 0:
            continue
        z_est = rec.terrain.height_at(X[ts][:, list(feet), :2].mean(1))
        z_gt = terrain.height_at(gt[ts][:, list(feet), :2].reshape(-1, 2)).reshape(len(ts), -1).max(1)
        errs.append(np.abs(z_est - z_gt))
    return 100 * float(np.mean(np.concatenate(errs))) if errs else float("nan")


def ground_spread(rec: object) -> float:
    """5th-95th percentile range (cm) of the estimated terrain under the estimated planted feet."""
    from hsi_offline.reconstruct.body_skeleton import SMPL

    m = rec.motion
    xy = np.concatenate(
        [
            m.joints[m.contacts[:, s]][:, list(f), :2].mean(1)
            for s, f in enumerate((SMPL.left_foot, SMPL.right_foot))
        ]
    )
    z = rec.terrain.height_at(xy)
    return 100 * float(np.percentile(z, 95) - np.percentile(z, 5))


def run_casual_case(
    joints: np.ndarray, fps: float, scene: str, camera: str, seed: int, clip_dir: str | None = None
) -> dict:
    """One person, one terrain, one phone camera, BlazePose-like errors (clip folder written to clip_dir)."""
    from hsi_kernel.terrain import make_scene_terrain
    from hsi_offline.reconstruct.body_skeleton import SMPL
    from hsi_offline.reconstruct.solve import reconstruct
    from hsi_offline.reconstruct.synthetic_scenes import NoiseConfig, make_clip, place_on_terrain
    from hsi_offline.reconstruct.trajectory import path_length

    ter = make_scene_terrain(scene, 0.02)
    gt, contacts = place_on_terrain(joints, fps, ter)
    noise = NoiseConfig.blazepose()
    if camera == "following":
        noise.sfm_pair_scale = 0.7
    clip = make_clip(gt, fps, ter, contacts, camera, noise=noise, seed=seed)
    rec = reconstruct(clip.obs, clip.cams)
    if clip_dir:
        from pathlib import Path

        from hsi_offline.reconstruct.clip_folder import write_clip

        write_clip(rec, Path(clip_dir) / f"{scene}_{camera}", {"source": "bench reconstruct --suite casual"})
    L_true = path_length(0.5 * (gt[:, SMPL.left_hip] + gt[:, SMPL.right_hip]), fps)
    L_est = float(rec.stats["path_length_m"])
    return {
        "suite": "casual",
        "scene": scene,
        "camera": camera,
        "frames": len(gt),
        "path_length_m": L_est,
        "true_path_length_m": L_true,
        "path_length_err_pct": 100 * (L_est / L_true - 1.0),
        "ground_spread_cm": ground_spread(rec),
        "support_err_cm": support_error_frame_matched(rec, gt, contacts, ter),
        "identity_switches": 0,
        "trajectory_source": rec.stats["trajectory"]["source"],
        "warnings": len(rec.stats["warnings"]),
        "fit_seconds": rec.fit_seconds,
    }


def _boxes(uv: np.ndarray, margin: float = 0.08) -> np.ndarray:
    lo, hi = uv.min(1), uv.max(1)
    pad = margin * (hi - lo)
    return np.concatenate([lo - pad, hi + pad], axis=1)


def run_crossing_case(fps: float, T: int, seed: int, rule: str = "largest") -> dict:
    """Two walkers cross in front of a static camera; the nearer one (largest in the first frame) is kept.

    Per frame the segmenter sees each person's box (3 px noise, 2 % missed), or one merged box while they
    overlap; `track_people` links them, `choose_person` picks one. While the kept person's blob is merged
    with the other's no pose is taken (the frames are untracked); otherwise the pose of whichever person
    fills more of the kept box is offered, accepted only if `pose_matches`. Accepted poses of the other walker
    are identity switches; the kept person's observations (with those frames untracked) are reconstructed.
    """
    from hsi_kernel.terrain import make_scene_terrain
    from hsi_offline.reconstruct.body_skeleton import SMPL
    from hsi_offline.reconstruct.gait import walk
    from hsi_offline.reconstruct.people import (
        box_series,
        choose_person,
        identity_switches,
        iou,
        pose_matches,
        track_people,
    )
    from hsi_offline.reconstruct.solve import reconstruct
    from hsi_offline.reconstruct.synthetic_scenes import NoiseConfig, look_at, make_clip
    from hsi_offline.reconstruct.trajectory import path_length

    rng = np.random.default_rng(seed)
    ter = make_scene_terrain("flat", 0.02)
    a = walk(T / fps, fps, speed=0.8)
    a[..., 0] -= 0.5 * (a[:, 0, 0].min() + a[:, 0, 0].max())
    b = walk(T / fps, fps, speed=0.9)
    b[..., 0] = -(b[..., 0] - 0.5 * (b[:, 0, 0].min() + b[:, 0, 0].max()))
    b[..., 1] = -b[..., 1] + 2.5
    from hsi_offline.reconstruct.scene import detect_contacts

    contacts = detect_contacts(a, SMPL, fps)
    root = 0.5 * (a[:, SMPL.left_hip] + a[:, SMPL.right_hip])
    c = 0.5 * (root.min(0) + root.max(0))
    eye = c + np.array([0.5, -9.0, 0.7])
    R = look_at(eye, c)
    W, H, f = 1920, 1080, 1200.0

    def project(X: np.ndarray) -> np.ndarray:
        Xc = (X - eye) @ R
        return f * Xc[..., :2] / Xc[..., 2:3] + np.array([W / 2, H / 2])

    box_a, box_b = _boxes(project(a)), _boxes(project(b))
    dets = []
    for t in range(T):
        if iou(box_a[t], box_b[t]) > 0.0:
            d = [np.r_[np.minimum(box_a[t, :2], box_b[t, :2]), np.maximum(box_a[t, 2:], box_b[t, 2:])]]
        else:
            d = [box_a[t], box_b[t]]
        d = [x + 3.0 * rng.standard_normal(4) for x in d if rng.random() > 0.02 or t == 0]
        dets.append(np.array(d).reshape(-1, 4))
    kept = choose_person(track_people(dets), rule, W, H)
    kept_boxes, uncertain = box_series(kept, T)
    clip = make_clip(a, fps, ter, contacts, "static", noise=NoiseConfig.blazepose(), seed=seed)
    clip_b = make_clip(b, fps, ter, detect_contacts(b, SMPL, fps), "static", noise=NoiseConfig.blazepose())
    obs = clip.obs
    wrong = 0
    who = []
    for t in range(T):
        kb = kept_boxes[t]
        if uncertain[t] or not np.all(np.isfinite(kb)):  # merged with the other walker: no pose is trusted
            obs.valid[t] = False
            continue
        offered_b = iou(kb, box_b[t]) > iou(kb, box_a[t])
        pose_box = box_b[t] if offered_b else box_a[t]
        if not pose_matches(pose_box, kb):
            obs.valid[t] = False
            continue
        who.append(int(offered_b))
        if offered_b:  # the other walker's pose taken for the kept person: what a switch does to the motion
            wrong += 1
            obs.uv[t] = project(b[t])
            obs.lifted[t] = clip_b.obs.lifted[t]
    rec = reconstruct(obs, clip.cams)
    L_true = path_length(root, fps)
    L_est = float(rec.stats["path_length_m"])
    track_switches = identity_switches(kept_boxes, [box_a, box_b])
    pose_switches = int((who[0] if who else 0) + np.count_nonzero(np.diff(who))) if who else 0
    return {
        "suite": "casual",
        "scene": "flat, two people crossing",
        "camera": "static",
        "frames": T,
        "path_length_m": L_est,
        "true_path_length_m": L_true,
        "path_length_err_pct": 100 * (L_est / L_true - 1.0),
        "ground_spread_cm": ground_spread(rec),
        "support_err_cm": support_error_frame_matched(rec, a, contacts, ter),
        "identity_switches": max(track_switches, pose_switches),
        "frames_of_other_person": wrong,
        "untracked_frames": int((~obs.valid).sum()),
        "trajectory_source": rec.stats["trajectory"]["source"],
        "warnings": len(rec.stats["warnings"]),
        "fit_seconds": rec.fit_seconds,
    }


def run_casual(
    J: np.ndarray, fps: float, seed: int, scenes: list[str], clip_dir: str | None = None
) -> list[dict]:
    rows = []
    for scene in [s for s in scenes if s in CASUAL_SCENES]:
        for cam in CASUAL_CAMERAS:
            rows.append(run_casual_case(J, fps, scene, cam, seed, clip_dir))
            _print_casual(rows[-1])
    rows.append(run_crossing_case(fps, len(J), seed))
    _print_casual(rows[-1])
    return rows


def _print_casual(r: dict) -> None:
    print(
        f"{r['scene']:26s} {r['camera']:9s} path {r['path_length_m']:5.2f}/{r['true_path_length_m']:5.2f} m "
        f"({r['path_length_err_pct']:+5.1f} %)  ground spread {r['ground_spread_cm']:5.1f} cm  support "
        f"{r['support_err_cm']:5.2f} cm  switches {r['identity_switches']}  [{r['trajectory_source']}]",
        flush=True,
    )


def time_perception(video: str) -> float:
    from hsi_offline.reconstruct.perception import run_mediapipe

    _, stats = run_mediapipe(video)
    return float(stats["perception_ms_per_frame"])


def run(args: argparse.Namespace) -> int:
    from hsi_offline.reconstruct.artifacts import write_json
    from hsi_offline.reconstruct.gait import walk
    from hsi_offline.reconstruct.synthetic_scenes import resample

    logging.basicConfig(level=logging.WARNING)
    if args.write_clips:
        from hsi_offline.outputs import check_output_dir

        check_output_dir(args.write_clips)
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
    scenes = [s for s in args.scenes.split(",") if s]
    casual = []
    if args.suite in ("casual", "all"):
        casual = run_casual(J, fps, args.seed, scenes, args.write_clips)
    for scene in scenes if args.suite in ("synthetic", "all") else []:
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
    summary = {f"median_{k}": float(np.median([r[k] for r in rows])) for k in keys} if rows else {}
    for cam in ("static", "moving") if rows else ():
        for k in keys[:4]:
            summary[f"median_{k}_{cam}"] = float(np.median([r[k] for r in rows if r["camera"] == cam]))
    if casual:
        summary["casual_max_abs_path_length_err_pct"] = float(
            max(abs(r["path_length_err_pct"]) for r in casual)
        )
        summary["casual_max_flat_ground_spread_cm"] = float(
            max(r["ground_spread_cm"] for r in casual if r["scene"].startswith("flat"))
        )
        summary["casual_max_support_err_cm"] = float(max(r["support_err_cm"] for r in casual))
        summary["casual_identity_switches"] = float(sum(r["identity_switches"] for r in casual))
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
        "casual_cases": casual,
        "summary": summary,
    }
    if args.json:
        write_json(result, args.json)
    else:
        json.dumps(result)
    return 0
