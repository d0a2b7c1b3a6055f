"""Change a clip's frame rate (the trainer runs at 50 Hz; captures come at 24-120 fps).

Positions and joint angles are interpolated linearly, the root orientation by slerp, contacts by the nearest
input frame; link poses are recomputed with forward kinematics rather than interpolated, so the result
validates like any other clip. The time span is kept: output frame k is at k / fps_out seconds and the last
output frame is the last one that does not run past the input's final frame.
"""

from __future__ import annotations

import numpy as np

from . import quat
from .clip import MotionClip, make_clip


def resample(clip: MotionClip, fps_out: float) -> MotionClip:
    """Return ``clip`` at ``fps_out`` frames per second (provenance records the source rate)."""
    if not (np.isfinite(fps_out) and fps_out > 0):
        raise ValueError(f"resample: fps_out must be a positive number, got {fps_out}")
    T = clip.num_frames
    t_in = np.arange(T) / clip.fps
    n_out = int(np.floor(clip.duration * fps_out + 1e-6)) + 1
    t_out = np.arange(n_out) / fps_out
    root_pos = np.stack([np.interp(t_out, t_in, clip.root_pos[:, k]) for k in range(3)], axis=1)
    joint_pos = np.stack([np.interp(t_out, t_in, clip.joint_pos[:, k]) for k in range(clip.dof)], axis=1)
    root_quat = quat.slerp(t_in, clip.root_quat, t_out)
    nearest = np.clip(np.rint(t_out * clip.fps).astype(np.int64), 0, T - 1)
    contacts = np.asarray(clip.contacts, bool)[nearest]
    prov = dict(clip.provenance)
    prov["resampled_from_fps"] = clip.fps
    return make_clip(
        fps_out, root_pos, root_quat, joint_pos, clip.dof, contacts, clip.terrain, prov, clip.link_names
    )
