"""VideoMimic's own real-to-sim output -> a clip folder, so a VideoMimic user can move over.

Reads `gravity_calibrated_keypoints.h5` (groups joints/<person> (T, 45, 3) SMPL-45 joints in VideoMimic's
gravity-aligned world, the first 24 being SMPL's; joint_names; world_rotation) and `background_mesh.obj`.
The first person is taken (VideoMimic's own retargeter does the same). The world is checked to be +z up
(the head above the pelvis); contacts, supports and the heightfield are then computed by this package from
the joints and the mesh's vertices, exactly as for our own reconstructions.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hsi_offline.reconstruct.artifacts import CameraTrack, HumanMotion
from hsi_offline.reconstruct.body_skeleton import SMPL
from hsi_offline.reconstruct.scene import (
    Supports,
    detect_contacts,
    detect_seats,
    footprints,
    ground_level,
    rotation_to_z,
)
from hsi_offline.reconstruct.solve import Reconstruction, SolveConfig
from hsi_offline.reconstruct.synthetic_scenes import look_at
from hsi_offline.reconstruct.terrain_build import filter_scene_points, terrain_from_points


def load_videomimic(folder: str | Path, cfg: SolveConfig | None = None, fps: float = 30.0) -> Reconstruction:
    import h5py
    import open3d as o3d

    cfg = cfg or SolveConfig()
    folder = Path(folder)
    kp, mesh_path = folder / "gravity_calibrated_keypoints.h5", folder / "background_mesh.obj"
    for p in (kp, mesh_path):
        if not p.is_file():
            raise FileNotFoundError(
                f"VideoMimic folder '{folder}' lacks {p.name} (use its output_calib_mesh/<run>)"
            )
    try:
        with h5py.File(kp, "r") as f:
            if "joints" not in f or not len(f["joints"]):
                raise ValueError(f"'{kp}' has no joints/<person> datasets")
            person = sorted(f["joints"].keys())[0]
            J = np.asarray(f["joints"][person], dtype=np.float64)
    except ValueError:
        raise
    except Exception as e:
        raise ValueError(f"'{kp}' is not a readable VideoMimic keypoints file ({e})") from None
    if J.ndim != 3 or J.shape[1] < 24 or J.shape[2] != 3 or J.shape[0] < 2:
        raise ValueError(f"'{kp}': joints/{person} must be (T, >=24, 3), got {J.shape}")
    J = J[:, :24]
    up = np.median(J[:, SMPL.index("head")] - J[:, 0], axis=0)
    R = rotation_to_z(up) if abs(up[2]) < 0.8 * np.linalg.norm(up) else np.eye(3)  # y-up worlds get rotated
    X = J @ R.T
    mesh = o3d.io.read_triangle_mesh(str(mesh_path))
    if len(mesh.vertices) == 0:
        raise ValueError(f"'{mesh_path}' has no vertices")
    pts = (
        mesh.sample_points_uniformly(max(20000, 4 * len(mesh.triangles))).points
        if len(mesh.triangles)
        else mesh.vertices
    )
    P = np.asarray(pts) @ R.T
    contacts = detect_contacts(X, SMPL, fps, cfg.contact_speed)
    fps_ = footprints(X, contacts, SMPL)
    ground = ground_level(fps_)
    X[..., 2] -= ground
    P[:, 2] -= ground
    for fp in fps_:
        fp.height -= ground
    valid = np.ones(len(X), bool)
    sup = Supports(0.0, fps_, detect_seats(X, SMPL, 0.0, fps, valid))
    terrain = terrain_from_points(
        filter_scene_points(P, X), X[..., :2].reshape(-1, 2), 0.0, cfg.terrain_resolution
    )
    motion = HumanMotion(
        X,
        SMPL.joint_names,
        contacts,
        np.ones(X.shape[:2]),
        fps,
        valid,
        {"hip_centre": 0.5 * (X[:, SMPL.left_hip] + X[:, SMPL.right_hip])},
    )
    # no video camera comes with these files: a virtual side camera for the pictures
    c = X[:, 0].mean(0)
    eye = c + np.array([0.0, -6.0, 0.6])
    K = np.array([[1000.0, 0, 640], [0, 1000.0, 360], [0, 0, 1]])
    cam = CameraTrack(
        K, np.repeat(look_at(eye, c)[None], len(X), 0), np.repeat(eye[None], len(X), 0), 1280, 720, True
    )
    return Reconstruction(motion, terrain, cam, sup, R.T @ np.array([0, 0, 1.0]), 1.0, 0.0, float("nan"))
