"""``hsi-offline view DIR``: interactive 3D view of a clip folder in the browser (viser).

Shows the terrain mesh, the skeleton of the current frame (with a timeline slider and play button) and the
foot contacts, so a person can check a reconstruction without reading numbers. A folder with a retargeted
``motion.npz`` (``hsi-offline retarget``) also shows the G1 (``retarget/view_robot.py``) and the keypoints it
was retargeted from; the timeline then runs over the robot clip's frames.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "clip", help="clip folder written by `hsi-offline reconstruct` and/or `hsi-offline retarget`"
    )
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--seconds", type=float, default=None, help="stop after this long (default: until Ctrl-C)")


def add_terrain(server, terrain) -> None:  # noqa: ANN001
    """The heightfield as a triangle mesh (the simulator's two triangles per cell)."""
    ny, nx = terrain.shape
    X, Y = np.meshgrid(
        terrain.origin[0] + np.arange(nx) * terrain.resolution,
        terrain.origin[1] + np.arange(ny) * terrain.resolution,
    )
    V = np.stack([X.ravel(), Y.ravel(), terrain.heights.ravel()], 1).astype(np.float32)
    idx = np.arange(nx * ny).reshape(ny, nx)
    F = np.concatenate(
        [
            np.stack([idx[:-1, :-1].ravel(), idx[:-1, 1:].ravel(), idx[1:, 1:].ravel()], 1),
            np.stack([idx[:-1, :-1].ravel(), idx[1:, 1:].ravel(), idx[1:, :-1].ravel()], 1),
        ]
    )
    server.scene.add_mesh_simple("/terrain", V, F.astype(np.uint32), color=(160, 150, 130))


def build_scene(server, clip: Path):  # noqa: ANN001, ANN201
    """Add terrain + skeleton (+ the retargeted G1) to a viser server; returns (timeline, show) where
    timeline has ``num_frames`` and ``fps`` and show(t) draws frame t."""
    from hsi_kernel.terrain import Terrain
    from hsi_offline.reconstruct.artifacts import load_human_motion
    from hsi_offline.reconstruct.pictures import bones

    robot = show_robot = None
    if (clip / "motion.npz").is_file():
        from hsi_offline.retarget.view_robot import add_retarget_view

        robot, show_robot, _ = add_retarget_view(server, clip)
    terrain_file = clip / (robot.terrain if robot is not None and robot.terrain else "terrain.npz")
    if terrain_file.is_file():
        add_terrain(server, Terrain.load(terrain_file))
    else:
        server.scene.add_grid("/ground", width=10.0, height=10.0)
    motion = load_human_motion(clip) if (clip / "human_motion.npz").is_file() else None
    B = np.array(bones(motion.joint_names), dtype=int).reshape(-1, 2) if motion is not None else None

    def show_human(t: int) -> None:
        J = motion.joints[t].astype(np.float32)
        server.scene.add_point_cloud(
            "/joints", J, colors=(30, 200, 30) if motion.valid[t] else (220, 40, 40), point_size=0.03
        )
        if len(B):
            server.scene.add_line_segments(
                "/bones", np.stack([J[B[:, 0]], J[B[:, 1]]], 1), colors=(20, 20, 20)
            )

    def show(t: int) -> None:
        if robot is None:
            show_human(t)
            return
        show_robot(t)
        if motion is not None:  # the reconstruction at the same time (its own frame rate)
            show_human(min(int(round(t / robot.fps * motion.fps)), motion.num_frames - 1))

    show(0)
    return (robot if robot is not None else motion), show


def run(args: argparse.Namespace) -> int:
    import viser

    clip = Path(args.clip)
    if not (clip / "motion.npz").is_file() and not (
        (clip / "human_motion.npz").is_file() and (clip / "terrain.npz").is_file()
    ):
        raise FileNotFoundError(
            f"'{clip}' is not a clip folder (needs motion.npz, or human_motion.npz and terrain.npz)"
        )
    server = viser.ViserServer(port=args.port)
    motion, show = build_scene(server, clip)
    slider = server.gui.add_slider("frame", min=0, max=motion.num_frames - 1, step=1, initial_value=0)
    playing = server.gui.add_checkbox("play", initial_value=True)
    slider.on_update(lambda _: show(int(slider.value)))
    print(f"viewing {clip} at http://localhost:{args.port} (Ctrl-C to stop)")
    t0 = time.time()
    try:
        while args.seconds is None or time.time() - t0 < args.seconds:
            if playing.value:
                slider.value = (int(slider.value) + 1) % motion.num_frames
            time.sleep(1.0 / motion.fps)
    except KeyboardInterrupt:
        pass
    server.stop()
    return 0
