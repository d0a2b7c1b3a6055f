"""Write a clip folder: human_motion.npz, terrain.npz, terrain_mesh.ply, camera.npz, report.json, pictures."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from hsi_offline.reconstruct.artifacts import (
    REPORT_SCHEMA,
    save_camera,
    save_human_motion,
    save_person_box,
    write_json,
)
from hsi_offline.reconstruct.body_skeleton import Skeleton
from hsi_offline.reconstruct.pictures import contact_sheet, terrain_topdown
from hsi_offline.reconstruct.solve import Reconstruction
from hsi_offline.reconstruct.terrain_build import save_terrain_mesh
from hsi_offline.reconstruct.trajectory import path_length

log = logging.getLogger(__name__)


def scene_figures(rec: Reconstruction) -> dict:
    """The figures a person checks first: tracking, body size, ground, seats, steps, gravity."""
    m = rec.motion
    from hsi_offline.reconstruct.body_skeleton import skeleton_for

    sk = skeleton_for(m.joint_names)
    X = m.joints[m.valid]
    names = m.joint_names
    top = [names.index(n) for n in ("nose", "left_ear", "right_ear", "head") if n in names]
    feet = list(sk.left_foot) + list(sk.right_foot)
    head_top = X[:, top, 2].max(1) + (0.10 if "nose" in names else 0.08)  # crown above nose/ear/head joint
    stand = np.percentile(head_top - (X[:, feet, 2] - sk.sole_offsets()[feet]).min(1), 90)
    levels = sorted({round(f.height, 2) + 0.0 for f in rec.supports.footprints})  # + 0.0: no "-0.0"
    under = _ground_under_feet(rec, sk)
    hip = m.extras.get("hip_centre", 0.5 * (m.joints[:, sk.left_hip] + m.joints[:, sk.right_hip]))
    span = np.flatnonzero(m.valid)
    seconds = (span[-1] - span[0]) / m.fps if span.size > 1 else 0.0
    path = float(rec.stats.get("path_length_m", path_length(hip, m.fps)))
    return {
        "frames": m.num_frames,
        "tracked_frames": int(m.valid.sum()),
        "tracked_fraction": float(m.valid.mean()),
        "fps": m.fps,
        "body_height_m": float(stand),
        "ground_level_m": float(rec.supports.ground),
        "gravity_up_in_camera": [float(v) for v in rec.up_in_camera],
        "camera_static": bool(rec.camera.static),
        "scene_scale_alpha": rec.alpha,
        "support_levels_m": levels,
        "support_level_evidence": rec.stats.get("support_levels", []),
        "ground_spread_under_feet_m": under,
        "path_length_m": path,
        "mean_speed_m_s": path / seconds if seconds > 0 else 0.0,
        "trajectory": rec.stats.get("trajectory", {}),
        "warnings": list(rec.stats.get("warnings", [])),
        "footprints": len(rec.supports.footprints),
        "seats": [
            {
                "height_m": s.height,
                "centre_xy_m": [float(s.centre[0]), float(s.centre[1])],
                "frames": [int(s.frames[0]), int(s.frames[1])],
                "seconds": (s.frames[1] - s.frames[0]) / m.fps,
            }
            for s in rec.supports.seats
        ],
        "contact_fraction": [float(m.contacts[:, 0].mean()), float(m.contacts[:, 1].mean())],
        "reprojection_px_median": rec.reproj_px,
        "fit_seconds": rec.fit_seconds,
        "terrain": {
            "shape": list(rec.terrain.shape),
            "resolution_m": rec.terrain.resolution,
            "origin": list(rec.terrain.origin),
            "height_range_m": [float(rec.terrain.heights.min()), float(rec.terrain.heights.max())],
        },
    }


def _ground_under_feet(rec: Reconstruction, sk: Skeleton) -> dict:
    """Heights of the terrain under the planted feet: 5th-95th percentile range and standard deviation (m).

    On flat ground both are ~0; a large spread says the ground under the path is uneven - or wrong."""
    m = rec.motion
    pts = []
    for side, feet in enumerate((sk.left_foot, sk.right_foot)):
        pts.append(m.joints[m.contacts[:, side]][:, list(feet), :2].mean(1))
    xy = np.concatenate(pts) if pts else np.zeros((0, 2))
    if len(xy) == 0:
        return {"p5_p95_range": 0.0, "std": 0.0}
    z = rec.terrain.height_at(xy)
    return {"p5_p95_range": float(np.percentile(z, 95) - np.percentile(z, 5)), "std": float(np.std(z))}


def write_clip(
    rec: Reconstruction,
    out: str | Path,
    extra_report: dict | None = None,
    frames: dict[int, np.ndarray] | None = None,
    person_boxes: np.ndarray | None = None,
    person_rule: str = "only person",
) -> dict:
    """Write every artifact atomically; the report is written last (its presence marks a complete folder)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    stale = out / "report.json"
    if stale.exists():
        stale.unlink()
    save_human_motion(rec.motion, out / "human_motion.npz")
    rec.terrain.save(out / "terrain.npz")
    save_terrain_mesh(rec.terrain, out / "terrain_mesh.ply")
    save_camera(rec.camera, out / "camera.npz")
    if person_boxes is not None:
        save_person_box(person_boxes, out / "person_box.npz", person_rule)
    log.info("writing pictures")
    contact_sheet(rec.motion, rec.camera, frames, out / "contact_sheet.png", boxes=person_boxes)
    src = rec.stats.get("trajectory", {}).get("source", "")
    terrain_topdown(
        rec.terrain,
        rec.motion,
        out / "terrain_topdown.png",
        title=f"terrain, hip and camera paths\ntrajectory: {src}" if src else "",
        camera_xy=None if rec.camera.static else rec.camera.t_wc[:, :2],
    )
    report = {"schema": REPORT_SCHEMA, **scene_figures(rec), **(extra_report or {})}
    write_json(report, out / "report.json")
    return report
