"""Clip variants (``hsi_offline.motion.variants``): mirror, retime, turn, loop, on a walking-like clip."""

import numpy as np
import pytest

from hsi_kernel.contract import FOOT_LINKS, get_contract
from hsi_kernel.model.kinematics import fk_links
from hsi_offline.motion.clip import MotionClipError, make_clip
from hsi_offline.motion.variants import loop, mirror, mirror_joint_map, retime, turn, variants


def standing_clip(seconds=1.0, fps=50.0, dof=23):
    """The default pose held still on flat ground."""
    T = int(round(seconds * fps)) + 1
    c = get_contract(dof)
    root = np.tile([0.0, 0.0, 0.79], (T, 1))
    return make_clip(fps, root, np.tile([1.0, 0, 0, 0], (T, 1)), np.tile(c.default_q, (T, 1)), dof)


def _asymmetric_clip(dof=23, T=60, fps=30.0):
    """A clip that is not its own mirror image: it drifts left, turns, lifts the left leg and rolls the
    right hip and the waist, so a wrong sign or a missed swap shows in the feet and hands."""
    c = get_contract(dof)
    t = np.arange(T) / fps
    names = c.joint_names
    q = np.tile(c.default_q, (T, 1))
    q[:, names.index("left_hip_pitch_joint")] += -0.4 * np.sin(2 * t)
    q[:, names.index("left_knee_joint")] += 0.5 * np.abs(np.sin(2 * t))
    q[:, names.index("right_hip_roll_joint")] += -0.15 * np.sin(3 * t)
    q[:, names.index("left_hip_yaw_joint")] += 0.2 * np.sin(t)
    q[:, names.index("waist_yaw_joint")] += 0.3 * np.sin(t)
    q[:, names.index("left_shoulder_roll_joint")] += 0.3
    q[:, names.index("right_elbow_joint")] += 0.4
    yaw = 0.4 * t
    root_pos = np.stack([0.3 * t, 0.1 * t + 0.2, np.full(T, 0.79)], axis=1)
    root_quat = np.stack([np.cos(yaw / 2), 0.02 * np.ones(T), 0.05 * np.ones(T), np.sin(yaw / 2)], axis=1)
    contacts = np.zeros((T, 2), bool)
    contacts[:, 1] = True
    return make_clip(fps, root_pos, root_quat, q, dof, contacts)


@pytest.mark.parametrize("dof", [23, 29])
def test_mirroring_twice_is_the_identity(dof):
    clip = _asymmetric_clip(dof)
    twice = mirror(mirror(clip))
    for key in ("root_pos", "root_quat", "joint_pos", "link_pos", "contacts"):
        np.testing.assert_allclose(getattr(twice, key), getattr(clip, key), atol=1e-12, err_msg=key)
    once = mirror(clip)
    assert np.abs(once.joint_pos - clip.joint_pos).max() > 0.1  # it is not trivially the identity


@pytest.mark.parametrize("dof", [23, 29])
def test_mirrored_left_foot_is_the_right_foot_reflected(dof):
    clip = _asymmetric_clip(dof)
    m = mirror(clip)
    reflect = np.array([1.0, -1.0, 1.0])
    lf, rf = (clip.link_names.index(n) for n in FOOT_LINKS)
    np.testing.assert_allclose(m.link_pos[:, lf], clip.link_pos[:, rf] * reflect, atol=1e-9)
    np.testing.assert_allclose(m.link_pos[:, rf], clip.link_pos[:, lf] * reflect, atol=1e-9)
    # every tracked link: the mirror twin's position, reflected (hands, elbows, knees, ...); Unitree publishes
    # the shoulder mounts 10 um apart (y 0.10022 left, -0.10021 right), hence the arms' tolerance
    for i, name in enumerate(clip.link_names):
        twin = name.replace("left_", "\0").replace("right_", "left_").replace("\0", "right_")
        j = clip.link_names.index(twin)
        tol = 2e-5 if ("shoulder" in name or "elbow" in name or "wrist" in name) else 1e-9
        np.testing.assert_allclose(m.link_pos[:, i], clip.link_pos[:, j] * reflect, atol=tol, err_msg=name)
    np.testing.assert_array_equal(m.contacts, clip.contacts[:, ::-1])
    # the torso (on the waist yaw joint, 23 and 29 DoF) reflects too
    pos, _ = fk_links(dof, clip.root_pos, clip.root_quat, clip.joint_pos, ("torso_link",))
    mpos, _ = fk_links(dof, m.root_pos, m.root_quat, m.joint_pos, ("torso_link",))
    np.testing.assert_allclose(mpos, pos * reflect, atol=1e-9)


def test_mirror_map_swaps_sides_and_negates_roll_and_yaw():
    src, sign = mirror_joint_map(23)
    names = get_contract(23).joint_names
    for i, n in enumerate(names):
        assert names[src[i]] == n.replace("left", "@").replace("right", "left").replace("@", "right")
        assert sign[i] == (-1.0 if ("roll" in n or "yaw" in n) else 1.0), n


def test_retime_turn_and_loop():
    clip = _asymmetric_clip()
    fast = retime(clip, 1.25)
    assert fast.fps == pytest.approx(clip.fps * 1.25) and fast.duration == pytest.approx(clip.duration / 1.25)
    turned = turn(clip, np.pi / 2)
    np.testing.assert_allclose(turned.root_pos[0], clip.root_pos[0], atol=1e-12)
    d0, d1 = clip.root_pos[-1] - clip.root_pos[0], turned.root_pos[-1] - turned.root_pos[0]
    np.testing.assert_allclose(d1[:2], [-d0[1], d0[0]], atol=1e-9)  # the path turned 90 deg left
    np.testing.assert_allclose(turned.joint_pos, clip.joint_pos)
    looped = loop(clip, 3)
    assert looped.num_frames == 3 * clip.num_frames - 2
    # the second repeat starts where the first ended (position and heading continue)
    T = clip.num_frames
    np.testing.assert_allclose(looped.root_pos[T - 1, :2], clip.root_pos[-1, :2], atol=1e-12)
    step = np.linalg.norm(np.diff(looped.root_pos[:, :2], axis=0), axis=1)
    assert step.max() < 2 * np.linalg.norm(np.diff(clip.root_pos[:, :2], axis=0), axis=1).max()
    assert looped.provenance["variants"][-1]["kind"] == "loop"


def test_variant_set_and_terrain_clips():
    clip = _asymmetric_clip()
    out = variants(clip, mirrored=True, speeds=(0.8,), headings=(np.pi / 2,), repeats=2)
    assert set(out) == {
        "original",
        "turn+90",
        "speed0.8",
        "speed0.8_turn+90",
        "mirror",
        "mirror_turn+90",
        "mirror_speed0.8",
        "mirror_speed0.8_turn+90",
    }
    on_kerb = standing_clip(seconds=1.0)
    on_kerb.terrain = "kerb.npz"
    with pytest.raises(MotionClipError, match="kerb.npz"):
        mirror(on_kerb)
    assert set(variants(on_kerb, speeds=(0.8,), headings=(1.0,), repeats=2)) == {"original", "speed0.8"}


def test_a_stage_output_folder_yields_its_clips_only(tmp_path):
    """A retarget folder holds ``retarget_human.npz`` (and a reconstruction's ``terrain.npz``) beside
    ``motion.npz``: as ``--clips`` it must give the clip, not fail on the other arrays."""
    from hsi_kernel.terrain import make_scene_terrain
    from hsi_offline.training.motion_lib import find_clips

    standing_clip(seconds=1.0).save(tmp_path / "motion.npz")
    np.savez(tmp_path / "retarget_human.npz", keypoints=np.zeros((3, 4, 3)), fps=30.0)
    make_scene_terrain("kerb", res=0.05).save(tmp_path / "terrain.npz")
    (tmp_path / "broken.npz").write_bytes(b"not a zip")
    assert find_clips([str(tmp_path)]) == [tmp_path / "motion.npz"]
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no motion clips"):
        find_clips([str(tmp_path / "empty")])


def test_straighten_bends_and_unbends_a_walk_without_skating():
    """A retargeted walk bent onto a circle at 0.5 rad/s and straightened back: the heading follows the turn
    rate, the path keeps its length, the stance feet skate no more than in the walk itself, and the joints
    are untouched."""
    from hsi_offline.motion.variants import cut, stance_slide, straighten
    from hsi_offline.retarget.pipeline import retarget_clip
    from hsi_offline.retarget.synthetic_human import flat_walk

    walk, _, _ = retarget_clip(flat_walk(n_steps=6))

    def heading(c):
        q = np.asarray(c.root_quat)
        return np.unwrap(
            np.arctan2(2 * (q[:, 0] * q[:, 3] + q[:, 1] * q[:, 2]), 1 - 2 * (q[:, 2] ** 2 + q[:, 3] ** 2))
        )

    def length(c):
        return float(np.linalg.norm(np.diff(np.asarray(c.root_pos)[:, :2], axis=0), axis=1).sum())

    seconds = (walk.num_frames - 1) / walk.fps
    bent = straighten(walk, window_s=1.0, turn_rate=0.5)
    turned = heading(bent)[-5:].mean() - heading(bent)[:5].mean()
    assert abs(turned - 0.5 * seconds) < 0.25 * 0.5 * seconds
    assert abs(length(bent) - length(walk)) < 0.1 * length(walk)
    assert stance_slide(bent) < stance_slide(walk) + 0.02
    assert bent.provenance["variants"][-1]["stance_foot_slide_m_per_s"] == stance_slide(bent)
    np.testing.assert_array_equal(bent.joint_pos, walk.joint_pos)
    back = straighten(bent, window_s=1.0, turn_rate=0.0)
    p = np.asarray(back.root_pos)[:, :2]
    assert np.linalg.norm(p[-1] - p[0]) > 0.95 * length(back)  # a straight line again
    assert stance_slide(back) < stance_slide(walk) + 0.02
    part = cut(walk, 0.5, 1.5)
    assert part.num_frames == int(round(1.0 * walk.fps)) + 1
    np.testing.assert_allclose(part.root_pos[0], walk.root_pos[int(round(0.5 * walk.fps))])
    with pytest.raises(MotionClipError, match="not inside"):
        cut(walk, 0.5, 0.5)
    with pytest.raises(MotionClipError, match="positive window"):
        straighten(walk, window_s=0.0)
