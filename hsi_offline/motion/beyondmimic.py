"""Export to / import from the BeyondMimic / holosoma whole-body-tracking ``.npz`` layout.

Layout (as shipped in holosoma's ``motions/g1_29dof/whole_body_tracking``): ``fps`` (1,), ``joint_pos``
(T, 7 + n) = root position, root quaternion w-x-y-z, then joints; ``joint_vel`` (T, 6 + n) = root linear and
angular velocity (world), then joint velocities; ``body_pos_w``/``body_quat_w``/``body_lin_vel_w``/
``body_ang_vel_w`` (T, B, .) for ``body_names``; ``joint_names`` (n,). BeyondMimic's own files carry joints
only in ``joint_pos`` (T, n) and take the root from body 0 (the pelvis): both are read.

Imports never trust the stored body poses: the clip's link poses are recomputed with this project's FK.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hsi_kernel.atomic import atomic_path
from hsi_kernel.contract import get_contract
from hsi_kernel.model.kinematics import fk_links, link_names

from . import quat
from .clip import MotionClip, make_clip
from .joints import to_contract_order


def _velocity(x: np.ndarray, fps: float) -> np.ndarray:
    return np.gradient(x, 1.0 / fps, axis=0) if len(x) > 1 else np.zeros_like(x)


def export_beyondmimic(clip: MotionClip, path: str | Path) -> Path:
    """Write ``clip`` in the holosoma layout (all model bodies, world frame), atomically."""
    clip.validate()
    bodies = link_names(clip.dof)
    body_pos, body_quat = fk_links(clip.dof, clip.root_pos, clip.root_quat, clip.joint_pos, bodies)
    T = clip.num_frames
    body_ang = (
        np.stack([quat.angular_velocity_world(body_quat[:, b], clip.fps) for b in range(len(bodies))], axis=1)
        if T > 1
        else np.zeros((T, len(bodies), 3))
    )
    root_vel = _velocity(clip.root_pos, clip.fps)
    root_ang = quat.angular_velocity_world(clip.root_quat, clip.fps)
    path = Path(path)
    with atomic_path(path, ".npz") as tmp:
        np.savez(
            tmp,
            fps=np.array([clip.fps]),
            joint_pos=np.concatenate([clip.root_pos, clip.root_quat, clip.joint_pos], axis=1),
            joint_vel=np.concatenate([root_vel, root_ang, _velocity(clip.joint_pos, clip.fps)], axis=1),
            body_pos_w=body_pos,
            body_quat_w=body_quat,
            body_lin_vel_w=_velocity(body_pos, clip.fps),
            body_ang_vel_w=body_ang,
            joint_names=np.array(clip.joint_names),
            body_names=np.array(bodies),
        )
    return path


def import_beyondmimic(path: str | Path, dof: int = 29, terrain: str = "") -> MotionClip:
    """Read a BeyondMimic/holosoma npz into a validated clip of ``dof`` (29 <-> 23 converted by name).

    Joint values outside the contract limits by more than the clip tolerance are rejected, not clipped:
    a published motion that breaks the robot's limits should be noticed, not silently altered.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"BeyondMimic/holosoma npz '{path}' does not exist")
    with np.load(path, allow_pickle=False) as f:
        for key in ("fps", "joint_pos"):
            if key not in f.files:
                raise ValueError(f"'{path}' lacks '{key}': not a BeyondMimic/holosoma motion npz")
        fps = float(np.asarray(f["fps"]).reshape(-1)[0])
        jp = np.asarray(f["joint_pos"], dtype=np.float64)
        names = [str(n) for n in f["joint_names"]] if "joint_names" in f.files else None
        n = len(names) if names is not None else None
        if n is None:  # BeyondMimic without names: the width says 23/29 joints in contract order
            n = jp.shape[1] - 7 if jp.shape[1] - 7 in (23, 29) else jp.shape[1]
            if n not in (23, 29):
                raise ValueError(f"'{path}': joint_pos has {jp.shape[1]} columns and no joint_names")
            names = list(get_contract(n).joint_names)
        if jp.ndim != 2 or jp.shape[0] == 0:
            raise ValueError(f"'{path}': joint_pos must be (T, n) with T >= 1, got {jp.shape}")
        if jp.shape[1] == n + 7:
            root_pos, root_quat, joints = jp[:, :3], jp[:, 3:7], jp[:, 7:]
        elif jp.shape[1] == n:
            if "body_pos_w" not in f.files or "body_quat_w" not in f.files:
                raise ValueError(f"'{path}': joints-only joint_pos needs body_pos_w/body_quat_w for the root")
            bnames = [str(b) for b in f["body_names"]] if "body_names" in f.files else []
            b = bnames.index("pelvis") if "pelvis" in bnames else 0
            root_pos, root_quat, joints = f["body_pos_w"][:, b], f["body_quat_w"][:, b], jp
        else:
            raise ValueError(
                f"'{path}': joint_pos has {jp.shape[1]} columns for {n} joint names (expected {n} or {n + 7})"
            )
    q = to_contract_order(joints, names, dof, source=str(path))
    return make_clip(
        fps,
        root_pos,
        root_quat,
        q,
        dof,
        terrain=terrain,
        provenance={"source": str(path), "format": "beyondmimic_npz", "source_joints": len(names)},
    )
