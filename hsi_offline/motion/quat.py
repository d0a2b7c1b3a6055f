"""Quaternion helpers for motion clips. Convention everywhere in hsi_robot: w-x-y-z, unit length.

scipy's Rotation is used with ``scalar_first=True`` so no caller ever has to remember that scipy's own
default is x-y-z-w (the source of many silently mirrored motions).
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation, Slerp


def normalize(q: np.ndarray) -> np.ndarray:
    q = np.asarray(q, dtype=np.float64)
    return q / np.linalg.norm(q, axis=-1, keepdims=True)


def canonical(q: np.ndarray) -> np.ndarray:
    """Sign-fix so that w >= 0 (q and -q are the same rotation)."""
    q = np.asarray(q, dtype=np.float64)
    return np.where(q[..., :1] < 0, -q, q)


def to_rotation(q_wxyz: np.ndarray) -> Rotation:
    return Rotation.from_quat(np.asarray(q_wxyz, dtype=np.float64).reshape(-1, 4), scalar_first=True)


def from_rotation(r: Rotation) -> np.ndarray:
    return canonical(r.as_quat(scalar_first=True))


def from_matrix(m: np.ndarray) -> np.ndarray:
    """(..., 3, 3) rotation matrices -> (..., 4) w-x-y-z."""
    m = np.asarray(m, dtype=np.float64)
    return from_rotation(Rotation.from_matrix(m.reshape(-1, 3, 3))).reshape(m.shape[:-2] + (4,))


def to_matrix(q_wxyz: np.ndarray) -> np.ndarray:
    q = np.asarray(q_wxyz, dtype=np.float64)
    return to_rotation(q).as_matrix().reshape(q.shape[:-1] + (3, 3))


def angle_between(q1: np.ndarray, q2: np.ndarray) -> np.ndarray:
    """Rotation angle (rad) taking q1 to q2, elementwise over leading axes."""
    d = np.abs(np.sum(normalize(q1) * normalize(q2), axis=-1))
    return 2.0 * np.arccos(np.clip(d, 0.0, 1.0))


def slerp(times_in: np.ndarray, q_wxyz: np.ndarray, times_out: np.ndarray) -> np.ndarray:
    """Spherical interpolation of a (T,4) quaternion track at ``times_out`` (inside [t0, t_end])."""
    if len(times_in) == 1:
        return np.repeat(canonical(normalize(q_wxyz)), len(times_out), axis=0)
    s = Slerp(np.asarray(times_in, dtype=np.float64), to_rotation(q_wxyz))
    return from_rotation(s(np.clip(times_out, times_in[0], times_in[-1])))


def angular_velocity_world(q_wxyz: np.ndarray, fps: float) -> np.ndarray:
    """(T,3) world-frame angular velocity by finite differences (central inside, one-sided at the ends)."""
    r = to_rotation(q_wxyz)
    n = len(r)
    if n < 2:
        return np.zeros((n, 3))
    step = (r[1:] * r[:-1].inv()).as_rotvec() * fps  # world frame: R_{t+1} R_t^-1
    w = np.empty((n, 3))
    w[0], w[-1] = step[0], step[-1]
    w[1:-1] = 0.5 * (step[1:] + step[:-1])
    return w
