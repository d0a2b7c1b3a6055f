"""The retargeted G1 in ``hsi-offline view DIR``: the simulator's own collision shapes posed by the clip.

Why these shapes: they are exactly what the simulator collides and what the quality report measures
penetration and self-collision with, so what the viewer shows is what training will see. Each shape is one
viser mesh built once in its geom frame and moved per frame (pose from MuJoCo kinematics), so scrubbing
the timeline sends 7 numbers per shape, not meshes. The human keypoints the clip was retargeted from
(``retarget_human.npz``, written by ``write_clip_folder``) are drawn beside it in orange.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import mujoco
import numpy as np

from hsi_kernel.model.kinematics import joint_qpos_addresses, load_model
from hsi_offline.motion.clip import MotionClip, load

from .keypoint_skeleton import EDGE_INDEX

HUMAN_FILE = "retarget_human.npz"
ROBOT_COLOR = (70, 120, 200)
HUMAN_COLOR = (240, 140, 40)


def capsule_mesh(radius: float, half_length: float, n: int = 12) -> tuple[np.ndarray, np.ndarray]:
    """Capsule along z (a UV sphere whose upper half is lifted by +half_length and lower half by -),
    vertices (V,3) and triangles (F,3); half_length 0 gives a sphere."""
    lat = np.linspace(0, np.pi, n + 1)  # an odd row count splits cleanly at the equator
    lon = np.linspace(0, 2 * np.pi, 2 * n, endpoint=False)
    rows = [np.zeros((1, 3)) + [0, 0, radius + half_length]]
    for a in lat[1:-1]:
        z = radius * np.cos(a) + (half_length if a <= np.pi / 2 + 1e-9 else -half_length)
        rows.append(
            np.stack(
                [radius * np.sin(a) * np.cos(lon), radius * np.sin(a) * np.sin(lon), np.full(len(lon), z)],
                axis=1,
            )
        )
        if abs(a - np.pi / 2) < 1e-9:  # the equator ring: duplicate it for the two caps
            rows.append(rows[-1] - [0, 0, 2 * half_length])
    rows.append(np.zeros((1, 3)) + [0, 0, -radius - half_length])
    V = np.concatenate(rows)
    m = len(lon)
    faces = [[0, 1 + (j + 1) % m, 1 + j] for j in range(m)]
    n_rings = (len(V) - 2) // m
    for r in range(n_rings - 1):
        a0, b0 = 1 + r * m, 1 + (r + 1) * m
        for j in range(m):
            j1 = (j + 1) % m
            faces += [[a0 + j, a0 + j1, b0 + j], [a0 + j1, b0 + j1, b0 + j]]
    last = len(V) - 1
    base = 1 + (n_rings - 1) * m
    faces += [[last, base + j, base + (j + 1) % m] for j in range(m)]
    return V.astype(np.float32), np.asarray(faces, dtype=np.uint32)


def box_mesh(half: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    s = np.array([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)], dtype=np.float32)
    F = [
        [0, 1, 3],
        [0, 3, 2],
        [4, 6, 7],
        [4, 7, 5],
        [0, 4, 5],
        [0, 5, 1],
        [2, 3, 7],
        [2, 7, 6],
        [0, 2, 6],
        [0, 6, 4],
        [1, 5, 7],
        [1, 7, 3],
    ]
    return (s * np.asarray(half, dtype=np.float32)), np.asarray(F, dtype=np.uint32)


@dataclass
class RobotShapes:
    geoms: np.ndarray  # (G,) MuJoCo geom ids drawn
    meshes: list  # (vertices, faces) per geom, in the geom frame


def robot_shapes(dof: int) -> RobotShapes:
    """Meshes of the model's primitive geoms (spheres, capsules, cylinders, boxes) in their own frames."""
    model = load_model(dof)
    ids, meshes = [], []
    for g in range(model.ngeom):
        kind, size = int(model.geom_type[g]), model.geom_size[g]
        if kind == mujoco.mjtGeom.mjGEOM_SPHERE:
            meshes.append(capsule_mesh(float(size[0]), 0.0))
        elif kind in (mujoco.mjtGeom.mjGEOM_CAPSULE, mujoco.mjtGeom.mjGEOM_CYLINDER):
            meshes.append(capsule_mesh(float(size[0]), float(size[1])))
        elif kind == mujoco.mjtGeom.mjGEOM_BOX:
            meshes.append(box_mesh(size[:3]))
        else:
            continue
        ids.append(g)
    return RobotShapes(np.asarray(ids, dtype=int), meshes)


def geom_poses(clip: MotionClip, geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """World positions (T,G,3) and w-x-y-z orientations (T,G,4) of ``geoms`` for every frame of ``clip``."""
    model = load_model(clip.dof)
    data = mujoco.MjData(model)
    addrs = joint_qpos_addresses(clip.dof)
    T = clip.num_frames
    pos, quat = np.zeros((T, len(geoms), 3)), np.zeros((T, len(geoms), 4))
    for t in range(T):
        data.qpos[:3], data.qpos[3:7], data.qpos[addrs] = (
            clip.root_pos[t],
            clip.root_quat[t],
            clip.joint_pos[t],
        )
        mujoco.mj_kinematics(model, data)
        pos[t] = data.geom_xpos[geoms]
        for i, g in enumerate(geoms):
            mujoco.mju_mat2Quat(quat[t, i], data.geom_xmat[g])
    return pos, quat


def add_retarget_view(server, folder: Path):  # noqa: ANN001, ANN201
    """Add the clip's G1 (and the human keypoints it was retargeted from) to a viser server.

    Returns (clip, show, handles): show(t) poses frame t, handles are the G1's shape meshes; the terrain is
    the caller's (``reconstruct.view``)."""
    clip = load(folder / "motion.npz")
    shapes = robot_shapes(clip.dof)
    pos, quat = geom_poses(clip, shapes.geoms)
    handles = [
        server.scene.add_mesh_simple(f"/g1/geom{i}", V, F, color=ROBOT_COLOR)
        for i, (V, F) in enumerate(shapes.meshes)
    ]
    human = None
    if (folder / HUMAN_FILE).is_file():
        from .human import load_keypoints_npz

        human = load_keypoints_npz(folder / HUMAN_FILE)
        if human.num_frames != clip.num_frames:
            human = None  # not the keypoints of this clip (a stale file): do not draw a mismatch

    def show(t: int) -> None:
        for i, h in enumerate(handles):
            h.position, h.wxyz = pos[t, i], quat[t, i]
        if human is not None:
            kp = human.keypoints[t].astype(np.float32)
            server.scene.add_point_cloud("/human/keypoints", kp, colors=HUMAN_COLOR, point_size=0.03)
            server.scene.add_line_segments(
                "/human/edges", np.stack([kp[EDGE_INDEX[:, 0]], kp[EDGE_INDEX[:, 1]]], 1), colors=HUMAN_COLOR
            )

    show(0)
    return clip, show, handles
