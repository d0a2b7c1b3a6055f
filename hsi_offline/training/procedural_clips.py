"""Procedural reference clips: the default pose held, and a gentle in-place weight shift.

They let tests, benchmarks and smoke runs exercise the whole pipeline without any captured data, and give the
learning test a motion whose difficulty is known (standing on the contract's soft ankle gains needs active
balance, so an untrained policy falls within about a second).
"""

from __future__ import annotations

import numpy as np

from hsi_kernel.contract import get_contract
from hsi_offline.motion.clip import MotionClip, make_clip

STAND_ROOT_HEIGHT = 0.774
"""Pelvis height at which the default pose's feet just touch flat ground in the project MJCF."""


def standing_clip(
    dof: int = 23,
    seconds: float = 4.0,
    fps: float = 50.0,
    xy: tuple[float, float] = (0.0, 0.0),
    yaw: float = 0.0,
    height: float = STAND_ROOT_HEIGHT,
) -> MotionClip:
    """The default pose held still at ``xy``/``yaw`` for ``seconds``."""
    T = int(round(seconds * fps)) + 1
    c = get_contract(dof)
    root_pos = np.tile([xy[0], xy[1], height], (T, 1))
    root_quat = np.tile([np.cos(yaw / 2), 0.0, 0.0, np.sin(yaw / 2)], (T, 1))
    joints = np.tile(c.default_q, (T, 1))
    return make_clip(
        fps,
        root_pos,
        root_quat,
        joints,
        dof,
        np.ones((T, 2), bool),
        provenance={"source": "synthetic standing"},
    )


def sway_clip(
    dof: int = 23, seconds: float = 4.0, fps: float = 50.0, amplitude: float = 0.15, period: float = 2.0
) -> MotionClip:
    """Standing with the arms swinging and a small knee bend: joint motion without foot motion."""
    T = int(round(seconds * fps)) + 1
    c = get_contract(dof)
    t = np.arange(T) / fps
    phase = np.sin(2 * np.pi * t / period)
    joints = np.tile(c.default_q, (T, 1))
    for name, sign in (("left_shoulder_pitch_joint", 1), ("right_shoulder_pitch_joint", -1)):
        joints[:, c.index(name)] += sign * amplitude * 2 * phase
    root_pos = np.tile([0.0, 0.0, STAND_ROOT_HEIGHT], (T, 1))
    root_quat = np.tile([1.0, 0.0, 0.0, 0.0], (T, 1))
    return make_clip(
        fps, root_pos, root_quat, joints, dof, np.ones((T, 2), bool), provenance={"source": "synthetic sway"}
    )
