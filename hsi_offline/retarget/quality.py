"""Quality report of a retargeted clip: the figures it is judged by, measured the same way for every method.

Everything is computed with the contract model's MuJoCo FK and ``Terrain.height_at`` (the simulator's
surface), independently of the optimiser's own JAX code, so a solver cannot grade itself.

- keypoint error (cm): robot keypoints vs the human skeleton rebuilt from the pelvis with each edge scaled by
  the clip's nominal human->robot scale (the same scaling for every method);
- foot skating (cm per contact frame): horizontal motion of the sole centre between consecutive frames
  where the human foot is in contact in both;
- terrain penetration (cm): depth of sole corners and collision capsules (5 samples each, with radius)
  below the terrain surface; max over the clip and mean of the per-frame maxima;
- self-collisions: frames in which any checked capsule pair overlaps;
- joint-limit violations: (frame, joint) entries outside the contract limits (> 1e-6 rad);
- smoothness: mean |joint acceleration| (rad/s^2) and mean |root acceleration| (m/s^2).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from hsi_kernel.atomic import write_json_atomic
from hsi_kernel.contract import get_contract
from hsi_kernel.model.kinematics import fk_links
from hsi_offline.motion.clip import MotionClip
from hsi_offline.motion.quat import to_matrix

from .human import HumanKeypointMotion
from .keypoint_skeleton import SOLE_CORNERS, TREE_EDGES
from .robot_model import get_retarget_robot


@dataclass
class QualityReport:
    frames: int
    fps: float
    keypoint_error_cm: float
    skating_cm_per_contact_frame: float
    skating_max_cm: float
    penetration_max_cm: float
    penetration_mean_cm: float
    self_collision_frames: int
    joint_limit_violations: int
    joint_accel_mean: float
    root_accel_mean: float

    def to_dict(self) -> dict:
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in asdict(self).items()}

    def format(self) -> str:
        return (
            f"keypoint error {self.keypoint_error_cm:.1f} cm | "
            f"skating {self.skating_cm_per_contact_frame:.2f} cm/contact frame "
            f"(max {self.skating_max_cm:.1f}) | "
            f"penetration max {self.penetration_max_cm:.2f} mean {self.penetration_mean_cm:.2f} cm | "
            f"self-collision frames {self.self_collision_frames} | "
            f"limit violations {self.joint_limit_violations} | "
            f"joint acc {self.joint_accel_mean:.1f} rad/s^2 | root acc {self.root_accel_mean:.2f} m/s^2"
        )

    def save(self, path: str | Path) -> Path:
        return write_json_atomic(path, self.to_dict(), indent=2)


def scaled_human(human: HumanKeypointMotion, robot_kp: np.ndarray, scales: np.ndarray) -> np.ndarray:
    """Human skeleton rebuilt from the robot's pelvis keypoint with each tree edge scaled."""
    out = np.zeros_like(robot_kp)
    out[:, 0] = robot_kp[:, 0]
    for e, (a, b) in enumerate(TREE_EDGES):
        out[:, b] = out[:, a] + scales[e] * (human.keypoints[:, b] - human.keypoints[:, a])
    return out


def _capsule_samples(dof: int, clip: MotionClip) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """World sample points (T,N,3) with radii (N,), and capsule endpoints (T,C,3) x2."""
    rr = get_retarget_robot(dof)
    names = [rr.robot.links.names[i] for i in rr.cap_link]
    pos, quat = fk_links(dof, clip.root_pos, clip.root_quat, clip.joint_pos, names)
    R = to_matrix(quat)
    p0 = pos + np.einsum("tcij,cj->tci", R, rr.cap_p0)
    p1 = pos + np.einsum("tcij,cj->tci", R, rr.cap_p1)
    feet = np.isin(rr.cap_link, rr.foot_link)
    s = np.linspace(0, 1, 5)
    samples = (p0[:, ~feet, None] + s[None, None, :, None] * (p1 - p0)[:, ~feet, None]).reshape(
        len(pos), -1, 3
    )
    radii = np.repeat(rr.cap_r[~feet], len(s))
    return samples, radii, p0, p1


def soles(dof: int, clip: MotionClip) -> np.ndarray:
    """(T,2,4,3) sole corners of both feet."""
    from hsi_kernel.contract import FOOT_LINKS

    pos, quat = fk_links(dof, clip.root_pos, clip.root_quat, clip.joint_pos, FOOT_LINKS)
    return pos[:, :, None] + np.einsum("tfij,cj->tfci", to_matrix(quat), SOLE_CORNERS)


def _segment_distance(a0, a1, b0, b1) -> np.ndarray:
    s = np.linspace(0, 1, 9)
    pa = a0[..., None, :] + s[:, None] * (a1 - a0)[..., None, :]
    pb = b0[..., None, :] + s[:, None] * (b1 - b0)[..., None, :]
    return np.linalg.norm(pa[..., :, None, :] - pb[..., None, :, :], axis=-1).min(axis=(-1, -2))


def evaluate(clip: MotionClip, human: HumanKeypointMotion, scales: np.ndarray) -> QualityReport:
    """Measure ``clip`` against the ``human`` it was retargeted from (``scales``: nominal edge scales)."""
    from .problem import robot_keypoints_np

    dof, T = clip.dof, clip.num_frames
    if human.num_frames != T:
        raise ValueError(f"quality: clip has {T} frames, human motion {human.num_frames}")
    terrain = human.terrain
    rkp = robot_keypoints_np(dof, clip.root_pos, clip.root_quat, clip.joint_pos)
    target = scaled_human(human, rkp, scales)
    kp_err = float(np.mean(np.linalg.norm(rkp - target, axis=-1)[:, 1:]) * 100)

    sole = soles(dof, clip)
    centre = sole.mean(axis=2)  # (T,2,3)
    both = human.contacts[:-1] & human.contacts[1:]
    step = np.linalg.norm(np.diff(centre[..., :2], axis=0), axis=-1)  # (T-1,2)
    skate = step[both] * 100 if both.any() else np.zeros(1)

    samples, radii, p0, p1 = _capsule_samples(dof, clip)
    pts = np.concatenate([samples, sole.reshape(T, -1, 3)], axis=1)
    rad = np.concatenate([radii, np.zeros(8)])
    ground = terrain.height_at(pts[..., :2]) if terrain is not None else np.zeros(pts.shape[:2])
    depth = np.maximum(0.0, ground + rad - pts[..., 2]).max(axis=1) * 100  # (T,)

    rr = get_retarget_robot(dof)
    d = _segment_distance(p0[:, rr.pair_a], p1[:, rr.pair_a], p0[:, rr.pair_b], p1[:, rr.pair_b])
    overlap = d < (rr.cap_r[rr.pair_a] + rr.cap_r[rr.pair_b])[None]
    contract = get_contract(dof)
    viol = int(np.sum((clip.joint_pos < contract.lower - 1e-6) | (clip.joint_pos > contract.upper + 1e-6)))
    fps = clip.fps
    jacc = np.abs(np.diff(clip.joint_pos, 2, axis=0)).mean() * fps**2 if T > 2 else 0.0
    racc = np.linalg.norm(np.diff(clip.root_pos, 2, axis=0), axis=-1).mean() * fps**2 if T > 2 else 0.0
    return QualityReport(
        T,
        fps,
        kp_err,
        float(skate.mean()),
        float(skate.max()),
        float(depth.max()),
        float(depth.mean()),
        int(overlap.any(axis=1).sum()),
        viol,
        float(jacc),
        float(racc),
    )
