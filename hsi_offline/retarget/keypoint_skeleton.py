"""The retargeting skeleton: 15 keypoints shared by every human input and their places on the G1.

Why one small skeleton: every input (BlazePose-33, SMPL-24, BVH, mocap markers) is reduced to these 15 named
points, so the optimiser, the IK warm start and the quality report all compare the same things. Each keypoint
has a place on the G1 (a link of ``contract.TRACKED_LINKS`` or a foot link, plus an offset in that link's
frame); the 13 non-toe keypoints are exactly the contract's tracked links (VideoMimic's map: pelvis, hips,
knees, ankles, shoulders, elbows, wrists).
"""

from __future__ import annotations

import numpy as np

KEYPOINTS = (
    "pelvis",
    "left_hip",
    "left_knee",
    "left_ankle",
    "left_toe",
    "right_hip",
    "right_knee",
    "right_ankle",
    "right_toe",
    "left_shoulder",
    "left_elbow",
    "left_wrist",
    "right_shoulder",
    "right_elbow",
    "right_wrist",
)
K = {name: i for i, name in enumerate(KEYPOINTS)}

ROBOT_KEYPOINTS: dict[str, tuple[str, tuple[float, float, float]]] = {
    # The human "pelvis" joint sits between the hip joints; the G1 pelvis frame is 13 cm above them.
    "pelvis": ("pelvis", (0.0, 0.0, -0.12)),
    "left_hip": ("left_hip_roll_link", (0.0, 0.0, 0.0)),
    "left_knee": ("left_knee_link", (0.0, 0.0, 0.0)),
    "left_ankle": ("left_ankle_roll_link", (0.0, 0.0, 0.0)),
    "left_toe": ("left_ankle_roll_link", (0.12, 0.0, -0.03)),
    "right_hip": ("right_hip_roll_link", (0.0, 0.0, 0.0)),
    "right_knee": ("right_knee_link", (0.0, 0.0, 0.0)),
    "right_ankle": ("right_ankle_roll_link", (0.0, 0.0, 0.0)),
    "right_toe": ("right_ankle_roll_link", (0.12, 0.0, -0.03)),
    "left_shoulder": ("left_shoulder_roll_link", (0.0, 0.0, 0.0)),
    "left_elbow": ("left_elbow_link", (0.0, 0.0, 0.0)),
    "left_wrist": ("left_wrist_roll_link", (0.0, 0.0, 0.0)),
    "right_shoulder": ("right_shoulder_roll_link", (0.0, 0.0, 0.0)),
    "right_elbow": ("right_elbow_link", (0.0, 0.0, 0.0)),
    "right_wrist": ("right_wrist_roll_link", (0.0, 0.0, 0.0)),
}

EDGES: tuple[tuple[str, str], ...] = (
    ("pelvis", "left_hip"),
    ("left_hip", "left_knee"),
    ("left_knee", "left_ankle"),
    ("left_ankle", "left_toe"),
    ("pelvis", "right_hip"),
    ("right_hip", "right_knee"),
    ("right_knee", "right_ankle"),
    ("right_ankle", "right_toe"),
    ("pelvis", "left_shoulder"),
    ("left_shoulder", "left_elbow"),
    ("left_elbow", "left_wrist"),
    ("pelvis", "right_shoulder"),
    ("right_shoulder", "right_elbow"),
    ("right_elbow", "right_wrist"),
    ("left_hip", "right_hip"),
    ("left_shoulder", "right_shoulder"),
)
"""Adjacent keypoint pairs of the kinematic tree (plus the hip and shoulder bars) used by the local costs."""

EDGE_INDEX = np.array([(K[a], K[b]) for a, b in EDGES], dtype=np.int64)
TREE_EDGES = EDGE_INDEX[:14]
"""The tree part of the edges (rooted at the pelvis, parent-first): the scaled human is built along these."""


def _tree_paths() -> np.ndarray:
    paths = np.zeros((len(KEYPOINTS), len(TREE_EDGES)))
    for e, (a, b) in enumerate(TREE_EDGES):  # parent-first: a's path is complete when b is reached
        paths[b] = paths[a]
        paths[b, e] = 1.0
    return paths


TREE_PATHS = _tree_paths()
"""(K, 14): 1 where tree edge e lies on the path from the pelvis to keypoint k (row 0, the pelvis, is 0)."""


def _mirror(name: str) -> str:
    return name.replace("left_", "@").replace("right_", "left_").replace("@", "right_")


SYMMETRIC_EDGES = np.array(
    [
        (i, EDGES.index((_mirror(a), _mirror(b))))
        for i, (a, b) in enumerate(EDGES)
        if a.startswith("left_") or b.startswith("left_")
        if (_mirror(a), _mirror(b)) in EDGES and (_mirror(a), _mirror(b)) != (a, b)
    ],
    dtype=np.int64,
)
"""(left edge, right edge) pairs whose scales the symmetry cost ties together."""

FOOT_KEYPOINTS = np.array([K["left_ankle"], K["right_ankle"]], dtype=np.int64)
TOE_KEYPOINTS = np.array([K["left_toe"], K["right_toe"]], dtype=np.int64)

# Sole of the foot collision box (mjcf_builder: box half sizes 0.103 x 0.036 x 0.011 at (0.039, 0, -0.026)):
SOLE_CORNERS = np.array([[0.039 + sx * 0.103, sy * 0.036, -0.037] for sx in (-1, 1) for sy in (-1, 1)])
"""Four bottom corners of each foot box, in the ankle-roll link frame."""
