"""Motion clip format: FK consistency, save/load, validation of bad inputs, fps resampling, 29<->23."""

from __future__ import annotations

import mujoco
import numpy as np
import pytest

from hsi_kernel.contract import TRACKED_LINKS, convert_joint_vector, get_contract
from hsi_kernel.model.kinematics import fk_links, load_model
from hsi_offline.motion import MOTION_CLIP_SCHEMA, load, make_clip, resample
from hsi_offline.motion.clip import MotionClip


def random_motion(dof: int, T: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A smooth random motion within the joint limits (margin 5%)."""
    rng = np.random.default_rng(seed)
    c = get_contract(dof)
    t = np.linspace(0, 1, T)[:, None]
    lo, hi = c.lower + 0.05 * (c.upper - c.lower), c.upper - 0.05 * (c.upper - c.lower)
    phase = rng.uniform(0, 2 * np.pi, c.dof)
    q = lo + (hi - lo) * (0.5 + 0.5 * np.sin(2 * np.pi * t + phase))
    root_pos = np.column_stack([t[:, 0], 0.1 * np.sin(3 * t[:, 0]), 0.75 + 0.02 * t[:, 0]])
    yaw = 1.5 * t[:, 0]
    root_quat = np.column_stack([np.cos(yaw / 2), 0.05 * np.ones(T), np.zeros(T), np.sin(yaw / 2)])
    root_quat /= np.linalg.norm(root_quat, axis=1, keepdims=True)
    return root_pos, root_quat, q


@pytest.mark.parametrize("dof", [23, 29])
def test_saved_link_poses_equal_contract_model_fk_per_frame(tmp_path, dof):
    root_pos, root_quat, q = random_motion(dof, 20)
    clip = make_clip(30.0, root_pos, root_quat, q, dof)
    loaded = load(clip.save(tmp_path / "c.npz"))
    # Independent path: the full mj_forward on the same MJCF, joint addresses looked up by name here.
    model = load_model(dof)
    data = mujoco.MjData(model)
    for t in range(clip.num_frames):
        data.qpos[:3], data.qpos[3:7] = root_pos[t], root_quat[t] / np.linalg.norm(root_quat[t])
        for i, name in enumerate(get_contract(dof).joint_names):
            data.qpos[model.joint(name).qposadr[0]] = q[t, i]
        mujoco.mj_forward(model, data)
        for li, link in enumerate(TRACKED_LINKS):
            np.testing.assert_allclose(loaded.link_pos[t, li], data.body(link).xpos, atol=1e-9)
            qq = data.body(link).xquat * np.sign(data.body(link).xquat[0] or 1.0)
            np.testing.assert_allclose(loaded.link_quat[t, li], qq, atol=1e-9)
    # Per-frame: the poses change frame to frame (the VideoMimic "not updated per frame" bug).
    assert np.linalg.norm(np.diff(loaded.link_pos, axis=0), axis=-1).min(axis=0).max() > 0


def test_file_records_schema_fps_and_terrain(tmp_path):
    root_pos, root_quat, q = random_motion(23, 5)
    clip = make_clip(24.0, root_pos, root_quat, q, 23, terrain="terrain.npz", provenance={"src": "x"})
    path = clip.save(tmp_path / "c.npz")
    with np.load(path) as f:
        assert str(f["schema"]) == MOTION_CLIP_SCHEMA and float(f["fps"]) == 24.0
    back = load(path)
    assert back.fps == 24.0 and back.provenance == {"src": "x"}
    assert back.terrain_path(path) == (tmp_path / "terrain.npz").resolve()
    assert not list(tmp_path.glob("*.tmp*"))


def test_fps_round_trip_30_to_50():
    T = 31  # 1 s at 30 fps
    root_pos, root_quat, q = random_motion(23, T)
    clip = make_clip(30.0, root_pos, root_quat, q, 23)
    out = resample(clip, 50.0)
    assert out.fps == 50.0 and out.num_frames == 51
    assert out.duration == pytest.approx(clip.duration)
    # Same instants agree exactly (t = 0, 0.1, ..., 1.0 are frames 3k at 30 fps and 5k at 50 fps).
    np.testing.assert_allclose(out.joint_pos[::5], clip.joint_pos[::3], atol=1e-12)
    np.testing.assert_allclose(out.root_pos[::5], clip.root_pos[::3], atol=1e-12)
    np.testing.assert_allclose(np.abs(np.sum(out.root_quat[::5] * clip.root_quat[::3], axis=1)), 1, atol=1e-9)
    back = resample(out, 30.0)
    assert back.num_frames == T
    np.testing.assert_allclose(back.joint_pos[::3], clip.joint_pos[::3], atol=1e-12)
    np.testing.assert_allclose(back.joint_pos, clip.joint_pos, atol=0.02)  # linear between shared instants
    assert out.provenance["resampled_from_fps"] == 30.0
    out.validate()


def test_29_to_23_and_back_keeps_shared_joints():
    root_pos, root_quat, q29 = random_motion(29, 6)
    q23 = convert_joint_vector(q29, 29, 23)
    c23 = make_clip(50.0, root_pos, root_quat, q23, 23)
    back = convert_joint_vector(c23.joint_pos, 23, 29)
    c29 = get_contract(29)
    for name in get_contract(23).joint_names:
        np.testing.assert_array_equal(back[:, c29.index(name)], q29[:, c29.index(name)])
    for name in ("waist_roll_joint", "left_wrist_pitch_joint"):
        assert np.all(back[:, c29.index(name)] == 0)
    # Legs do not depend on the upper body: identical foot poses in both models.
    p23, _ = fk_links(23, root_pos, root_quat, q23, ["left_ankle_roll_link"])
    p29, _ = fk_links(29, root_pos, root_quat, back, ["left_ankle_roll_link"])
    np.testing.assert_allclose(p23, p29, atol=1e-12)


def _good() -> MotionClip:
    root_pos, root_quat, q = random_motion(23, 4)
    return make_clip(30.0, root_pos, root_quat, q, 23)


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda c: setattr(c, "fps", 0.0), "fps must be a positive"),
        (lambda c: setattr(c, "fps", float("nan")), "fps must be a positive"),
        (lambda c: c.joint_pos.__setitem__((1, 2), np.nan), "joint_pos contains NaN"),
        (lambda c: setattr(c, "joint_pos", c.joint_pos[:, :22]), "joint_pos has shape"),
        (lambda c: setattr(c, "dof", 29), "joint_names"),
        (lambda c: setattr(c, "dof", 27), "dof must be 23 or 29"),
        (lambda c: setattr(c, "joint_names", ("foo_joint",) + c.joint_names[1:]), "unknown joint names"),
        (lambda c: setattr(c, "joint_names", c.joint_names[::-1]), "contract order"),
        (lambda c: c.joint_pos.__setitem__((0, 3), 3.5), "exceeds its limit"),
        (
            lambda c: c.link_pos.__setitem__((2, 4), c.link_pos[2, 4] + 0.01),
            "disagree with forward kinematics",
        ),
        (lambda c: setattr(c, "link_pos", np.repeat(c.link_pos[:1], 4, axis=0)), "forward kinematics"),
        (lambda c: setattr(c, "root_quat", c.root_quat * 2), "not unit length"),
        (lambda c: setattr(c, "contacts", c.contacts.astype(float)), "contacts must be bool"),
    ],
)
def test_bad_clips_rejected_with_one_line_message(mutate, message):
    clip = _good()
    mutate(clip)
    with pytest.raises(ValueError, match=message) as e:
        clip.validate()
    assert "\n" not in str(e.value)


def test_zero_length_and_bad_files_rejected(tmp_path):
    c = get_contract(23)
    with pytest.raises(ValueError, match="T >= 1"):
        make_clip(30, np.zeros((0, 3)), np.zeros((0, 4)), np.zeros((0, 23)), 23)
    with pytest.raises(ValueError, match=r"\(T,23\)"):
        make_clip(30, np.zeros((2, 3)), np.tile([1.0, 0, 0, 0], (2, 1)), np.zeros((2, 29)), 23)
    with pytest.raises(ValueError, match="does not exist"):
        load(tmp_path / "missing.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="not a readable npz"):
        load(tmp_path / "junk.npz")
    np.savez(tmp_path / "other.npz", joint_pos=np.zeros((2, c.dof)))
    with pytest.raises(ValueError, match="lacks"):
        load(tmp_path / "other.npz")
    with pytest.raises(ValueError, match="fps_out"):
        resample(_good(), -1)
