"""Unitree's LAFAN1-retargeted G1 CSV layout: import into a motion clip, and export for round trips.

Layout (Unitree's ``LAFAN1_Retargeting_Dataset``, G1): one frame per row, no header, 30 fps,
``x, y, z`` root position (m), ``qx, qy, qz, qw`` root orientation (**scalar last**), then the 29 joint
angles (rad) in the 29-DoF motor order (this contract's ``G1_29_JOINTS`` order). The file has no fps field:
the caller states it (default 30).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from hsi_kernel.atomic import atomic_path
from hsi_kernel.contract import convert_joint_vector, get_contract

from .clip import MotionClip, make_clip

UNITREE_CSV_FPS = 30.0


def import_unitree_csv(
    path: str | Path, dof: int = 29, fps: float = UNITREE_CSV_FPS, terrain: str = ""
) -> MotionClip:
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"Unitree G1 CSV '{path}' does not exist")
    try:
        with warnings.catch_warnings():  # an empty file is reported below as "zero frames"
            warnings.simplefilter("ignore", UserWarning)
            data = np.loadtxt(path, delimiter=",", ndmin=2)
    except ValueError as e:
        raise ValueError(f"'{path}' is not a numeric CSV ({e})") from None
    if data.shape[0] == 0:
        raise ValueError(f"'{path}': zero frames")
    if data.shape[1] != 7 + 29:
        raise ValueError(f"'{path}': {data.shape[1]} columns, expected 36 (root xyz, quat xyzw, 29 joints)")
    root_pos, quat_xyzw, q29 = data[:, :3], data[:, 3:7], data[:, 7:]
    root_quat = quat_xyzw[:, [3, 0, 1, 2]]
    q = convert_joint_vector(q29, 29, dof)
    return make_clip(
        fps,
        root_pos,
        root_quat,
        q,
        dof,
        terrain=terrain,
        provenance={"source": str(path), "format": "unitree_g1_csv"},
    )


def export_unitree_csv(clip: MotionClip, path: str | Path) -> Path:
    """Write ``clip`` in the Unitree layout (23-DoF clips get zeros for the 6 joints they lack)."""
    clip.validate()
    q29 = convert_joint_vector(clip.joint_pos, clip.dof, 29) if clip.dof != 29 else clip.joint_pos
    assert q29.shape[1] == get_contract(29).dof
    rows = np.concatenate([clip.root_pos, clip.root_quat[:, [1, 2, 3, 0]], q29], axis=1)
    path = Path(path)
    with atomic_path(path, ".csv") as tmp:
        np.savetxt(tmp, rows, delimiter=",", fmt="%.9g")
    return path
