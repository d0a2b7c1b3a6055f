"""Observations (+ optional camera motion / scene points) -> world motion, terrain, camera.

This is the single fitting path: the video command, the importers and the synthetic benchmark all call
`reconstruct`, so the benchmark measures exactly what users get after perception.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import numpy as np

from hsi_kernel.terrain import Terrain
from hsi_offline.reconstruct.artifacts import CameraTrack, HumanMotion
from hsi_offline.reconstruct.body_skeleton import hip_joints_from_blazepose
from hsi_offline.reconstruct.fit import CameraPoses, FitConfig, fit_motion, refine_alpha
from hsi_offline.reconstruct.observations import Observations
from hsi_offline.reconstruct.scene import (
    Supports,
    detect_contacts,
    detect_seats,
    estimate_up,
    flat_ground_prior,
    footprints,
    ground_level,
    height_corrections,
    rotation_to_z,
)
from hsi_offline.reconstruct.terrain_build import (
    filter_scene_points,
    policy_view_reach,
    terrain_from_points,
    terrain_from_supports,
)
from hsi_offline.reconstruct.trajectory import choose_trajectory, following_fraction, path_length

log = logging.getLogger(__name__)


@dataclass
class SolveConfig:
    fit: FitConfig = field(default_factory=FitConfig)
    terrain_resolution: float = 0.04  # m; 0.02..0.05 is what the simulator and heightmap sampler use
    contact_speed: float = 0.3  # m/s below which a foot is planted
    support_reach: float = field(default_factory=policy_view_reach)  # m: a footprint extends sideways


@dataclass
class Reconstruction:
    motion: HumanMotion
    terrain: Terrain
    camera: CameraTrack
    supports: Supports
    up_in_camera: np.ndarray  # gravity 'up' expressed in the first camera's axes
    alpha: float
    fit_seconds: float
    reproj_px: float
    stats: dict = field(default_factory=dict)


def reconstruct(
    obs: Observations,
    cams: CameraPoses | None = None,
    scene_points: np.ndarray | None = None,
    cfg: SolveConfig | None = None,
) -> Reconstruction:
    """Fit, gravity-align, find contacts and supports, build the terrain.

    `scene_points` (N, 3) are in the first camera's world frame in the same (unscaled) units as `cams.c`;
    they are scaled by the fitted alpha.
    """
    cfg = cfg or SolveConfig()
    sk = obs.skeleton
    T = obs.num_frames
    cams = cams or CameraPoses.identity(T)
    t0 = time.perf_counter()
    f1 = fit_motion(obs, cams, None, cfg.fit)
    up = estimate_up(f1.joints, sk, None, obs.valid)
    Rg = rotation_to_z(up)
    contacts = detect_contacts(f1.joints @ Rg.T, sk, obs.fps, cfg.contact_speed)
    alpha, X1 = f1.alpha, f1.joints
    if cams.translates:  # planted feet fix the scene scale; contacts and scale agree after a few rounds
        strict = detect_contacts(X1 @ Rg.T, sk, obs.fps, cfg.contact_speed, slower_foot_fallback=False)
        for _ in range(4):
            new = refine_alpha(X1, alpha, cams, strict, (sk.left_foot, sk.right_foot))
            X1 = X1 + (new - alpha) * cams.c[:, None, :]  # same camera-frame joints, rescaled camera path
            alpha = new
            strict = detect_contacts(X1 @ Rg.T, sk, obs.fps, cfg.contact_speed, slower_foot_fallback=False)
        contacts = detect_contacts(X1 @ Rg.T, sk, obs.fps, cfg.contact_speed)
    f2 = fit_motion(obs, cams, contacts, cfg.fit, init=X1, alpha0=alpha)
    up = estimate_up(f2.joints, sk, contacts, obs.valid)
    Rg = rotation_to_z(up)
    Xg = f2.joints @ Rg.T
    contacts = detect_contacts(Xg, sk, obs.fps, cfg.contact_speed)
    hip_uv = 0.5 * (obs.uv[:, sk.left_hip] + obs.uv[:, sk.right_hip])
    choice = choose_trajectory(
        Xg,
        sk,
        obs.fps,
        contacts,
        static=cams.static,
        translates=cams.translates,
        person_spread=following_fraction(hip_uv, obs.valid, obs.width, obs.height),
        contact_speed=cfg.contact_speed,
    )
    Xg = Xg + choice.offsets[:, None]
    contacts = choice.contacts
    fit_seconds = time.perf_counter() - t0
    fps_ = footprints(Xg, contacts, sk)
    if not fps_:
        ground_level(fps_)  # raises the one-line "no foot contacts" error
    prior = flat_ground_prior(
        fps_, Xg, sk, drift_free=not np.any(choice.offsets), valid=obs.valid, fps=obs.fps
    )
    # In an odometry world the body's height drifts with the odometry: it follows its footprints' levels.
    # A camera world measured the body; only the terrain under refused footprints is flattened.
    dz = np.zeros(T)
    if np.any(choice.offsets):
        dz = height_corrections(fps_, np.array([f.height for f in fps_]), prior.heights, T)
    Xg[..., 2] += dz[:, None]
    for f, h in zip(fps_, prior.heights):
        f.height = float(h)
    ground = ground_level(fps_)
    Xg[..., 2] -= ground
    for f in fps_:
        f.height -= ground
    for lv in prior.levels:
        lv.height -= ground
    for w in prior.warnings:
        log.warning("ground: %s", w)
    seats = detect_seats(Xg, sk, 0.0, obs.fps, obs.valid)
    sup = Supports(0.0, fps_, seats)
    body_xy = Xg[..., :2].reshape(-1, 2)
    if scene_points is not None and len(scene_points):
        P = (np.asarray(scene_points, dtype=np.float64) * f2.alpha) @ Rg.T
        P[:, 2] -= ground
        P = filter_scene_points(P, Xg)
        terrain = terrain_from_points(P, body_xy, 0.0, cfg.terrain_resolution)
    else:
        terrain = terrain_from_supports(sup, body_xy, cfg.terrain_resolution, reach=cfg.support_reach)
    R_wc = np.einsum("ij,tjk->tik", Rg, cams.R_wc)
    t_wc = (f2.alpha * cams.c) @ Rg.T + choice.offsets
    t_wc[:, 2] += dz - ground
    camera = CameraTrack(obs.K, R_wc, t_wc, obs.width, obs.height, cams.static)
    extras: dict[str, np.ndarray] = {}
    if sk.name == "blazepose33":
        extras = hip_joints_from_blazepose(Xg)
    else:
        extras = {"hip_centre": 0.5 * (Xg[:, sk.left_hip] + Xg[:, sk.right_hip])}
    conf = np.clip(np.minimum(obs.conf2d, np.maximum(obs.conf3d, 0.0)), 0.0, 1.0)
    motion = HumanMotion(Xg, sk.joint_names, contacts, conf, obs.fps, obs.valid.copy(), extras)
    log.info(
        "solve: %d frames, ground found from %d footprints, %d seat(s), %.2f s",
        T,
        len(fps_),
        len(seats),
        fit_seconds,
    )
    return Reconstruction(
        motion,
        terrain,
        camera,
        sup,
        up,
        f2.alpha,
        fit_seconds,
        f2.reproj_px,
        {
            "lm_iterations": f1.iterations + f2.iterations,
            "trajectory": {
                "source": choice.source,
                "camera_kind": choice.camera_kind,
                "camera_slip_m_s": choice.camera_slip_m_s,
                "notes": choice.notes,
            },
            "path_length_m": path_length(extras["hip_centre"], obs.fps),
            "support_levels": [
                {
                    "height_m": round(lv.height, 3),
                    "status": lv.status,
                    "footprints": len(lv.footprints),
                    "frames": [list(fr) for fr in lv.frames],
                    "body_frame_steps_m": [round(v, 3) for v in lv.body_frame_steps],
                }
                for lv in prior.levels
            ],
            "warnings": prior.warnings,
        },
    )
