"""A procedural SMPL-24 walk with truly planted feet: test and benchmark motion when no mocap file is given.

Not a substitute for real mocap (the benchmark takes --mocap BVH), but it has the properties the fitter
relies on: feet that stand still during stance, a swinging leg, a pelvis that rises and falls.
"""

from __future__ import annotations

import numpy as np

from hsi_offline.reconstruct.body_skeleton import SMPL


def _knee(hip: np.ndarray, ankle: np.ndarray, l1: float, l2: float, fwd: np.ndarray) -> np.ndarray:
    """Two-bone IK: knee position bending forward (direction `fwd`)."""
    d = ankle - hip
    L = np.clip(np.linalg.norm(d, axis=-1, keepdims=True), 1e-6, l1 + l2 - 1e-6)
    u = d / L
    a = (l1**2 - l2**2 + L**2) / (2 * L)
    h = np.sqrt(np.maximum(l1**2 - a**2, 0.0))
    perp = fwd - (fwd * u).sum(-1, keepdims=True) * u
    perp /= np.maximum(np.linalg.norm(perp, axis=-1, keepdims=True), 1e-9)
    return hip + a * u + h * perp


def walk(
    seconds: float = 8.0,
    fps: float = 30.0,
    speed: float = 1.1,
    step: float = 0.65,
    turn_deg_per_s: float = 0.0,
) -> np.ndarray:
    """(T, 24, 3) joints, z up, metres: walking along +x (optionally turning), starting at the origin."""
    T = int(round(seconds * fps))
    t = np.arange(T) / fps
    period = 2 * step / speed  # one gait cycle = two steps
    s = speed * t  # distance along the path
    yaw = np.deg2rad(turn_deg_per_s) * t
    ds = np.diff(s, prepend=0.0)
    path = np.cumsum(np.stack([ds * np.cos(yaw), ds * np.sin(yaw)], 1), axis=0)
    fwd = np.stack([np.cos(yaw), np.sin(yaw), 0 * yaw], 1)
    left = np.stack([-np.sin(yaw), np.cos(yaw), 0 * yaw], 1)
    J = np.zeros((T, 24, 3))
    feet = []
    for side, phase0 in ((0, 0.0), (1, 0.5)):
        ph = (t / period + phase0) % 1.0
        cyc = np.floor(t / period + phase0)
        stance = ph < 0.6
        # foot lands at the path point reached at the cycle's landing time and stays there during stance
        land_t = (cyc - phase0) * period + 0.3 * period
        land_t_next = land_t + period
        idx = lambda tt: np.clip(np.round(tt * fps).astype(int), 0, T - 1)  # noqa: E731
        p_land = path[idx(land_t)]
        p_next = path[idx(land_t_next)]
        w = np.clip((ph - 0.6) / 0.4, 0, 1)
        w = 0.5 - 0.5 * np.cos(np.pi * w)
        p = np.where(stance[:, None], p_land, (1 - w)[:, None] * p_land + w[:, None] * p_next)
        lift = np.where(stance, 0.0, 0.08 * np.sin(np.pi * np.clip((ph - 0.6) / 0.4, 0, 1)))
        lat = (0.1 if side == 0 else -0.1) * left
        ankle = (
            np.concatenate([p, np.zeros((T, 1))], 1)
            + lat
            + np.array([0, 0, 0.08])
            + lift[:, None] * [0, 0, 1]
        )
        feet.append(ankle)
    pelvis_xy = 0.5 * (feet[0] + feet[1])[:, :2] * 0.3 + 0.7 * path
    bob = 0.02 * np.cos(4 * np.pi * t / period)
    pelvis = np.concatenate([pelvis_xy, (0.92 + bob)[:, None]], 1)
    J[:, SMPL.index("pelvis")] = pelvis
    for side, name in ((0, "left"), (1, "right")):
        sgn = 1 if side == 0 else -1
        hip = pelvis + sgn * 0.09 * left - np.array([0, 0, 0.07])
        ankle = feet[side]
        knee = _knee(hip, ankle, 0.42, 0.42, fwd)
        J[:, SMPL.index(f"{name}_hip")] = hip
        J[:, SMPL.index(f"{name}_knee")] = knee
        J[:, SMPL.index(f"{name}_ankle")] = ankle
        J[:, SMPL.index(f"{name}_foot")] = ankle + 0.14 * fwd - np.array([0, 0, 0.06])
    up = np.array([0, 0, 1.0])
    for name, h in (("spine1", 0.1), ("spine2", 0.22), ("spine3", 0.35), ("neck", 0.55), ("head", 0.72)):
        J[:, SMPL.index(name)] = pelvis + h * up + 0.02 * fwd
    swing = 0.25 * np.sin(2 * np.pi * t / period)
    for side, name in ((0, "left"), (1, "right")):
        sgn = 1 if side == 0 else -1
        collar = pelvis + 0.48 * up + sgn * 0.07 * left
        sh = pelvis + 0.47 * up + sgn * 0.18 * left
        a = sgn * swing[:, None]
        elbow = sh - 0.27 * up + 0.27 * a * fwd
        wrist = elbow - 0.25 * up + 0.3 * a * fwd
        J[:, SMPL.index(f"{name}_collar")] = collar
        J[:, SMPL.index(f"{name}_shoulder")] = sh
        J[:, SMPL.index(f"{name}_elbow")] = elbow
        J[:, SMPL.index(f"{name}_wrist")] = wrist
        J[:, SMPL.index(f"{name}_hand")] = wrist - 0.08 * up
    return J


def sit_stand(
    seat_height: float = 0.42, seat_x: float = -0.35, fps: float = 30.0, seat_offset: float = 0.12
) -> np.ndarray:
    """(T, 24, 3) stand in front of a seat, sit down backwards onto it, sit, stand up (6 s, facing +x).

    Procedural (the benchmark's mocap is a walk): the hips move back and down onto the seat with level thighs,
    shanks stay vertical over the planted feet; the trunk keeps its offsets from the pelvis.
    """
    stand = walk(0.1, fps)[0]
    stand = stand - [stand[0, 0], stand[0, 1], 0.0]
    hip_z = 0.5 * (stand[SMPL.left_hip, 2] + stand[SMPL.right_hip, 2])
    feet_x = seat_x + 0.45
    stand[:, 0] += feet_x - stand[SMPL.index("left_ankle"), 0]
    seated = stand.copy()
    legs = ("knee", "ankle", "foot")
    upper = [SMPL.index(n) for n in SMPL.joint_names if not any(w in n for w in legs)]
    seated[upper, 2] -= hip_z - (seat_height + seat_offset)
    seated[upper, 0] += seat_x - seated[SMPL.left_hip, 0]
    for side in ("left", "right"):
        hip = seated[SMPL.index(f"{side}_hip")]
        ankle = seated[SMPL.index(f"{side}_ankle")]
        seated[SMPL.index(f"{side}_knee")] = [ankle[0], hip[1], hip[2]]
    n = lambda s: int(round(s * fps))  # noqa: E731
    w = np.concatenate(
        [
            np.zeros(n(1.0)),
            0.5 - 0.5 * np.cos(np.linspace(0, np.pi, n(1.0))),
            np.ones(n(2.0)),
            0.5 + 0.5 * np.cos(np.linspace(0, np.pi, n(1.0))),
            np.zeros(n(1.0)),
        ]
    )
    return (1 - w)[:, None, None] * stand[None] + w[:, None, None] * seated[None]
