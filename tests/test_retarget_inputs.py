"""Human-motion inputs: BVH (units, axes, rotation order), the keypoints npz both stages share, bad inputs."""

from __future__ import annotations

import numpy as np
import pytest

from hsi_kernel.terrain import make_scene_terrain
from hsi_offline.retarget.bvh import load_bvh
from hsi_offline.retarget.human import (
    BLAZEPOSE_33,
    SMPL_24,
    HumanKeypointMotion,
    load_keypoints_npz,
    save_keypoints_npz,
    to_keypoints,
)
from hsi_offline.retarget.inputs import detect_format, g1_as_human, open_input
from hsi_offline.retarget.keypoint_skeleton import KEYPOINTS
from hsi_offline.retarget.synthetic_human import flat_walk

K = {n: i for i, n in enumerate(KEYPOINTS)}


def _leg(side: str, x: float) -> str:
    return f"""JOINT {side}UpLeg
{{ OFFSET {x} 0 0
CHANNELS 3 Zrotation Xrotation Yrotation
JOINT {side}Leg
{{ OFFSET 0 -42 0
CHANNELS 3 Zrotation Xrotation Yrotation
JOINT {side}Foot
{{ OFFSET 0 -42 0
CHANNELS 3 Zrotation Xrotation Yrotation
JOINT {side}ToeBase
{{ OFFSET 0 -6 12
CHANNELS 3 Zrotation Xrotation Yrotation
End Site
{{ OFFSET 0 0 3 }}
}} }} }} }}
"""


def _arm(side: str, x: float) -> str:
    return f"""JOINT {side}Arm
{{ OFFSET {x} 40 0
CHANNELS 3 Zrotation Xrotation Yrotation
JOINT {side}ForeArm
{{ OFFSET {28 if x > 0 else -28} 0 0
CHANNELS 3 Zrotation Xrotation Yrotation
JOINT {side}Hand
{{ OFFSET {25 if x > 0 else -25} 0 0
CHANNELS 3 Zrotation Xrotation Yrotation
End Site
{{ OFFSET 5 0 0 }}
}} }} }}
"""


def write_bvh(path, frames: list[list[float]]) -> None:
    """A small cm, y-up skeleton (PyMO/LAFAN-style names): Hips, legs with ToeBase, Spine with arms."""
    hierarchy = (
        "HIERARCHY\nROOT Hips\n{ OFFSET 0 0 0\n"
        "CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation\n"
        + _leg("Left", 10)
        + _leg("Right", -10)
        + "JOINT Spine\n{ OFFSET 0 10 0\nCHANNELS 3 Zrotation Xrotation Yrotation\n"
        + _arm("Left", 18)
        + _arm("Right", -18)
        + "}\n}\n"
    )
    n_channels = 6 + 3 * 4 * 2 + 3 + 3 * 3 * 2
    lines = []
    for f in frames:
        row = np.zeros(n_channels)
        row[: len(f)] = f
        lines.append(" ".join(f"{v:g}" for v in row))
    path.write_text(hierarchy + f"MOTION\nFrames: {len(frames)}\nFrame Time: 0.0083333\n" + "\n".join(lines))


def test_bvh_units_axes_and_rotation(tmp_path):
    # frame 0: neutral at root (0, 90, 0) cm; frame 1: root turned +90 deg about the vertical (file y).
    write_bvh(tmp_path / "m.bvh", [[0, 90, 0, 0, 0, 0], [0, 90, 0, 0, 0, 90]])
    h = load_bvh(tmp_path / "m.bvh")
    assert h.fps == pytest.approx(120.0, rel=1e-3) and h.num_frames == 2
    rel = h.keypoints - h.keypoints[:, :1]
    # z-up metres, +y = the file's +x (left), +x = the file's +z (forward)
    np.testing.assert_allclose(rel[0, K["left_hip"]], [0.0, 0.10, 0.0], atol=1e-9)
    np.testing.assert_allclose(rel[0, K["left_ankle"]], [0.0, 0.10, -0.84], atol=1e-9)
    np.testing.assert_allclose(rel[0, K["left_toe"]], [0.12, 0.10, -0.90], atol=1e-9)
    np.testing.assert_allclose(rel[0, K["left_wrist"]], [0.0, 0.18 + 0.28 + 0.25, 0.50], atol=1e-9)
    # +90 deg about the up axis turns the left hip from +y to -x (counter-clockwise seen from above)
    np.testing.assert_allclose(rel[1, K["left_hip"]], [-0.10, 0.0, 0.0], atol=1e-9)
    assert h.keypoints[:, [K["left_toe"], K["right_toe"]], 2].min() == pytest.approx(0.02, abs=1e-6)


def test_bvh_bad_files(tmp_path):
    (tmp_path / "a.bvh").write_text("HELLO")
    with pytest.raises(ValueError, match="not a BVH"):
        load_bvh(tmp_path / "a.bvh")
    write_bvh(tmp_path / "b.bvh", [[0, 90, 0]])
    text = (tmp_path / "b.bvh").read_text().rsplit("\n", 1)[0] + "\n1 2 3"
    (tmp_path / "b.bvh").write_text(text)
    with pytest.raises(ValueError, match="expected 1 frames"):
        load_bvh(tmp_path / "b.bvh")
    with pytest.raises(ValueError, match="does not exist"):
        load_bvh(tmp_path / "none.bvh")


def test_keypoints_npz_round_trip_with_terrain(tmp_path):
    h = flat_walk(n_steps=1)
    save_keypoints_npz(h, tmp_path / "human_motion.npz")
    make_scene_terrain("kerb").save(tmp_path / "terrain.npz")
    back = open_input(tmp_path)  # a clip folder
    assert isinstance(back, HumanKeypointMotion) and back.terrain is not None and back.terrain.name == "kerb"
    np.testing.assert_allclose(back.keypoints, h.keypoints)
    np.testing.assert_array_equal(back.contacts, h.contacts)
    assert back.fps == h.fps and detect_format(tmp_path / "human_motion.npz") == "keypoints"


@pytest.mark.parametrize("names", [SMPL_24, BLAZEPOSE_33])
def test_reconstruction_joint_sets_map_to_keypoints(tmp_path, names):
    T = 3
    rng = np.random.default_rng(0)
    joints = rng.normal(size=(T, len(names), 3))
    np.savez(tmp_path / "human_motion.npz", joints=joints, joint_names=np.array(names), fps=30.0)
    h = load_keypoints_npz(tmp_path / "human_motion.npz")
    assert h.confidence.min() == 1.0  # all 15 keypoints present in both sets
    np.testing.assert_allclose(h.keypoints[:, K["left_knee"]], joints[:, names.index("left_knee")])
    toe = "left_foot" if names is SMPL_24 else "left_foot_index"
    np.testing.assert_allclose(h.keypoints[:, K["left_toe"]], joints[:, names.index(toe)])
    lh, rh = names.index("left_hip"), names.index("right_hip")
    if names is BLAZEPOSE_33:  # pelvis = mid-hips
        np.testing.assert_allclose(h.keypoints[:, 0], 0.5 * (joints[:, lh] + joints[:, rh]))


def test_bad_human_inputs_rejected(tmp_path):
    names = list(SMPL_24)
    with pytest.raises(ValueError, match="J = len"):
        to_keypoints(np.zeros((4, 23, 3)), names)
    bad = np.zeros((4, 24, 3))
    bad[1, 3, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        to_keypoints(bad, names)
    with pytest.raises(ValueError, match="zero frames"):
        to_keypoints(np.zeros((0, 24, 3)), names)
    with pytest.raises(ValueError, match="known keypoints"):
        to_keypoints(np.zeros((4, 24, 3)), [f"j{i}" for i in range(24)])
    np.savez(tmp_path / "k.npz", joints=np.zeros((4, 24, 3)), joint_names=np.array(names), fps=0.0)
    with pytest.raises(ValueError, match="fps must be positive"):
        load_keypoints_npz(tmp_path / "k.npz")
    np.savez(tmp_path / "m.npz", joints=np.zeros((4, 24, 3)))
    with pytest.raises(ValueError, match="lacks"):
        load_keypoints_npz(tmp_path / "m.npz")
    with pytest.raises(ValueError, match="unknown input type"):
        detect_format(tmp_path / "x.txt")


def test_g1_clip_as_human_is_its_own_keypoints():
    from hsi_kernel.contract import get_contract
    from hsi_offline.motion import make_clip
    from hsi_offline.retarget.problem import robot_keypoints_np

    c = get_contract(23)
    clip = make_clip(
        30.0, np.tile([0, 0, 0.78], (3, 1)), np.tile([1.0, 0, 0, 0], (3, 1)), np.tile(c.default_q, (3, 1)), 23
    )
    h = g1_as_human(clip)
    expected = robot_keypoints_np(23, clip.root_pos, clip.root_quat, clip.joint_pos)
    np.testing.assert_allclose(h.keypoints, expected)
    assert h.contacts.all()
