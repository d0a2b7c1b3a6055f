"""Joint name tables and the calibrated BlazePose -> skeleton mapping.

Two skeletons enter the pipeline: BlazePose-33 (MediaPipe, the CPU default) and SMPL-24 (importers and the
synthetic benchmark). The fitting code is skeleton-agnostic; it only needs to know which joints are the hips
(the root is their midpoint) and which joints touch the ground (feet), so this module is the one place where
those facts live.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

BLAZEPOSE_33 = (
    "nose",
    "left_eye_inner",
    "left_eye",
    "left_eye_outer",
    "right_eye_inner",
    "right_eye",
    "right_eye_outer",
    "left_ear",
    "right_ear",
    "mouth_left",
    "mouth_right",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_wrist",
    "right_wrist",
    "left_pinky",
    "right_pinky",
    "left_index",
    "right_index",
    "left_thumb",
    "right_thumb",
    "left_hip",
    "right_hip",
    "left_knee",
    "right_knee",
    "left_ankle",
    "right_ankle",
    "left_heel",
    "right_heel",
    "left_foot_index",
    "right_foot_index",
)
SMPL_24 = (
    "pelvis",
    "left_hip",
    "right_hip",
    "spine1",
    "left_knee",
    "right_knee",
    "spine2",
    "left_ankle",
    "right_ankle",
    "spine3",
    "left_foot",
    "right_foot",
    "neck",
    "left_collar",
    "right_collar",
    "head",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_wrist",
    "right_wrist",
    "left_hand",
    "right_hand",
)

# BlazePose's "hip" landmarks sit on the outside of the pelvis (near the greater trochanters), wider and a
# little higher than the anatomical hip joint centres SMPL and the retargeting use. The mapping below is the
# classic regression of the hip joint centre from pelvis landmarks (Bell et al. 1990: medial 14%, distal 30%
# of the inter-landmark width), re-fitted to BlazePose's wider points: the joint centre lies 0.36 of the way
# from each BlazePose hip point to the hip midpoint (so the joint spacing is 0.64 x BlazePose hip width, the
# SMPL mean-shape ratio 0.17 m / 0.27 m) and 0.30 x hip width below along the trunk axis. The constants are
# data, here, in one place; `hip_joints_from_blazepose` applies them.
HIP_MEDIAL_FRACTION = 0.36
HIP_DISTAL_FRACTION = 0.30
# Height of the sole below each foot keypoint when the foot is flat on the ground (metres).
SOLE_OFFSET = {
    "left_heel": 0.02,
    "right_heel": 0.02,
    "left_foot_index": 0.02,
    "right_foot_index": 0.02,
    "left_ankle": 0.07,
    "right_ankle": 0.07,
    "left_foot": 0.03,
    "right_foot": 0.03,
}
# How far the seat surface lies below the hip points of a seated person (metres): BlazePose's hip points
# are on the trochanters, SMPL hip joints are deeper inside the pelvis.
SEAT_OFFSET = {"blazepose33": 0.10, "smpl24": 0.12}


@dataclass(frozen=True)
class Skeleton:
    """What the fitter needs to know about a joint set."""

    name: str
    joint_names: tuple[str, ...]
    left_hip: int
    right_hip: int
    left_foot: tuple[int, ...]  # joints whose lowest one touches the ground
    right_foot: tuple[int, ...]
    left_knee: int
    right_knee: int
    neck_pair: tuple[int, int]  # two joints whose midpoint is the base of the neck

    def index(self, name: str) -> int:
        return self.joint_names.index(name)

    def sole_offsets(self) -> np.ndarray:
        """(J,) sole height below each joint (0 for joints that are not feet)."""
        return np.array([SOLE_OFFSET.get(n, 0.0) for n in self.joint_names])

    @property
    def seat_offset(self) -> float:
        return SEAT_OFFSET.get(self.name, 0.10)


def _make(
    name: str, names: tuple[str, ...], feet: tuple[tuple[str, ...], tuple[str, ...]], neck: tuple[str, str]
) -> Skeleton:
    ix = names.index
    return Skeleton(
        name,
        names,
        ix("left_hip"),
        ix("right_hip"),
        tuple(ix(n) for n in feet[0]),
        tuple(ix(n) for n in feet[1]),
        ix("left_knee"),
        ix("right_knee"),
        (ix(neck[0]), ix(neck[1])),
    )


BLAZEPOSE = _make(
    "blazepose33",
    BLAZEPOSE_33,
    (("left_ankle", "left_heel", "left_foot_index"), ("right_ankle", "right_heel", "right_foot_index")),
    ("left_shoulder", "right_shoulder"),
)
SMPL = _make(
    "smpl24",
    SMPL_24,
    (("left_ankle", "left_foot"), ("right_ankle", "right_foot")),
    ("left_shoulder", "right_shoulder"),
)
SKELETONS = {s.name: s for s in (BLAZEPOSE, SMPL)}


# Joints carried along rigidly instead of being optimised: they add unknowns (the solve grows with the cube
# of the joint count) without telling the fit anything the nose and wrists do not. name -> carrier joint.
CARRIED = {
    "blazepose33": {
        "left_eye_inner": "nose",
        "left_eye": "nose",
        "left_eye_outer": "nose",
        "right_eye_inner": "nose",
        "right_eye": "nose",
        "right_eye_outer": "nose",
        "mouth_left": "nose",
        "mouth_right": "nose",
        "left_pinky": "left_wrist",
        "left_index": "left_wrist",
        "left_thumb": "left_wrist",
        "right_pinky": "right_wrist",
        "right_index": "right_wrist",
        "right_thumb": "right_wrist",
    },
    "smpl24": {
        "spine1": "pelvis",
        "spine2": "pelvis",
        "spine3": "neck",
        "left_collar": "neck",
        "right_collar": "neck",
        "left_hand": "left_wrist",
        "right_hand": "right_wrist",
    },
}


def fit_subset(sk: Skeleton) -> tuple[Skeleton, np.ndarray, dict[int, int]]:
    """(reduced skeleton, indices of its joints in `sk`, {carried joint: carrier joint} in `sk` indices)."""
    carried = CARRIED.get(sk.name, {})
    keep = np.array([i for i, n in enumerate(sk.joint_names) if n not in carried])
    names = tuple(sk.joint_names[i] for i in keep)
    pos = {int(old): new for new, old in enumerate(keep)}
    red = Skeleton(
        sk.name + "_fit",
        names,
        pos[sk.left_hip],
        pos[sk.right_hip],
        tuple(pos[i] for i in sk.left_foot),
        tuple(pos[i] for i in sk.right_foot),
        pos[sk.left_knee],
        pos[sk.right_knee],
        (pos[sk.neck_pair[0]], pos[sk.neck_pair[1]]),
    )
    return red, keep, {sk.index(a): sk.index(b) for a, b in carried.items()}


def skeleton_for(joint_names: tuple[str, ...] | list[str]) -> Skeleton:
    """The known skeleton with exactly these joint names (ValueError otherwise)."""
    names = tuple(str(n) for n in joint_names)
    for s in SKELETONS.values():
        if s.joint_names == names:
            return s
    raise ValueError(f"unknown joint set of {len(names)} names: expected BlazePose-33 or SMPL-24 order")


def hip_joints_from_blazepose(joints: np.ndarray) -> dict[str, np.ndarray]:
    """Calibrated hip centre and left/right hip joint centres from BlazePose-33 joints (..., 33, 3).

    The trunk axis is hip midpoint -> shoulder midpoint, so the mapping holds in any frame (camera or world).
    """
    j = np.asarray(joints, dtype=np.float64)
    lh, rh = j[..., BLAZEPOSE.left_hip, :], j[..., BLAZEPOSE.right_hip, :]
    ls, rs = j[..., BLAZEPOSE.neck_pair[0], :], j[..., BLAZEPOSE.neck_pair[1], :]
    mid = 0.5 * (lh + rh)
    up = 0.5 * (ls + rs) - mid
    up = up / np.maximum(np.linalg.norm(up, axis=-1, keepdims=True), 1e-9)
    width = np.linalg.norm(lh - rh, axis=-1, keepdims=True)
    down = -HIP_DISTAL_FRACTION * width * up
    left = lh + HIP_MEDIAL_FRACTION * (mid - lh) + down
    right = rh + HIP_MEDIAL_FRACTION * (mid - rh) + down
    return {"hip_centre": 0.5 * (left + right), "left_hip": left, "right_hip": right}
