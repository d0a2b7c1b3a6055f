"""On flat ground the solve tracks the person scaled to the robot's legs, so the robot's path and stride are
the person's at its own size and no stance foot is dragged: with the person's full-size path, the pinned
stance feet hold the pelvis back and the body snaps forward at every contact change."""

from __future__ import annotations

import numpy as np

from hsi_offline.retarget.human import robot_sized
from hsi_offline.retarget.keypoint_skeleton import KEYPOINTS
from hsi_offline.retarget.pipeline import retarget_clip
from hsi_offline.retarget.problem import nominal_scales
from hsi_offline.retarget.synthetic_human import flat_walk

PELVIS = KEYPOINTS.index("pelvis")


def _speeds(xy: np.ndarray, fps: float) -> np.ndarray:
    return np.linalg.norm(np.diff(xy, axis=0), axis=-1) * fps


def test_robot_sized_keeps_the_ground_the_stance_feet_and_the_proportions():
    human = flat_walk(n_steps=4)
    small = robot_sized(human, 0.75)
    start = human.keypoints[0, PELVIS]
    assert np.allclose(small.keypoints[0, PELVIS, :2], start[:2])  # scaled about the point under the pelvis
    assert np.allclose(small.keypoints[..., 2], 0.75 * human.keypoints[..., 2])  # the ground stays at z = 0
    # every edge of the body scales alike, so the per-edge scales grow by exactly 1 / 0.75
    assert np.allclose(nominal_scales(small, 23), nominal_scales(human, 23) / 0.75, rtol=1e-6)
    # a foot that stands still stands still
    for side, ankle in enumerate(("left_ankle", "right_ankle")):
        k = KEYPOINTS.index(ankle)
        still = human.contacts[:-1, side] & human.contacts[1:, side]
        moved = _speeds(small.keypoints[:, k, :2], human.fps)[still]
        assert moved.max() <= 0.75 * _speeds(human.keypoints[:, k, :2], human.fps)[still].max() + 1e-9


def test_a_human_sized_walk_becomes_a_robot_sized_walk_without_snaps():
    human = flat_walk(n_steps=4)  # a person of human size: leg scale to the G1 about 0.74
    leg = float(np.median(nominal_scales(human, 23)[[1, 2, 5, 6]]))
    assert leg < 0.8
    clip, result, quality = retarget_clip(human)
    human_speed = _speeds(human.keypoints[:, PELVIS, :2], human.fps)
    robot_speed = _speeds(clip.root_pos[:, :2], clip.fps)
    # the path is the person's at the robot's size
    assert abs(robot_speed.sum() / human_speed.sum() - leg) < 0.05
    # frame by frame, no catching up: 0.51 m/s off with the full-size path, 0.18 when this was written
    assert np.abs(robot_speed - leg * human_speed).max() < 0.3
    # the stance feet stay planted: 0.19 cm per contact frame with the full-size path, 0.02 here
    assert quality.skating_cm_per_contact_frame < 0.1
    assert result.human is not None and np.allclose(
        result.human.keypoints[0, PELVIS, :2], human.keypoints[0, PELVIS, :2]
    )
