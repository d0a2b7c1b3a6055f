"""Import / export VideoMimic's retargeted G1 motion (``retarget_poses_g1.h5``, written by its stage 4).

Layout (VideoMimic real2sim ``stage4_retargeting``, single person): datasets ``joints`` (T, n) actuated joint
angles in the order of the root attribute ``joint_names``; ``root_pos`` (T, 3); ``root_quat`` (T, 4) in
**x-y-z-w** order; ``link_pos`` (T, L, 3) and ``link_quat`` (T, L, 4, x-y-z-w) for the attribute
``link_names``; group ``contacts`` with ``left_foot`` and ``right_foot`` (T,); root attribute ``fps``.

VideoMimic's own writer fills ``link_pos``/``link_quat`` from one configuration, not per frame (a known
problem of that format), so imports never use them: joints are put in contract order by name (29 <-> 23
converted), and the clip's link poses are recomputed with this project's FK. Exports write per-frame FK.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hsi_kernel.atomic import atomic_path
from hsi_kernel.model.kinematics import fk_links, link_names

from .clip import MotionClip, MotionClipError, make_clip
from .joints import to_contract_order


def _wxyz_to_xyzw(q: np.ndarray) -> np.ndarray:
    return q[..., [1, 2, 3, 0]]


def _xyzw_to_wxyz(q: np.ndarray) -> np.ndarray:
    return q[..., [3, 0, 1, 2]]


def _names(value) -> list[str]:
    """An h5 attribute holding a list of names (str, bytes or a numpy array of either)."""
    if isinstance(value, (str, bytes)):
        value = [value]
    return [v.decode() if isinstance(v, bytes) else str(v) for v in np.asarray(value).reshape(-1).tolist()]


def export_videomimic_h5(clip: MotionClip, path: str | Path) -> Path:
    """Write ``clip`` as a VideoMimic retarget h5 (all model bodies, per-frame FK), atomically."""
    import h5py

    clip.validate()
    bodies = link_names(clip.dof)
    body_pos, body_quat = fk_links(clip.dof, clip.root_pos, clip.root_quat, clip.joint_pos, bodies)
    path = Path(path)
    with atomic_path(path, ".h5") as tmp, h5py.File(tmp, "w") as f:
        f.create_dataset("joints", data=clip.joint_pos)
        f.create_dataset("root_pos", data=clip.root_pos)
        f.create_dataset("root_quat", data=_wxyz_to_xyzw(clip.root_quat))
        f.create_dataset("link_pos", data=body_pos)
        f.create_dataset("link_quat", data=_wxyz_to_xyzw(body_quat))
        contacts = f.create_group("contacts")
        contacts.create_dataset("left_foot", data=clip.contacts[:, 0])
        contacts.create_dataset("right_foot", data=clip.contacts[:, 1])
        f.attrs["fps"] = float(clip.fps)
        f.attrs["joint_names"] = list(clip.joint_names)
        f.attrs["link_names"] = list(bodies)
        f.attrs["robot_name"] = "g1"
    return path


def import_videomimic_h5(path: str | Path, dof: int = 23, terrain: str = "") -> MotionClip:
    """Read a VideoMimic retarget h5 into a validated clip of ``dof`` (joints by name, FK re-derived).

    Like the other G1 importers, joint values outside the contract limits are rejected, not clipped."""
    import h5py

    path = Path(path)
    if not path.is_file():
        raise MotionClipError(f"VideoMimic h5 '{path}' does not exist")
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise MotionClipError(f"'{path}' is not a readable HDF5 file ({e})") from None
    with f:
        for key in ("joints", "root_pos", "root_quat"):
            if key not in f or not isinstance(f[key], h5py.Dataset):
                raise MotionClipError(f"'{path}' lacks dataset '{key}': not a VideoMimic retarget h5")
        for key in ("fps", "joint_names"):
            if key not in f.attrs:
                raise MotionClipError(f"'{path}' lacks attribute '{key}': not a VideoMimic retarget h5")
        joints = np.asarray(f["joints"], dtype=np.float64)
        root_pos = np.asarray(f["root_pos"], dtype=np.float64)
        root_quat = np.asarray(f["root_quat"], dtype=np.float64)
        names = _names(f.attrs["joint_names"])
        fps = float(np.asarray(f.attrs["fps"]).reshape(-1)[0])
        contacts = None
        if "contacts" in f and {"left_foot", "right_foot"} <= set(f["contacts"].keys()):
            contacts = np.stack(
                [np.asarray(f["contacts/left_foot"]), np.asarray(f["contacts/right_foot"])], axis=1
            ).astype(bool)
    T = joints.shape[0] if joints.ndim == 2 else -1
    if T < 1:
        raise MotionClipError(f"'{path}': joints must be (T, n) with T >= 1, got {joints.shape}")
    if root_pos.shape != (T, 3) or root_quat.shape != (T, 4):
        raise MotionClipError(
            f"'{path}': root_pos {root_pos.shape} / root_quat {root_quat.shape} do not match {T} frames"
        )
    if contacts is not None and contacts.shape != (T, 2):
        raise MotionClipError(f"'{path}': contacts have {contacts.shape[0]} frames, joints {T}")
    if not (np.isfinite(fps) and fps > 0):
        raise MotionClipError(f"'{path}': fps must be positive, got {fps}")
    if not np.all(np.isfinite(root_quat)) or np.any(np.linalg.norm(root_quat, axis=1) < 1e-6):
        raise MotionClipError(f"'{path}': root_quat contains NaN/inf or zero quaternions")
    try:
        q = to_contract_order(joints, names, dof, source=str(path))
    except ValueError as e:
        raise MotionClipError(str(e)) from None
    return make_clip(
        fps,
        root_pos,
        _xyzw_to_wxyz(root_quat),
        q,
        dof,
        contacts,
        terrain,
        {"source": str(path), "format": "videomimic_h5", "source_joints": len(names)},
    )
