"""BVH motion capture -> HumanMotion (15 keypoints, world z-up metres).

Handles the common layouts: LAFAN1 (Hips, LeftUpLeg, LeftLeg, LeftFoot, LeftToe, LeftArm, LeftForeArm,
LeftHand), the 23-joint style with ``LeftToeBase`` and ``LeftHand_End`` (e.g. PyMO's walk), and Mixamo-style
``mixamorig:`` prefixes. Rotations are applied in the order the CHANNELS line lists them (intrinsic), which
is what the BVH format means. Units: centimetres are detected from the skeleton's size (a standing person
taller than 3 units is not in metres). Up axis: y (the BVH convention) unless told otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from hsi_robot_nodes.terrain import Terrain

from .human import HumanMotion, estimate_contacts, to_keypoints

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


@dataclass
class _Joint:
    name: str
    parent: int
    offset: np.ndarray
    channels: list[str] = field(default_factory=list)


def parse_bvh(text: str, source: str = "bvh") -> tuple[list[_Joint], np.ndarray, float]:
    """Joints (parent-first), motion (F, channels) and frame time."""
    tokens = text.split()
    joints: list[_Joint] = []
    stack: list[int] = []
    i = 0
    try:
        if tokens[0].upper() != "HIERARCHY":
            raise ValueError(f"{source}: not a BVH file (no HIERARCHY)")
        i = 1
        pending_end = False
        while tokens[i].upper() != "MOTION":
            tok = tokens[i]
            if tok in ("ROOT", "JOINT"):
                joints.append(_Joint(tokens[i + 1], stack[-1] if stack else -1, np.zeros(3)))
                i += 2
            elif tok == "End":
                pending_end = True
                i += 2
            elif tok == "{":
                stack.append(-2 if pending_end else len(joints) - 1)
                i += 1
            elif tok == "}":
                popped = stack.pop()
                pending_end = False if popped == -2 else pending_end
                i += 1
            elif tok == "OFFSET":
                if stack and stack[-1] != -2:
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
    if not (frame_time > 0):
        raise ValueError(f"{source}: BVH frame time must be positive, got {frame_time}")
    return joints, data.reshape(frames, n_ch), frame_time


def bvh_positions(joints: list[_Joint], motion: np.ndarray) -> np.ndarray:
    """(F, J, 3) global joint positions in the file's units and axes."""
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
                local_t[:, "xyz".index(c[0])] = motion[:, col] + (0 if joint.parent >= 0 else 0)
            else:
                axes += c[0].upper()
                angles.append(motion[:, col])
            col += 1
        if joint.parent < 0 and any(c.lower().endswith("position") for c in joint.channels):
            pass  # the root's position channels are its translation (the OFFSET is ignored, as is usual)
        local_r = (
            Rotation.from_euler(axes, np.stack(angles, 1), degrees=True) if axes else Rotation.identity(F)
        )
        if joint.parent < 0:
            pos[:, j], rot[j] = local_t, local_r
        else:
            pos[:, j] = pos[:, joint.parent] + rot[joint.parent].apply(local_t)
            rot[j] = rot[joint.parent] * local_r
    return pos


UNITS = {"m": 1.0, "cm": 0.01, "inch": 0.0254, "mm": 0.001}
LEG_LENGTH = 0.85  # m, hip-knee-ankle of an adult: what the unit guess aims for


def guess_unit(kp: np.ndarray) -> float:
    """Metres per file unit: the candidate (m, cm, inch, mm) giving the most adult-like leg length.

    BVH has no unit field; files in metres, centimetres and inches all circulate (PyMO's walk is in inches).
    """
    leg = np.linalg.norm(kp[:, 2] - kp[:, 1], axis=-1) + np.linalg.norm(kp[:, 3] - kp[:, 2], axis=-1)
    leg = float(np.median(leg))
    return min(UNITS.values(), key=lambda u: abs(np.log(max(leg * u, 1e-9) / LEG_LENGTH)))


def load_bvh(
    path: str | Path, up: str = "y", scale: float | None = None, terrain: Terrain | None = None
) -> HumanMotion:
    """Read a BVH file into a HumanMotion (z-up metres, standing on z = 0 unless a terrain is given)."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"BVH file '{path}' does not exist")
    if up not in ("y", "z"):
        raise ValueError(f"up axis must be 'y' or 'z', got '{up}'")
    joints, motion, frame_time = parse_bvh(path.read_text(errors="replace"), str(path))
    pos = bvh_positions(joints, motion)
    if up == "y":  # y-up -> z-up, keeping a right-handed frame: (x, y, z) -> (z, x, y)
        pos = pos[..., [2, 0, 1]]
    names = []
    for j in joints:
        key = j.name.split(":")[-1].lower().replace("_", "")
        names.append(BVH_NAMES.get(key, "_" + j.name))
    kp, conf = to_keypoints(pos, names, source=str(path))
    if scale is None:
        scale = guess_unit(kp)
    kp = kp * scale
    if terrain is None:  # put the lowest foot point of the clip on the ground
        feet = kp[:, [3, 4, 7, 8], 2]
        kp[..., 2] -= np.percentile(feet.min(axis=1), 2) - 0.02
    contacts = estimate_contacts(kp, 1.0 / frame_time, terrain)
    return HumanMotion(1.0 / frame_time, kp, conf, contacts, terrain, str(path)).validate()
