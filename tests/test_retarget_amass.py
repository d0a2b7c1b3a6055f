"""AMASS SMPL npz -> keypoints through the real smplx layer on a small SMPL-layout model file the test writes
(the same SMPL path as the reconstruction importer); bad inputs rejected with one clear message."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from test_reconstruct_importers import write_fake_smpl_model

from hsi_offline.retarget.amass import load_amass, load_amass_params
from hsi_offline.retarget.inputs import detect_format, open_input
from hsi_offline.retarget.keypoint_skeleton import K


def _amass(path: Path, T: int = 60, width: int = 72, fps: float = 60.0, yaw: float = 0.0) -> dict:
    t = np.arange(T) / fps
    poses = np.zeros((T, width))
    poses[:, 2] = yaw  # global orientation: yaw about +z (the fake model is z-up already)
    poses[:, 3 + 3 * 3] = 0.5 * np.sin(2 * np.pi * t)  # body joint 4 (left knee) bends about x
    trans = np.stack([0.8 * t, np.zeros(T), np.full(T, 1.0)], axis=1)  # walks +x at 0.8 m/s
    d = dict(poses=poses, trans=trans, betas=np.zeros(16), mocap_framerate=np.array(fps), gender="neutral")
    np.savez(path, **d)
    return d


def test_amass_joints_follow_trans_and_fps(tmp_path):
    rest = write_fake_smpl_model(tmp_path / "SMPL_NEUTRAL.pkl")
    d = _amass(tmp_path / "walk.npz")
    assert detect_format(tmp_path / "walk.npz") == "amass"
    h = open_input(tmp_path / "walk.npz", smpl_model=tmp_path / "SMPL_NEUTRAL.pkl")
    assert h.fps == 60.0 and h.num_frames == 60
    # the pelvis follows trans (up to the floor shift); the hip bar is the model's, unrotated
    shift = h.keypoints[0, K["pelvis"]] - (rest[0] + d["trans"][0])
    np.testing.assert_allclose(shift[:2], 0.0, atol=1e-4)
    np.testing.assert_allclose(h.keypoints[:, K["pelvis"]], rest[0] + d["trans"] + shift, atol=1e-4)
    hips = h.keypoints[:, K["left_hip"]] - h.keypoints[:, K["right_hip"]]
    np.testing.assert_allclose(hips[0], rest[1] - rest[2], atol=1e-4)
    # the left knee bends and the right does not: the left ankle moves relative to its knee
    la = np.linalg.norm(h.keypoints[:, K["left_ankle"]] - h.keypoints[:, K["left_knee"]], axis=1)
    lk = h.keypoints[:, K["left_ankle"]] - h.keypoints[:, K["left_knee"]]
    rk = h.keypoints[:, K["right_ankle"]] - h.keypoints[:, K["right_knee"]]
    assert np.ptp(lk[:, 1]) > 0.05 and np.ptp(rk, axis=0).max() < 1e-4
    np.testing.assert_allclose(la, la[0], atol=1e-4)  # bones keep their length
    # feet on the floor: lowest feet about 2 cm above z = 0
    feet = h.keypoints[:, [3, 4, 7, 8], 2].min(axis=1)
    assert abs(np.percentile(feet, 2) - 0.02) < 1e-6


def test_smplh_width_and_yaw(tmp_path):
    write_fake_smpl_model(tmp_path / "SMPL_NEUTRAL.pkl")
    _amass(tmp_path / "a.npz", width=72)
    _amass(tmp_path / "b.npz", width=156)  # SMPL+H: body joints then hands
    _amass(tmp_path / "c.npz", yaw=np.pi / 2)
    a, b, c = (load_amass(tmp_path / f"{n}.npz", tmp_path / "SMPL_NEUTRAL.pkl") for n in "abc")
    np.testing.assert_allclose(a.keypoints, b.keypoints, atol=1e-5)
    ha = a.keypoints[0, K["left_hip"]] - a.keypoints[0, K["right_hip"]]
    hc = c.keypoints[0, K["left_hip"]] - c.keypoints[0, K["right_hip"]]
    np.testing.assert_allclose(hc[:2], [-ha[1], ha[0]], atol=1e-4)  # rotated 90 deg about +z


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(poses=np.zeros((60, 70))), r"poses must be \(T, 72\|156\|165\)"),
        (dict(trans=np.zeros((59, 3))), r"trans must be \(60, 3\)"),
        (dict(poses=np.full((60, 72), np.nan)), "poses contains NaN"),
        (dict(mocap_framerate=np.array(0.0)), "frame rate must be positive"),
        (dict(poses=np.zeros((1, 72)), trans=np.zeros((1, 3))), "at least 2"),
    ],
)
def test_bad_amass_rejected(tmp_path, change, message):
    d = _amass(tmp_path / "ok.npz")
    np.savez(tmp_path / "bad.npz", **{**d, **change})
    with pytest.raises(ValueError, match=message):
        load_amass_params(tmp_path / "bad.npz")


def test_amass_needs_keys_and_model(tmp_path):
    np.savez(tmp_path / "nokeys.npz", poses=np.zeros((5, 72)), trans=np.zeros((5, 3)))
    with pytest.raises(ValueError, match=r"lacks \['betas', 'mocap_framerate'\]"):
        load_amass_params(tmp_path / "nokeys.npz")
    _amass(tmp_path / "ok.npz")
    with pytest.raises(ValueError, match="give the SMPL model file"):
        open_input(tmp_path / "ok.npz")
    with pytest.raises(ValueError, match="does not exist"):
        load_amass(tmp_path / "ok.npz", tmp_path / "missing.pkl")


def test_cli_retargets_amass_with_model(tmp_path):
    from hsi_offline.cli import main as cli_main
    from hsi_offline.motion.clip import load

    write_fake_smpl_model(tmp_path / "SMPL_NEUTRAL.pkl")
    _amass(tmp_path / "walk.npz", T=60, fps=60.0)
    args = ["retarget", str(tmp_path / "walk.npz"), "--out", str(tmp_path / "g1"), "--no-picture"]
    assert cli_main(args) == 2  # no model: one clear error, exit code 2
    assert cli_main([*args, "--smpl-model", str(tmp_path / "SMPL_NEUTRAL.pkl")]) == 0
    clip = load(tmp_path / "g1" / "motion.npz")
    assert clip.fps == 30.0 and clip.num_frames == 30  # 60 fps input solved at the default 30 fps
    assert (tmp_path / "g1" / "retarget_human.npz").is_file()
