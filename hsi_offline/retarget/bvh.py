"""BVH motion capture: the one reader (hierarchy, forward kinematics, unit guess) and its two conversions.

- ``load_bvh``: -> HumanKeypointMotion (15 retargeting keypoints, world z-up metres), the retargeting input;
- ``bvh_to_smpl_joints``: -> SMPL-24 joint positions (z up, metres), the reconstruction benchmark's motion.

Handles the common layouts: LAFAN1 (Hips, LeftUpLeg, LeftLeg, LeftFoot, LeftToe, LeftArm, LeftForeArm,
LeftHand), the 23-joint style with ``LeftToeBase`` and ``LeftHand_End`` (e.g. PyMO's walk), and Mixamo-style
``mixamorig:`` prefixes. Rotations are applied in the order the CHANNELS line lists them (intrinsic), which
is what the BVH format means. End Sites are kept as joints named ``<parent>_End``. Units: BVH has no unit
field, so metres, centimetres, inches or millimetres are guessed from the leg length. Up axis: y (the BVH
convention) unless told otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from hsi_kernel.terrain import Terrain
from hsi_offline.reconstruct.body_skeleton import SMPL_24

from .human import HumanKeypointMotion, estimate_contacts, to_keypoints

# BVH joint name (namespace stripped, lower case, no underscores) -> retargeting keypoint.
BVH_NAMES = {
    "hips": "pelvis",
    "leftupleg": "left_hip",
    "leftleg": "left_knee",
    "leftfoot": "left_ankle",
    "lefttoe": "left_toe",
    "lefttoebase": "left_toe",
    "rightupleg": "right_hip",
    "rightleg": "right_knee",
    "rightfoot": "right_ankle",
    "righttoe": "right_toe",
    "righttoebase": "right_toe",
    "leftarm": "left_shoulder",
    "leftforearm": "left_elbow",
    "lefthand": "left_wrist",
    "rightarm": "right_shoulder",
    "rightforearm": "right_elbow",
    "righthand": "right_wrist",
}

# SMPL-24 joint -> BVH joint names to try, first found wins (names with the namespace stripped).
SMPL_CANDIDATES = {
    "pelvis": ("Hips", "hip", "pelvis", "Pelvis"),
    "left_hip": ("LeftUpLeg", "LeftHip", "lThigh"),
    "right_hip": ("RightUpLeg", "RightHip", "rThigh"),
    "left_knee": ("LeftLeg", "LeftKnee", "lShin"),
    "right_knee": ("RightLeg", "RightKnee", "rShin"),
    "left_ankle": ("LeftFoot", "LeftAnkle", "lFoot"),
    "right_ankle": ("RightFoot", "RightAnkle", "rFoot"),
    "left_foot": ("LeftToeBase", "LeftToe", "LeftFoot_End"),
    "right_foot": ("RightToeBase", "RightToe", "RightFoot_End"),
    "spine1": ("Spine", "Spine1", "abdomen"),
    "neck": ("Neck", "Neck1", "Head"),
    "head": ("Head_End", "HeadEnd", "Head"),
    "left_collar": ("LeftShoulder", "LeftCollar", "lCollar"),
    "right_collar": ("RightShoulder", "RightCollar"),
    "left_shoulder": ("LeftArm", "lShldr"),
    "right_shoulder": ("RightArm", "rShldr"),
    "left_elbow": ("LeftForeArm", "lForeArm"),
    "right_elbow": ("RightForeArm", "rForeArm"),
    "left_wrist": ("LeftHand", "lHand"),
    "right_wrist": ("RightHand", "rHand"),
    "left_hand": ("LeftHand_End", "LeftHandThumb1", "LeftHand"),
    "right_hand": ("RightHand_End", "RightHandThumb1"),
}

UNITS = {"m": 1.0, "cm": 0.01, "inch": 0.0254, "mm": 0.001}
LEG_LENGTH = 0.85  # m, hip-knee-ankle of an adult: what the unit guess aims for


@dataclass
class _Joint:
    name: str
    parent: int
    offset: np.ndarray
    channels: list[str] = field(default_factory=list)


def parse_bvh(text: str, source: str = "bvh") -> tuple[list[_Joint], np.ndarray, float]:
    """Joints (parent-first, End Sites included as ``<parent>_End``), motion (F, channels) and frame time."""
    tokens = text.split()
    joints: list[_Joint] = []
    stack: list[int] = []
    i = 0
    try:
        if not tokens or tokens[0].upper() != "HIERARCHY":
            raise ValueError(f"{source}: not a BVH file (no HIERARCHY header)")
        i = 1
        while tokens[i].upper() != "MOTION":
            tok = tokens[i]
            if tok in ("ROOT", "JOINT", "End"):
                name = tokens[i + 1] if tok != "End" else f"{joints[stack[-1]].name}_End"
                if any(j.name == name for j in joints):
                    name = f"{name}_{len(joints)}"
                joints.append(_Joint(name, stack[-1] if stack else -1, np.zeros(3)))
                i += 2
            elif tok == "{":
                stack.append(len(joints) - 1)
                i += 1
            elif tok == "}":
                stack.pop()
                i += 1
            elif tok == "OFFSET":
                joints[stack[-1]].offset = np.array(tokens[i + 1 : i + 4], dtype=float)
                i += 4
            elif tok == "CHANNELS":
                n = int(tokens[i + 1])
                joints[stack[-1]].channels = tokens[i + 2 : i + 2 + n]
                i += 2 + n
            else:
                raise ValueError(f"{source}: unexpected token '{tok}' in HIERARCHY")
        frames = int(tokens[i + 2])
        frame_time = float(tokens[i + 5])
        data = np.array(tokens[i + 6 :], dtype=float)
    except (IndexError, ValueError) as e:
        if isinstance(e, ValueError) and str(e).startswith(source):
            raise
        raise ValueError(f"{source}: malformed BVH ({e})") from None
    n_ch = sum(len(j.channels) for j in joints)
    if frames < 1 or n_ch == 0 or data.size != frames * n_ch:
        raise ValueError(
            f"{source}: BVH motion has {data.size} numbers, expected {frames} frames x {n_ch} channels"
        )
    if not (0 < frame_time < np.inf):
        raise ValueError(f"{source}: BVH frame time must be positive, got {frame_time}")
    motion = data.reshape(frames, n_ch)
    bad = np.argwhere(~np.isfinite(motion))
    if bad.size:  # else it surfaces far away as "zero norm quaternions", without the file's name
        f, c = (int(v) for v in bad[0])
        raise ValueError(
            f"{source}: BVH motion value {motion[f, c]} (frame {f + 1}, channel {c + 1}) is not a finite "
            f"number ({len(bad)} such values)"
        )
    if not all(np.all(np.isfinite(j.offset)) for j in joints):
        raise ValueError(f"{source}: a BVH joint OFFSET is not a finite number")
    return joints, motion, frame_time


def bvh_positions(joints: list[_Joint], motion: np.ndarray) -> np.ndarray:
    """(F, J, 3) global joint positions in the file's units and axes.

    A joint's position channels replace the matching OFFSET components (for the root: its translation).
    """
    F = motion.shape[0]
    pos = np.zeros((F, len(joints), 3))
    rot = [None] * len(joints)
    col = 0
    for j, joint in enumerate(joints):
        local_t = np.tile(joint.offset, (F, 1))
        axes, angles = "", []
        for ch in joint.channels:
            c = ch.lower()
            if c.endswith("position"):
                local_t[:, "xyz".index(c[0])] = motion[:, col]
            elif c.endswith("rotation"):
                axes += c[0].upper()
                angles.append(motion[:, col])
            col += 1
        local_r = (
            Rotation.from_euler(axes, np.stack(angles, 1), degrees=True) if axes else Rotation.identity(F)
        )
        if joint.parent < 0:
            pos[:, j], rot[j] = local_t, local_r
        else:
            pos[:, j] = pos[:, joint.parent] + rot[joint.parent].apply(local_t)
            rot[j] = rot[joint.parent] * local_r
    return pos


def read_bvh(path: str | Path) -> tuple[list[str], np.ndarray, float]:
    """(joint names without namespace, positions (F, J, 3) in file units and axes, fps) of a BVH file."""
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"BVH file '{path}' is a folder, not a BVH file")
    if not path.is_file():
        raise ValueError(f"BVH file '{path}' does not exist")
    joints, motion, frame_time = parse_bvh(path.read_text(errors="replace"), str(path))
    names = [j.name.split(":")[-1] for j in joints]
    return names, bvh_positions(joints, motion), 1.0 / frame_time


def guess_unit(hip: np.ndarray, knee: np.ndarray, ankle: np.ndarray) -> float:
    """Metres per file unit: the candidate (m, cm, inch, mm) giving the most adult-like leg length.

    BVH has no unit field; files in metres, centimetres and inches all circulate (PyMO's walk is in inches).
    """
    leg = np.linalg.norm(knee - hip, axis=-1) + np.linalg.norm(ankle - knee, axis=-1)
    leg = float(np.median(leg))
    return min(UNITS.values(), key=lambda u: abs(np.log(max(leg * u, 1e-9) / LEG_LENGTH)))


def load_bvh(
    path: str | Path, up: str = "y", scale: float | None = None, terrain: Terrain | None = None
) -> HumanKeypointMotion:
    """Read a BVH file into keypoint motion (z-up metres, standing on z = 0 unless a terrain is given)."""
    if up not in ("y", "z"):
        raise ValueError(f"up axis must be 'y' or 'z', got '{up}'")
    names, pos, fps = read_bvh(path)
    if up == "y":  # y-up -> z-up, keeping a right-handed frame: (x, y, z) -> (z, x, y)
        pos = pos[..., [2, 0, 1]]
    names = [BVH_NAMES.get(n.lower().replace("_", ""), "_" + n) for n in names]
    kp, conf = to_keypoints(pos, names, source=str(path))
    if scale is None:
        scale = guess_unit(kp[:, 1], kp[:, 2], kp[:, 3])
    kp = kp * scale
    if terrain is None:  # put the lowest foot point of the clip on the ground
        feet = kp[:, [3, 4, 7, 8], 2]
        kp[..., 2] -= np.percentile(feet.min(axis=1), 2) - 0.02
    contacts = estimate_contacts(kp, fps, terrain)
    return HumanKeypointMotion(fps, kp, conf, contacts, terrain, str(path)).validate()


def bvh_to_smpl_joints(path: str | Path) -> tuple[np.ndarray, float]:
    """SMPL-24 joint positions (T, 24, 3), z up, metres, and the frame rate (the reconstruction benchmark).

    Joints SMPL has and the file lacks (spine2, spine3, and spine1/neck if missing) are interpolated along
    the spine; the toes are put about 3 cm above z = 0 at their lowest.
    """
    names, pos, fps = read_bvh(path)
    if pos.shape[0] < 2:
        raise ValueError(f"'{path}': the BVH motion has {pos.shape[0]} frame(s), at least 2 are needed")
    found: dict[str, np.ndarray] = {}
    for smpl, cands in SMPL_CANDIDATES.items():
        for c in cands:
            if c in names:
                found[smpl] = pos[:, names.index(c)]
                break
    need = {"pelvis", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle"}
    if need - set(found):
        raise ValueError(f"'{path}': cannot find BVH joints for {sorted(need - set(found))}")
    pel = found["pelvis"]
    neck = found.get("neck", pel + np.array([0, 50.0, 0]))
    found.setdefault("spine1", pel + 0.25 * (neck - pel))
    found["spine2"] = pel + 0.5 * (neck - pel)
    found["spine3"] = pel + 0.75 * (neck - pel)
    for k in SMPL_24:
        if k not in found:
            raise ValueError(f"'{path}': cannot find a BVH joint for SMPL '{k}'")
    J = np.stack([found[n] for n in SMPL_24], axis=1)
    J = np.stack([J[..., 0], -J[..., 2], J[..., 1]], axis=-1)  # y up -> z up
    J = J * guess_unit(J[:, 1], J[:, 4], J[:, 7])
    J[..., 2] -= np.percentile(J[:, [10, 11], 2], 2) - 0.03  # toes about 3 cm above the floor at their lowest
    return J, fps
