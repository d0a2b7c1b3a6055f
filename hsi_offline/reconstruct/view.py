"""``hsi-offline view DIR``: interactive 3D view of a clip folder in the browser (viser).

Shows the terrain mesh, the skeleton of the current frame (with a timeline slider and play button) and the
foot contacts, so a person can check a reconstruction without reading numbers.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("clip", help="clip folder written by `hsi-offline reconstruct`")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--seconds", type=float, default=None, help="stop after this long (default: until Ctrl-C)")


def build_scene(server, clip: Path):  # noqa: ANN001, ANN201
    """Add terrain + skeleton to a viser server; returns a function that shows frame t."""
    from hsi_offline.reconstruct.artifacts import load_human_motion
    from hsi_offline.reconstruct.pictures import bones
    from hsi_offline.reconstruct.terrain_build import save_terrain_mesh  # noqa: F401  (mesh file documented)
    from hsi_robot_nodes.terrain import Terrain

    motion = load_human_motion(clip)
    terrain = Terrain.load(clip / "terrain.npz")
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
    B = np.array(bones(motion.joint_names), dtype=int).reshape(-1, 2)

    def show(t: int) -> None:
        J = motion.joints[t].astype(np.float32)
        server.scene.add_point_cloud(
            "/joints", J, colors=(30, 200, 30) if motion.valid[t] else (220, 40, 40), point_size=0.03
        )
        if len(B):
            server.scene.add_line_segments(
                "/bones", np.stack([J[B[:, 0]], J[B[:, 1]]], 1), colors=(20, 20, 20)
            )

    show(0)
    return motion, show


def run(args: argparse.Namespace) -> int:
    import viser

    clip = Path(args.clip)
    if not (clip / "human_motion.npz").is_file() or not (clip / "terrain.npz").is_file():
        raise FileNotFoundError(f"'{clip}' is not a clip folder (needs human_motion.npz and terrain.npz)")
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
