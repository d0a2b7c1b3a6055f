"""Open any supported input as either human motion (to retarget) or an already-retargeted G1 clip.

Formats (``auto`` decides by name/keys): a clip folder with ``human_motion.npz`` (+ ``terrain.npz``), a
holosoma box-climbing mocap sequence folder (``mocap_climb.py``), a keypoints ``.npz`` (``human.py``),
``.bvh``, an AMASS SMPL ``.npz`` (``poses``/``trans``, with the user's SMPL model), a BeyondMimic/holosoma
G1 ``.npz`` (has ``joint_pos`` and ``body_pos_w``), a Unitree G1 ``.csv``, a VideoMimic retarget ``.h5``.
A G1 motion can also be turned into keypoints (``g1_as_human``) to be re-retargeted, which checks the
pipeline end to end on a motion the robot is known to be able to do.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hsi_offline.motion.beyondmimic import import_beyondmimic
from hsi_offline.motion.clip import MotionClip
from hsi_offline.motion.unitree_csv import import_unitree_csv
from hsi_offline.motion.videomimic_h5 import import_videomimic_h5

from .amass import load_amass
from .bvh import load_bvh
from .human import HumanKeypointMotion, load_keypoints_npz
from .keypoint_skeleton import KEYPOINTS
from .mocap_climb import is_climb_folder, load_mocap_climb

FORMATS = ("auto", "keypoints", "bvh", "holosoma", "unitree_csv", "holosoma_climb", "amass", "videomimic_h5")


def detect_format(path: Path) -> str:
    if path.is_dir():
        if (path / "human_motion.npz").is_file():
            return "keypoints"
        if is_climb_folder(path):
            return "holosoma_climb"
        raise ValueError(f"folder '{path}' has neither human_motion.npz nor a holosoma climb sequence")
    suffix = path.suffix.lower()
    if suffix == ".bvh":
        return "bvh"
    if suffix == ".csv":
        return "unitree_csv"
    if suffix in (".h5", ".hdf5"):
        return "videomimic_h5"
    if suffix == ".npz":
        try:
            with np.load(path, allow_pickle=False) as f:
                keys = set(f.files)
        except Exception:
            raise ValueError(f"'{path}' is not a readable npz") from None
        if {"joint_pos", "body_pos_w"} <= keys or ("joint_pos" in keys and "joints" not in keys):
            return "holosoma"
        if "joints" in keys:
            return "keypoints"
        if {"poses", "trans"} <= keys:
            return "amass"
        raise ValueError(f"'{path}': npz with keys {sorted(keys)[:6]} is neither keypoints nor a G1 motion")
    raise ValueError(f"'{path}': unknown input type (use a clip folder, .npz, .bvh or .csv)")


def open_input(
    path: str | Path, fmt: str = "auto", dof: int = 23, smpl_model: str | Path | None = None
) -> HumanKeypointMotion | MotionClip:
    """Human motion to retarget, or a G1 clip to import (``smpl_model``: the SMPL file AMASS inputs need)."""
    path = Path(path)
    if not path.exists():
        raise ValueError(f"input '{path}' does not exist")
    if fmt not in FORMATS:
        raise ValueError(f"unknown format '{fmt}': choose one of {', '.join(FORMATS)}")
    fmt = detect_format(path) if fmt == "auto" else fmt
    if fmt == "keypoints":
        if path.is_dir():
            _require_complete_reconstruction(path)
        return load_keypoints_npz(path / "human_motion.npz" if path.is_dir() else path)
    if fmt == "bvh":
        return load_bvh(path)
    if fmt == "holosoma":
        return import_beyondmimic(path, dof)
    if fmt == "holosoma_climb":
        return load_mocap_climb(path)
    if fmt == "amass":
        return load_amass(path, smpl_model)
    if fmt == "videomimic_h5":
        return import_videomimic_h5(path, dof)
    return import_unitree_csv(path, dof)


def _require_complete_reconstruction(folder: Path) -> None:
    """Refuse (one line) a ``hsi-offline reconstruct`` folder without its report.json: the report is written
    last, so without it the folder may mix an interrupted run's files with an earlier run's. A reconstruct
    folder is told from a hand-made keypoints folder by the per-frame ``valid`` flags only reconstruct
    writes (its first file) or the camera/mesh files beside it."""
    from hsi_offline.outputs import RECONSTRUCT_MARKER, require_marker

    try:
        with np.load(folder / "human_motion.npz", allow_pickle=False) as f:
            from_reconstruct = "valid" in f.files
    except Exception:
        return  # unreadable: load_keypoints_npz says so in its own line
    if from_reconstruct or (folder / "camera.npz").exists() or (folder / "terrain_mesh.ply").exists():
        require_marker(folder, RECONSTRUCT_MARKER, "reconstruct")


def g1_as_human(clip: MotionClip) -> HumanKeypointMotion:
    """The clip's own 15 keypoints as a 'human' (scale 1): input for a re-retarget."""
    from .human import estimate_contacts
    from .problem import robot_keypoints_np

    kp = robot_keypoints_np(clip.dof, clip.root_pos, clip.root_quat, clip.joint_pos)
    conf = np.ones((clip.num_frames, len(KEYPOINTS)))
    contacts = estimate_contacts(kp, clip.fps, None)
    return HumanKeypointMotion(
        clip.fps, kp, conf, contacts, None, f"g1:{clip.provenance.get('source', '')}"
    ).validate()
