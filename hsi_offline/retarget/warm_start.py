"""Warm starts for the retargeting solve, and the per-frame IK clip the solve is compared against.

``ik_warm_start`` (default): per-frame IK with ``mink`` (the GMR-style approach) on the same MJCF. Each frame,
the human skeleton is rebuilt with the nominal per-edge scales from ``pelvis_root`` (human pelvis position,
leg-scaled height, hip yaw), and mink drives the G1's tracked links to those points, starting from the
previous frame's solution, inside the joint limits. It knows nothing of contacts or terrain (the trajectory
optimisation adds those), but starting from it the solve needs 12-25 iterations on clean inputs.
``pose_warm_start``: the default pose under ``pelvis_root``, without IK.
"""

from __future__ import annotations

import time

import mink
import numpy as np

from hsi_kernel.contract import get_contract
from hsi_kernel.model.kinematics import joint_qpos_addresses, load_model
from hsi_kernel.terrain import Terrain
from hsi_offline.motion.clip import MotionClip, make_clip
from hsi_offline.motion.quat import to_matrix

from .human import HumanKeypointMotion
from .keypoint_skeleton import FOOT_KEYPOINTS, KEYPOINTS, ROBOT_KEYPOINTS, TOE_KEYPOINTS, TREE_EDGES, K
from .problem import nominal_scales


def pelvis_root(
    human: HumanKeypointMotion, scales: np.ndarray, terrain: Terrain | None
) -> tuple[np.ndarray, np.ndarray]:
    """Root positions (T,3) and yaw-only orientations (T,4 wxyz) from the human pelvis and hips."""
    kp = human.keypoints
    pelvis = kp[:, K["pelvis"]]
    across = kp[:, K["left_hip"]] - kp[:, K["right_hip"]]
    yaw = np.arctan2(across[:, 1], across[:, 0]) - np.pi / 2  # +y (left) is yaw + 90 deg
    ground = terrain.height_at(pelvis[:, :2]) if terrain is not None else np.zeros(len(kp))
    ankles = kp[:, FOOT_KEYPOINTS, 2].min(axis=1)
    foot_ground = terrain.height_at(kp[:, FOOT_KEYPOINTS, :2]).max(axis=1) if terrain is not None else ground
    leg_scale = float(np.median(scales[[1, 2, 5, 6]]))
    base = np.maximum(ground, foot_ground)
    height = base + 0.06 + leg_scale * np.maximum(pelvis[:, 2] - np.minimum(ankles, pelvis[:, 2]), 0.0)
    root = np.column_stack([pelvis[:, :2], height + ROBOT_KEYPOINTS["pelvis"][1][2] * -1.0])
    quat = np.column_stack([np.cos(yaw / 2), np.zeros_like(yaw), np.zeros_like(yaw), np.sin(yaw / 2)])
    return root, quat


def pose_warm_start(
    human: HumanKeypointMotion, nominal: np.ndarray, dof: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Roots from ``pelvis_root`` and the default pose in every frame: a warm start without IK."""
    root, quat = pelvis_root(human, nominal, human.terrain)
    return root, quat, np.tile(get_contract(dof).default_q, (human.num_frames, 1))


def ik_targets(human: HumanKeypointMotion, dof: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The IK's targets: root positions (T,3) and yaw-only orientations (T,4 wxyz) from ``pelvis_root``,
    and the human skeleton rebuilt from the pelvis with the nominal per-edge scales (T,K,3)."""
    scales = nominal_scales(human, dof)
    root, quat = pelvis_root(human, scales, human.terrain)
    offset = np.array(ROBOT_KEYPOINTS["pelvis"][1])
    targets = np.zeros_like(human.keypoints)
    targets[:, 0] = root + np.einsum("tij,j->ti", to_matrix(quat), offset)
    for e, (a, b) in enumerate(TREE_EDGES):
        targets[:, b] = targets[:, a] + scales[e] * (human.keypoints[:, b] - human.keypoints[:, a])
    return root, quat, targets


def ik_warm_start(
    human: HumanKeypointMotion, dof: int = 23, iterations: int = 8, stride: int = 1
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Per-frame IK: root positions (T,3), quaternions (T,4 wxyz), joints (T,dof) clamped to the limits, and
    the solve time (s). ``stride`` > 1 solves every stride-th frame (and the last) and interpolates between
    them (linear for positions and joints, normalised lerp for quaternions): a cheaper warm start."""
    human.validate()
    model = load_model(dof)
    contract = get_contract(dof)
    root, quat, targets = ik_targets(human, dof)
    T = human.num_frames
    config = mink.Configuration(model)
    addrs = joint_qpos_addresses(dof)
    q0 = model.qpos0.copy()
    q0[:3], q0[3:7], q0[addrs] = root[0], quat[0], contract.default_q
    config.update(q0)
    pelvis_task = mink.FrameTask("pelvis", "body", position_cost=1.0, orientation_cost=0.5)
    link_tasks = {
        k: mink.FrameTask(ROBOT_KEYPOINTS[k][0], "body", position_cost=1.0, orientation_cost=0.0)
        for k in KEYPOINTS
        if k != "pelvis" and KEYPOINTS.index(k) not in TOE_KEYPOINTS
    }
    posture = mink.PostureTask(model, cost=1e-2)
    posture.set_target(q0)
    tasks = [pelvis_task, *link_tasks.values(), posture]
    limits = [mink.ConfigurationLimit(model)]
    frames = np.unique(np.append(np.arange(0, T, max(1, stride)), T - 1))
    out_root, out_quat, out_q = np.zeros((T, 3)), np.zeros((T, 4)), np.zeros((T, dof))
    t0 = time.perf_counter()
    for t in frames:
        pelvis_task.set_target(mink.SE3.from_rotation_and_translation(mink.SO3(quat[t]), root[t]))
        for k, task in link_tasks.items():
            task.set_target(mink.SE3.from_translation(targets[t, KEYPOINTS.index(k)]))
        for _ in range(iterations):
            vel = mink.solve_ik(config, tasks, 0.05, "daqp", damping=1e-3, limits=limits)
            config.integrate_inplace(vel, 0.05)
        q = config.q
        out_root[t], out_quat[t], out_q[t] = q[:3], q[3:7], q[addrs]
    if len(frames) < T:
        ts = np.arange(T)
        quat_k = out_quat[frames].copy()
        for i in range(1, len(quat_k)):  # same hemisphere as the previous key: lerp the short way
            if np.dot(quat_k[i], quat_k[i - 1]) < 0:
                quat_k[i] = -quat_k[i]
        out_root = np.stack([np.interp(ts, frames, out_root[frames, i]) for i in range(3)], axis=1)
        out_q = np.stack([np.interp(ts, frames, out_q[frames, i]) for i in range(dof)], axis=1)
        out_quat = np.stack([np.interp(ts, frames, quat_k[:, i]) for i in range(4)], axis=1)
        out_quat /= np.linalg.norm(out_quat, axis=1, keepdims=True)
    seconds = time.perf_counter() - t0
    return out_root, out_quat, contract.clamp_to_limits(out_q), seconds


def ik_clip(human: HumanKeypointMotion, dof: int = 23, iterations: int = 8) -> tuple[MotionClip, float]:
    """The per-frame IK alone as a clip, and its solve time (s): what the trajectory optimisation is measured
    against (it has no contact or terrain terms)."""
    out_root, out_quat, out_q, seconds = ik_warm_start(human, dof, iterations)
    clip = make_clip(
        human.fps,
        out_root,
        out_quat,
        out_q,
        dof,
        human.contacts,
        "",
        {"source": human.source, "method": "mink_per_frame_ik", "iterations": iterations},
    )
    return clip, seconds
