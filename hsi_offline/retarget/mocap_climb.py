"""holosoma's mocap box-climbing sequences -> keypoint motion with a terrain built from the box meshes.

The ``holosoma-retargeting`` wheel ships five real sequences of a person climbing onto boxes
(``demo_data/climb/mocap_climb_seq_N/``): one ``*_joint_positions_*.npy`` of shape (T, 53, 3), world
positions in metres with +z up, recorded at 120 Hz (holosoma keeps every 4th frame as 30 fps), joints in the
order of ``MOCAP_53`` (Mixamo-style names), plus one OBJ per box in ``box_models/`` in the same frame and
units as the joints (holosoma's own files scale the boxes by robot/human height for the robot; the human data
needs them unscaled). This is real human motion over real obstacles: what synthetic clips cannot stand in for.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .bvh import BVH_NAMES
from .human import HumanKeypointMotion, estimate_contacts, to_keypoints
from .mesh_terrain import read_obj, terrain_from_meshes

MOCAP_FPS = 120.0
ROBOT_SCALE = 1.32 / 1.78
"""holosoma's scene scale for the G1: robot height / the mocap subject's default height (its box meshes for
the robot are scaled by exactly this); ``load_mocap_climb(scale=ROBOT_SCALE)`` does the same."""
_FINGERS = tuple(f"{d}{k}" for d in ("Thumb", "Index", "Middle", "Ring", "Pinky") for k in (1, 2, 3))
MOCAP_53 = (
    ("Hips", "Spine", "Spine1", "Neck", "Head")
    + ("LeftShoulder", "LeftArm", "LeftForeArm", "LeftHand")
    + tuple(f"LeftHand{f}" for f in _FINGERS)
    + ("RightShoulder", "RightArm", "RightForeArm", "RightHand")
    + tuple(f"RightHand{f}" for f in _FINGERS)
    + ("LeftUpLeg", "LeftLeg", "LeftFoot", "LeftToeBase")
    + ("RightUpLeg", "RightLeg", "RightFoot", "RightToeBase")
    + ("LeftFootMod", "RightFootMod")
)
"""Joint order of the sequences' (T, 53, 3) arrays (holosoma's MOCAP_DEMO_JOINTS)."""


def find_sequence(folder: Path) -> Path:
    """The joint-positions npy of a sequence folder (exactly one)."""
    found = sorted(folder.glob("*joint_positions*.npy"))
    if len(found) != 1:
        raise ValueError(f"climb sequence '{folder}': expected one *joint_positions*.npy, found {len(found)}")
    return found[0]


def is_climb_folder(folder: Path) -> bool:
    return folder.is_dir() and (folder / "box_models").is_dir() and any(folder.glob("*joint_positions*.npy"))


def load_mocap_climb(
    folder: str | Path,
    fps: float = MOCAP_FPS,
    res: float = 0.02,
    with_terrain: bool = True,
    scale: float = 1.0,
) -> HumanKeypointMotion:
    """Read one sequence folder: 15 keypoints at the file's rate, contacts, and the boxes as a heightfield.

    ``scale`` scales the person and the boxes together about the origin: 1 (default) is the real scene;
    ``ROBOT_SCALE`` is holosoma's convention for robot pre-training data (the scene at the robot's size).
    Measured on sequence 2 (753 frames): the scaled scene retargets worse here (keypoint error 3.5 vs
    2.9 cm, penetration max 6.3 vs 2.7 cm), so it is an option, not the default."""
    if not (np.isfinite(scale) and 0.2 <= scale <= 5.0):
        raise ValueError(f"climb sequence scale must be within 0.2..5, got {scale}")
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"climb sequence '{folder}' is not a folder")
    path = find_sequence(folder)
    try:
        joints = np.load(path, allow_pickle=False)
    except Exception as e:
        raise ValueError(f"climb sequence '{path}': not a readable npy ({e})") from None
    if joints.ndim != 3 or joints.shape[1:] != (len(MOCAP_53), 3):
        raise ValueError(
            f"climb sequence '{path}': expected (T, {len(MOCAP_53)}, 3) joints, got {joints.shape}"
        )
    if joints.shape[0] < 2:
        raise ValueError(f"climb sequence '{path}': {joints.shape[0]} frame(s), at least 2 are needed")
    names = [BVH_NAMES.get(n.lower(), "_" + n) for n in MOCAP_53]
    kp, conf = to_keypoints(joints, names, source=str(path))
    kp = kp * scale
    terrain = None
    if with_terrain:
        meshes = [
            (v * scale, f) for v, f in (read_obj(p) for p in sorted((folder / "box_models").glob("*.obj")))
        ]
        if not meshes:
            raise ValueError(f"climb sequence '{folder}': box_models/ has no OBJ meshes")
        terrain = terrain_from_meshes(meshes, kp.reshape(-1, 3)[:, :2], res=res, name=folder.name)
    contacts = estimate_contacts(kp, fps, terrain)
    source = f"holosoma_climb:{folder.name}" + (f"@x{scale:.3f}" if scale != 1.0 else "")
    return HumanKeypointMotion(fps, kp, conf, contacts, terrain, source).validate()


def busiest_window(human: HumanKeypointMotion, frames: int) -> int:
    """First frame of the ``frames``-long window where the terrain under the feet changes most (the climb)."""
    T = human.num_frames
    if frames >= T or human.terrain is None:
        return 0
    ground = human.terrain.height_at(human.keypoints[:, [3, 7], :2]).max(axis=1)
    score = [np.ptp(ground[s : s + frames]) + np.std(ground[s : s + frames]) for s in range(T - frames + 1)]
    return int(np.argmax(score))
