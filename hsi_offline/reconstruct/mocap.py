"""Minimal BVH reader -> SMPL-24-named joint positions (z up, metres), for the synthetic benchmark.

Only forward kinematics of the file's hierarchy; joints SMPL has and the file lacks (spine2, spine3, neck...)
are interpolated along the spine. Units are detected from the hip height (cm, inches or metres).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from hsi_offline.reconstruct.skeleton import SMPL_24

_CANDIDATES = {
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


def read_bvh(path: str | Path) -> tuple[list[str], np.ndarray, float]:
    """(names, positions (T, N, 3) in file units with y up, fps). End Sites are named '<parent>_End'."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"mocap file '{path}' does not exist")
    tokens = path.read_text(errors="replace").split()
    if not tokens or tokens[0] != "HIERARCHY":
        raise ValueError(f"'{path}' is not a BVH file (no HIERARCHY header)")
    names, parents, offsets, channels = [], [], [], []
    stack: list[int] = []
    i = 1
    while tokens[i] != "MOTION":
        tok = tokens[i]
        if tok in ("ROOT", "JOINT", "End"):
            name = tokens[i + 1] if tok != "End" else f"{names[stack[-1]]}_End"
            names.append(name if name not in names else f"{name}_{len(names)}")
            parents.append(stack[-1] if stack else -1)
            offsets.append(np.zeros(3))
            channels.append([])
            i += 2
        elif tok == "{":
            stack.append(len(names) - 1)
            i += 1
        elif tok == "}":
            stack.pop()
            i += 1
        elif tok == "OFFSET":
            offsets[stack[-1]] = np.array([float(t) for t in tokens[i + 1 : i + 4]])
            i += 4
        elif tok == "CHANNELS":
            n = int(tokens[i + 1])
            channels[stack[-1]] = tokens[i + 2 : i + 2 + n]
            i += 2 + n
        else:
            raise ValueError(f"'{path}': unexpected token '{tok}' in the BVH hierarchy")
    nframes = int(tokens[i + 2])
    ft = float(tokens[i + 5])
    nch = sum(len(c) for c in channels)
    data = np.array(tokens[i + 6 : i + 6 + nframes * nch], dtype=np.float64)
    if data.size != nframes * nch or nframes < 2:
        raise ValueError(f"'{path}': motion data has {data.size} numbers, expected {nframes} x {nch}")
    data = data.reshape(nframes, nch)
    T, N = nframes, len(names)
    pos = np.zeros((T, N, 3))
    rot = [None] * N
    col = 0
    for j in range(N):
        ch = channels[j]
        vals = data[:, col : col + len(ch)]
        col += len(ch)
        local_t = np.tile(offsets[j], (T, 1))
        rch = [(c[0].upper(), k) for k, c in enumerate(ch) if c.endswith("rotation")]
        for k, c in enumerate(ch):
            if c.endswith("position"):
                local_t[:, "XYZ".index(c[0].upper())] = vals[:, k]
        R = (
            Rotation.from_euler("".join(a for a, _ in rch), vals[:, [k for _, k in rch]], degrees=True)
            if rch
            else Rotation.identity(T)
        )
        p = parents[j]
        if p < 0:
            pos[:, j], rot[j] = local_t, R
        else:
            pos[:, j] = pos[:, p] + rot[p].apply(local_t)
            rot[j] = rot[p] * R
    return names, pos, 1.0 / ft


def bvh_to_smpl_joints(path: str | Path) -> tuple[np.ndarray, float]:
    """SMPL-24 joint positions (T, 24, 3), z up, metres, and the frame rate."""
    names, pos, fps = read_bvh(path)
    found: dict[str, np.ndarray] = {}
    for smpl, cands in _CANDIDATES.items():
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
    for k in (
        "left_foot",
        "right_foot",
        "head",
        "left_collar",
        "right_collar",
        "left_shoulder",
        "right_shoulder",
        "left_elbow",
        "right_elbow",
        "left_wrist",
        "right_wrist",
        "left_hand",
        "right_hand",
    ):
        if k not in found:
            raise ValueError(f"'{path}': cannot find a BVH joint for SMPL '{k}'")
    J = np.stack([found[n] for n in SMPL_24], axis=1)
    J = np.stack([J[..., 0], -J[..., 2], J[..., 1]], axis=-1)  # y up -> z up
    leg = (
        np.linalg.norm(J[:, 1] - J[:, 4], axis=-1).mean() + np.linalg.norm(J[:, 4] - J[:, 7], axis=-1).mean()
    )
    scale = min((1.0, 0.01, 0.0254), key=lambda s: abs(np.log(leg * s / 0.85)))
    J = J * scale
    J[..., 2] -= np.percentile(J[:, [10, 11], 2], 2) - 0.03  # toes about 3 cm above the floor at their lowest
    return J, fps
