"""VideoMimic retarget h5: round trips through export/import, joints by name (any column order, 29 <-> 23),
link poses re-derived with the project's FK (a file with VideoMimic's stale link poses still imports right),
and bad files rejected with one clear message."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from hsi_kernel.contract import get_contract
from hsi_offline.motion.clip import MotionClipError, make_clip
from hsi_offline.motion.videomimic_h5 import export_videomimic_h5, import_videomimic_h5
from hsi_offline.retarget.inputs import detect_format, open_input


def _clip(dof: int, T: int = 40):
    c = get_contract(dof)
    t = np.arange(T) / 30.0
    q = np.tile(c.default_q, (T, 1))
    q[:, 3] += 0.3 * np.sin(2 * np.pi * t)  # left knee
    q[:, -1] += 0.2 * np.sin(2 * np.pi * t)
    yaw = 0.4 * t
    root_quat = np.stack([np.cos(yaw / 2), 0 * t, 0 * t, np.sin(yaw / 2)], axis=1)
    root_pos = np.stack([0.5 * t, 0.1 * t, np.full(T, 0.78)], axis=1)
    contacts = np.stack([t % 0.5 < 0.25, t % 0.5 >= 0.25], axis=1)
    return make_clip(30.0, root_pos, root_quat, np.clip(q, c.lower, c.upper), dof, contacts)


@pytest.mark.parametrize("dof", [23, 29])
def test_round_trip(tmp_path, dof):
    clip = _clip(dof)
    path = export_videomimic_h5(clip, tmp_path / "retarget_poses_g1.h5")
    with h5py.File(path) as f:  # the layout VideoMimic's trainer reads: x-y-z-w quaternions, names as attrs
        np.testing.assert_allclose(f["root_quat"][:], clip.root_quat[:, [1, 2, 3, 0]])
        assert f["joints"].shape == (40, dof) and f.attrs["fps"] == 30.0
        assert [str(n) for n in f.attrs["joint_names"]] == list(clip.joint_names)
        assert f["link_pos"].shape[0] == 40 and np.ptp(f["link_pos"][:, 0, 0]) > 0.1  # per-frame link poses
    back = import_videomimic_h5(path, dof)
    assert detect_format(path) == "videomimic_h5" and open_input(path, dof=dof).num_frames == 40
    assert back.fps == clip.fps and back.joint_names == clip.joint_names
    np.testing.assert_allclose(back.joint_pos, clip.joint_pos, atol=1e-12)
    np.testing.assert_allclose(back.root_quat, clip.root_quat, atol=1e-12)
    np.testing.assert_allclose(back.link_pos, clip.link_pos, atol=1e-9)
    np.testing.assert_array_equal(back.contacts, clip.contacts)


def test_names_not_positions_and_29_to_23(tmp_path):
    """Columns shuffled (names say which is which) and stale link poses: the import is still the clip."""
    clip29 = _clip(29)
    path = export_videomimic_h5(clip29, tmp_path / "a.h5")
    perm = np.random.default_rng(0).permutation(29)
    with h5py.File(path, "r+") as f:
        joints = f["joints"][:]
        del f["joints"]
        f["joints"] = joints[:, perm]
        f.attrs["joint_names"] = [clip29.joint_names[i] for i in perm]
        f["link_pos"][...] = f["link_pos"][0]  # VideoMimic's writer: one configuration for every frame
    back29 = import_videomimic_h5(path, 29)
    np.testing.assert_allclose(back29.joint_pos, clip29.joint_pos, atol=1e-12)
    np.testing.assert_allclose(back29.link_pos, clip29.link_pos, atol=1e-9)
    back23 = import_videomimic_h5(path, 23)
    c23 = get_contract(23)
    for i, name in enumerate(c23.joint_names):
        np.testing.assert_allclose(
            back23.joint_pos[:, i], clip29.joint_pos[:, clip29.joint_names.index(name)]
        )


def _write(path, **over):
    clip = _clip(23, 10)
    export_videomimic_h5(clip, path)
    with h5py.File(path, "r+") as f:
        for key, value in over.items():
            if key.startswith("attr_"):
                if value is None:
                    del f.attrs[key[5:]]
                else:
                    f.attrs[key[5:]] = value
            else:
                del f[key]
                if value is not None:
                    f[key] = value


@pytest.mark.parametrize(
    "over, message",
    [
        (dict(joints=None), "lacks dataset 'joints'"),
        (dict(attr_fps=None), "lacks attribute 'fps'"),
        (dict(attr_fps=0.0), "fps must be positive"),
        (dict(joints=np.zeros((10, 22))), "22 joint columns for 23 joint names"),
        (dict(attr_joint_names=["left_hip_pitch_joint", "tail_joint"], joints=np.zeros((10, 2))), "unknown"),
        (dict(joints=np.full((10, 23), np.nan)), "NaN"),
        (dict(joints=np.zeros((0, 23)), root_pos=np.zeros((0, 3)), root_quat=np.zeros((0, 4))), "T >= 1"),
        (dict(root_pos=np.zeros((9, 3))), "do not match 10 frames"),
        (dict(root_quat=np.zeros((10, 4))), "zero quaternions"),
        (dict(joints=np.full((10, 23), 3.0)), "limit"),
    ],
)
def test_bad_files_rejected(tmp_path, over, message):
    _write(tmp_path / "bad.h5", **over)
    with pytest.raises(MotionClipError, match=message):
        import_videomimic_h5(tmp_path / "bad.h5", 23)


def test_not_hdf5(tmp_path):
    (tmp_path / "x.h5").write_text("not hdf5")
    with pytest.raises(MotionClipError, match="not a readable HDF5"):
        import_videomimic_h5(tmp_path / "x.h5")
    with pytest.raises(MotionClipError, match="does not exist"):
        import_videomimic_h5(tmp_path / "none.h5")


def test_cli_imports_h5(tmp_path, capsys):
    from hsi_offline.cli import main as cli_main
    from hsi_offline.motion.clip import load

    clip = _clip(29)
    export_videomimic_h5(clip, tmp_path / "retarget_poses_g1.h5")
    assert cli_main(["retarget", str(tmp_path / "retarget_poses_g1.h5"), "--out", str(tmp_path / "g1")]) == 0
    back = load(tmp_path / "g1" / "motion.npz")  # 29 -> 23 by name, FK re-derived, validated on load
    assert back.dof == 23 and back.num_frames == 40 and "imported 40 frames" in capsys.readouterr().out
