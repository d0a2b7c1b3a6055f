"""Write a clip folder: human_motion.npz, terrain.npz, terrain_mesh.ply, camera.npz, report.json, pictures."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from hsi_offline.reconstruct.artifacts import REPORT_SCHEMA, save_camera, save_human_motion, write_json
from hsi_offline.reconstruct.pictures import contact_sheet, terrain_topdown
from hsi_offline.reconstruct.solve import Reconstruction
from hsi_offline.reconstruct.terrain_build import save_terrain_mesh

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
    levels = sorted({round(f.height, 2) for f in rec.supports.footprints})
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


def write_clip(
    rec: Reconstruction,
    out: str | Path,
    extra_report: dict | None = None,
    frames: dict[int, np.ndarray] | None = None,
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
    log.info("writing pictures")
    contact_sheet(rec.motion, rec.camera, frames, out / "contact_sheet.png")
    terrain_topdown(rec.terrain, rec.motion, out / "terrain_topdown.png")
    report = {"schema": REPORT_SCHEMA, **scene_figures(rec), **(extra_report or {})}
    write_json(report, out / "report.json")
    return report
