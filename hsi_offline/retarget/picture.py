"""A strip of frames (side view, x-z) of the G1 skeleton, the human keypoints and the terrain profile.

A picture is the quickest check a person can do that the retarget is sane (feet on the treads, pelvis on
the bench); the interactive 3D view is ``hsi-offline view``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hsi_kernel.atomic import atomic_path
from hsi_offline.motion.clip import MotionClip

from .human import HumanKeypointMotion
from .keypoint_skeleton import EDGE_INDEX
from .problem import robot_keypoints_np


def draw_strip(clip: MotionClip, human: HumanKeypointMotion, path: str | Path, n_frames: int = 6) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    T = clip.num_frames
    frames = np.linspace(0, T - 1, min(n_frames, T)).astype(int)
    rkp = robot_keypoints_np(clip.dof, clip.root_pos, clip.root_quat, clip.joint_pos)
    fig, axes = plt.subplots(1, len(frames), figsize=(2.6 * len(frames), 3.4), sharey=True)
    axes = np.atleast_1d(axes)
    for ax, t in zip(axes, frames):
        cx = rkp[t, 0, 0]
        xs = np.linspace(cx - 0.9, cx + 0.9, 200)
        y0 = rkp[t, 0, 1]
        ground = (
            human.terrain.height_at(np.column_stack([xs, np.full_like(xs, y0)]))
            if human.terrain is not None
            else np.zeros_like(xs)
        )
        ax.fill_between(xs, ground, ground.min() - 0.1, color="0.8")
        for a, b in EDGE_INDEX:
            ax.plot(human.keypoints[t, [a, b], 0], human.keypoints[t, [a, b], 2], color="tab:orange", lw=1)
            ax.plot(rkp[t, [a, b], 0], rkp[t, [a, b], 2], color="tab:blue", lw=2)
        ax.set_title(f"t={t / clip.fps:.2f}s", fontsize=8)
        ax.set_xlim(cx - 0.9, cx + 0.9)
        ax.set_aspect("equal")
        ax.tick_params(labelsize=6)
    axes[0].set_ylabel("z (m)  blue: G1, orange: human")
    fig.tight_layout()
    path = Path(path)
    with atomic_path(path, ".png") as tmp:
        fig.savefig(tmp, dpi=80)
    plt.close(fig)
    return path
