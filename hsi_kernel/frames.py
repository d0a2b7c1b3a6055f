"""LiDAR-inertial odometry -> torso pose, shared by every node that reads FAST-LIO2's ``/Odometry``.

FAST-LIO2 reports the LiDAR ("body") pose in ``camera_init``, the LiDAR frame at start. The G1's MID-360 is
mounted upside down, so ``camera_init`` has z pointing DOWN and its y mirrored: using its x/y/yaw directly
mirrors every lateral offset and turn. The map frame ``M`` (``hsi_map``) is the torso frame at start,
``T_M_ci = T_torso_lidar`` (the mount extrinsic from the model's ``mid360`` site), which assumes the torso is
upright when odometry starts (the robot stands before the policy runs). The torso pose is then
``T_M_torso = T_torso_lidar T_ci_body T_torso_lidar^-1``.
"""

from __future__ import annotations

import math

import mujoco
import numpy as np

from hsi_kernel.contract import LIDAR_SITE, TORSO_LINK


def quat_xyzw_to_matrix(q) -> np.ndarray:
    """ROS (x, y, z, w) quaternion -> rotation matrix (normalised; raises on zero/non-finite)."""
    q = np.asarray(q, dtype=np.float64)
    n = float(np.linalg.norm(q))
    if q.shape != (4,) or not math.isfinite(n) or n < 1e-6:
        raise ValueError(f"orientation quaternion {q.tolist()} is not a valid rotation")
    x, y, z, w = q / n
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    )


def lidar_extrinsic_from_model(dof: int = 23, site: str = LIDAR_SITE) -> tuple[np.ndarray, np.ndarray]:
    """(position, rotation) of the LiDAR site in the torso frame, from the project's MJCF."""
    from hsi_kernel.model.mjcf_builder import model_path

    m = mujoco.MjModel.from_xml_path(str(model_path(dof)))
    d = mujoco.MjData(m)
    mujoco.mj_kinematics(m, d)
    s = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_SITE, site)
    b = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_BODY, TORSO_LINK)
    if s < 0 or b < 0:
        raise ValueError(f"the G1 model lacks site '{site}' or body '{TORSO_LINK}'")
    Rb = d.xmat[b].reshape(3, 3)
    return Rb.T @ (d.site_xpos[s] - d.xpos[b]), Rb.T @ d.site_xmat[s].reshape(3, 3)


def torso_in_map(p_ci_body, R_ci_body, t_tl: np.ndarray, R_tl: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Torso position and rotation in the map frame from the LiDAR pose in camera_init and the extrinsic."""
    R = R_tl @ np.asarray(R_ci_body, dtype=np.float64) @ R_tl.T
    p = R_tl @ np.asarray(p_ci_body, dtype=np.float64) + t_tl - R @ t_tl
    return p, R


def yaw_of(R: np.ndarray) -> float:
    return math.atan2(R[1, 0], R[0, 0])
