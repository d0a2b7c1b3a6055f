"""Procedural human motions on the project's procedural terrains: stair climbing and sitting down.

Why: the benchmark and the tests need human motion whose terrain contact is known exactly. A human of adult
proportions (thigh and shank 0.42 m) is animated from footstep plans: swing feet follow arcs that clear the
stair nosing, knees come from two-link inverse kinematics (bending forward), the pelvis rides between the
feet, arms swing opposite to the legs. Contacts are known by construction.
"""

from __future__ import annotations

import numpy as np

from hsi_kernel.terrain import Terrain, make_scene_terrain

from .human import HumanKeypointMotion
from .keypoint_skeleton import KEYPOINTS

THIGH, SHANK = 0.42, 0.42
HIP_HALF_WIDTH, SHOULDER_HALF_WIDTH = 0.09, 0.18
ANKLE_HEIGHT, TOE_FORWARD = 0.08, 0.15
UPPER_ARM, FOREARM, TRUNK = 0.28, 0.25, 0.50


def _smooth(s):
    s = np.clip(s, 0.0, 1.0)
    return s * s * (3 - 2 * s)


def _knee(hip: np.ndarray, ankle: np.ndarray, forward: np.ndarray) -> np.ndarray:
    """Two-link IK: the knee of a leg from hip to ankle, bending towards ``forward``."""
    d = ankle - hip
    dist = np.clip(np.linalg.norm(d, axis=-1, keepdims=True), 1e-6, THIGH + SHANK - 1e-4)
    u = d / dist
    f = forward - np.sum(forward * u, -1, keepdims=True) * u
    f /= np.linalg.norm(f, axis=-1, keepdims=True)
    cos_a = (THIGH**2 + dist**2 - SHANK**2) / (2 * THIGH * dist)
    a = np.arccos(np.clip(cos_a, -1, 1))
    return hip + THIGH * (np.cos(a) * u + np.sin(a) * f)


def _assemble(pelvis, lean, l_ankle, r_ankle, arm_swing) -> np.ndarray:
    """(T,15,3) keypoints for a human facing +x: pelvis path, trunk lean (rad), ankle paths."""
    T = len(pelvis)
    kp = np.zeros((T, len(KEYPOINTS), 3))
    ix = {k: i for i, k in enumerate(KEYPOINTS)}
    fwd = np.tile([1.0, 0.0, 0.0], (T, 1))
    up = np.column_stack([np.sin(lean), np.zeros(T), np.cos(lean)])
    kp[:, ix["pelvis"]] = pelvis
    for side, sgn, ankle in (("left", 1, l_ankle), ("right", -1, r_ankle)):
        hip = pelvis + np.array([0.0, sgn * HIP_HALF_WIDTH, -0.02])
        kp[:, ix[f"{side}_hip"]] = hip
        kp[:, ix[f"{side}_ankle"]] = ankle
        kp[:, ix[f"{side}_knee"]] = _knee(hip, ankle, fwd)
        kp[:, ix[f"{side}_toe"]] = ankle + np.array([TOE_FORWARD, 0.0, -ANKLE_HEIGHT + 0.02])
        sh = pelvis + TRUNK * up + np.array([0.0, sgn * SHOULDER_HALF_WIDTH, 0.0])
        swing = -sgn * arm_swing
        arm_dir = np.column_stack([np.sin(swing), np.zeros(T), -np.cos(swing)])
        elbow = sh + UPPER_ARM * arm_dir
        fore = np.column_stack([np.sin(swing + 0.3), np.zeros(T), -np.cos(swing + 0.3)])
        kp[:, ix[f"{side}_shoulder"]], kp[:, ix[f"{side}_elbow"]] = sh, elbow
        kp[:, ix[f"{side}_wrist"]] = elbow + FOREARM * fore
    return kp


def _footstep_walk(
    terrain: Terrain,
    steps_x: list[float],
    fps: float,
    y0: float = 0.0,
    swing_t: float = 0.55,
    double_t: float = 0.25,
) -> HumanKeypointMotion:
    """Alternate left/right steps to the given ankle x positions (each foot starts at steps_x[0])."""
    feet = {0: [steps_x[0]], 1: [steps_x[0]]}
    for k, x in enumerate(steps_x[1:]):
        feet[k % 2].append(x)
    n_steps = len(steps_x) - 1
    duration = 0.6 + n_steps * (swing_t + double_t) + 0.6
    T = int(round(duration * fps)) + 1
    t = np.arange(T) / fps
    ankle = np.zeros((2, T, 3))
    contact = np.ones((T, 2), dtype=bool)
    ys = (y0 + HIP_HALF_WIDTH, y0 - HIP_HALF_WIDTH)
    for side in (0, 1):
        ankle[side, :, 0] = feet[side][0]
        ankle[side, :, 1] = ys[side]
    pos = {0: feet[0][0], 1: feet[1][0]}
    counters = {0: 0, 1: 0}
    for k in range(n_steps):
        side = k % 2
        start = 0.6 + k * (swing_t + double_t)
        counters[side] += 1
        xa, xb = pos[side], feet[side][counters[side]]
        za = terrain.height_at(np.array([xa, ys[side]])) + ANKLE_HEIGHT
        zb = terrain.height_at(np.array([xb, ys[side]])) + ANKLE_HEIGHT
        s = (t - start) / swing_t
        m = (s > 0) & (s < 1)
        # lift first, then move forward, so toes clear the stair nosing
        ankle[side, m, 0] = xa + (xb - xa) * _smooth((s[m] - 0.15) / 0.75)
        ankle[side, m, 2] = za + (zb - za) * _smooth(s[m] / 0.45) + 0.10 * np.sin(np.pi * s[m])
        ankle[side, s >= 1, 0] = xb
        contact[m, side] = False
        pos[side] = xb
    for side in (0, 1):  # stance height from the terrain under the ankle
        stance = contact[:, side]
        ankle[side, stance, 2] = terrain.height_at(ankle[side, stance, :2]) + ANKLE_HEIGHT
    mid = 0.5 * (ankle[0] + ankle[1])
    ground = np.maximum(terrain.height_at(ankle[0, :, :2]), terrain.height_at(ankle[1, :, :2]))
    from scipy.ndimage import gaussian_filter1d

    pelvis = np.column_stack(
        [
            gaussian_filter1d(mid[:, 0], 0.15 * fps, mode="nearest") + 0.03,
            np.full(T, y0),
            gaussian_filter1d(ground, 0.2 * fps, mode="nearest") + 0.92,
        ]
    )
    swing = 0.25 * np.sin(np.pi * np.clip((t - 0.6) / (swing_t + double_t), 0, n_steps))
    kp = _assemble(pelvis, np.full(T, 0.08), ankle[0], ankle[1], swing)
    conf = np.ones(kp.shape[:2])
    return HumanKeypointMotion(fps, kp, conf, contact, terrain, "synthetic").validate()


def stair_climb(fps: float = 30.0, n_treads: int = 4) -> HumanKeypointMotion:
    """Walk from x=0 up the ``stairs`` scene (0.15 m rise, 0.30 m run) onto the landing, step over step."""
    terrain = make_scene_terrain("stairs")
    treads = [1.0 + 0.3 * k + 0.09 for k in range(n_treads)]  # ankle 9 cm behind each tread's centre line
    steps = [0.0, 0.35, 0.70, *treads, treads[-1] + 0.45, treads[-1] + 0.45]
    motion = _footstep_walk(terrain, steps, fps)
    motion.source = "synthetic:stair_climb"
    return motion


def flat_walk(fps: float = 30.0, n_steps: int = 4, stride: float = 0.4) -> HumanKeypointMotion:
    """Straight walk on flat ground (for quick tests)."""
    terrain = make_scene_terrain("flat")
    steps = [0.0] + [stride * (k + 1) for k in range(n_steps)] + [stride * n_steps]
    motion = _footstep_walk(terrain, steps, fps)
    motion.source = "synthetic:flat_walk"
    return motion


def sit_down(fps: float = 30.0) -> HumanKeypointMotion:
    """Stand in front of the ``bench`` scene's bench (0.42 m), sit down on it, stay, stand up again."""
    terrain = make_scene_terrain("bench")
    phases = [(1.0, 0.0), (2.0, 1.0), (1.0, 1.0), (2.0, 0.0), (0.8, 0.0)]  # (duration, sit amount at end)
    T = int(round(sum(d for d, _ in phases) * fps)) + 1
    t = np.arange(T) / fps
    amount = np.zeros(T)
    t0, a0 = 0.0, 0.0
    for d, a1 in phases:
        m = (t >= t0) & (t <= t0 + d)
        amount[m] = a0 + (a1 - a0) * _smooth((t[m] - t0) / d)
        t0, a0 = t0 + d, a1
    feet_x = 0.08
    stand = np.array([0.0, 0.0, 0.92])
    seated = np.array([-0.33, 0.0, 0.42 + 0.11])
    pelvis = stand + amount[:, None] * (seated - stand)
    lean = 0.08 + 0.45 * np.sin(np.pi * np.clip(amount, 0, 1)) * (1 - 0.5 * amount)
    ankles = [np.tile([feet_x, s * HIP_HALF_WIDTH, ANKLE_HEIGHT], (T, 1)) for s in (1, -1)]
    kp = _assemble(pelvis, lean, ankles[0], ankles[1], 0.3 * amount)
    conf = np.ones(kp.shape[:2])
    return HumanKeypointMotion(
        fps, kp, conf, np.ones((T, 2), dtype=bool), terrain, "synthetic:sit_down"
    ).validate()
