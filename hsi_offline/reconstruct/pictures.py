"""Pictures people look at instead of numbers: reprojected-skeleton contact sheet, top-down terrain map."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hsi_kernel.atomic import atomic_path
from hsi_kernel.terrain import Terrain
from hsi_offline.reconstruct.artifacts import CameraTrack, HumanMotion
from hsi_offline.reconstruct.body_skeleton import BLAZEPOSE_33, SMPL_24

_BONES = {
    BLAZEPOSE_33: [
        (11, 12),
        (11, 13),
        (13, 15),
        (12, 14),
        (14, 16),
        (11, 23),
        (12, 24),
        (23, 24),
        (23, 25),
        (25, 27),
        (27, 29),
        (29, 31),
        (27, 31),
        (24, 26),
        (26, 28),
        (28, 30),
        (30, 32),
        (28, 32),
        (0, 11),
        (0, 12),
    ],
    SMPL_24: [
        (0, 1),
        (0, 2),
        (0, 3),
        (1, 4),
        (2, 5),
        (3, 6),
        (4, 7),
        (5, 8),
        (6, 9),
        (7, 10),
        (8, 11),
        (9, 12),
        (12, 15),
        (9, 13),
        (9, 14),
        (13, 16),
        (14, 17),
        (16, 18),
        (17, 19),
        (18, 20),
        (19, 21),
        (20, 22),
        (21, 23),
    ],
}


def bones(joint_names: tuple[str, ...]) -> list[tuple[int, int]]:
    return _BONES.get(tuple(joint_names), [])


def _save(fig, path: Path) -> Path:  # noqa: ANN001
    import matplotlib.pyplot as plt

    with atomic_path(path, ".png") as tmp:
        fig.savefig(tmp, dpi=90, format="png")
    plt.close(fig)
    return path


def contact_sheet(
    motion: HumanMotion,
    camera: CameraTrack,
    frames: dict[int, np.ndarray] | None,
    path: str | Path,
    n: int = 12,
    boxes: np.ndarray | None = None,
) -> Path:
    """Grid of frames with the fitted skeleton reprojected (green: tracked frame, red: interpolated) and the
    kept person's image box (yellow), so a switch to another person would show at a glance."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    T = motion.num_frames
    idx = np.linspace(0, T - 1, min(n, T)).round().astype(int)
    cols = 4
    rows = int(np.ceil(len(idx) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3 * cols, 3 * rows * camera.height / max(camera.width, 1)))
    uv = camera.project(motion.joints)
    for ax, t in zip(np.ravel(axes), idx):
        img = frames.get(int(t)) if frames else None
        if img is not None:
            ax.imshow(img, extent=(0, camera.width, camera.height, 0))
        ax.set_xlim(0, camera.width)
        ax.set_ylim(camera.height, 0)
        if boxes is not None and t < len(boxes) and np.all(np.isfinite(boxes[t])):
            x0, y0, x1, y1 = boxes[t]
            ax.plot([x0, x1, x1, x0, x0], [y0, y0, y1, y1, y0], color="yellow", lw=1.2)
            ax.text(x0, y0, "kept", color="yellow", fontsize=6, va="bottom")
        color = "lime" if motion.valid[t] else "red"
        for a, b in bones(motion.joint_names):
            ax.plot(uv[t, [a, b], 0], uv[t, [a, b], 1], color=color, lw=1.5)
        ax.set_title(f"frame {t}" + ("" if motion.valid[t] else " (interpolated)"), fontsize=8)
        ax.axis("off")
    for ax in np.ravel(axes)[len(idx) :]:
        ax.axis("off")
    fig.tight_layout()
    return _save(fig, Path(path))


def terrain_topdown(
    terrain: Terrain,
    motion: HumanMotion,
    path: str | Path,
    title: str = "",
    camera_xy: np.ndarray | None = None,
) -> Path:
    """Heightfield as a colour map with the pelvis trajectory, foot contacts and (moving camera) the camera
    path drawn on top: a following camera's path should run beside the person's, a pan's stay put."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x0, x1, y0, y1 = terrain.extent
    fig, ax = plt.subplots(figsize=(7, 7 * (y1 - y0) / max(x1 - x0, 1e-6) + 0.5))
    im = ax.imshow(terrain.heights, origin="lower", extent=(x0, x1, y0, y1), cmap="terrain")
    fig.colorbar(im, ax=ax, label="height (m)")
    hip = motion.extras.get("hip_centre", motion.joints[:, 0])
    ax.plot(hip[:, 0], hip[:, 1], "k-", lw=1, label="hip centre")
    from hsi_offline.reconstruct.body_skeleton import skeleton_for

    try:
        sk = skeleton_for(motion.joint_names)
        for side, feet, c in ((0, sk.left_foot, "tab:blue"), (1, sk.right_foot, "tab:red")):
            p = motion.joints[motion.contacts[:, side]][:, list(feet), :2].mean(1)
            ax.scatter(p[:, 0], p[:, 1], s=4, c=c, label=("left" if side == 0 else "right") + " foot contact")
    except ValueError:
        pass
    if camera_xy is not None and len(camera_xy):
        ax.plot(camera_xy[:, 0], camera_xy[:, 1], "m--", lw=1, label="camera")
        ax.plot(camera_xy[:1, 0], camera_xy[:1, 1], "mo", ms=4)
        ax.set_xlim(min(x0, camera_xy[:, 0].min() - 0.3), max(x1, camera_xy[:, 0].max() + 0.3))
        ax.set_ylim(min(y0, camera_xy[:, 1].min() - 0.3), max(y1, camera_xy[:, 1].max() + 0.3))
        ax.set_aspect("equal")
    ax.set_xlabel("x (m)")
    ax.set_ylabel("y (m)")
    ax.set_title(title or "terrain (top-down) and trajectory")
    ax.legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    return _save(fig, Path(path))
