"""Clip-folder files: schema validation, atomic writes, the full writer (mesh, pictures, report)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from hsi_kernel.terrain import Terrain, make_scene_terrain
from hsi_offline.reconstruct.artifacts import (
    HumanMotion,
    atomic_path,
    load_camera,
    load_human_motion,
    save_human_motion,
)
from hsi_offline.reconstruct.body_skeleton import BLAZEPOSE, SMPL_24, hip_joints_from_blazepose
from hsi_offline.reconstruct.clip_folder import write_clip
from hsi_offline.reconstruct.gait import walk
from hsi_offline.reconstruct.solve import reconstruct
from hsi_offline.reconstruct.synthetic_scenes import make_clip, place_on_terrain


def _motion(T: int = 10) -> HumanMotion:
    rng = np.random.default_rng(0)
    return HumanMotion(
        rng.standard_normal((T, 24, 3)),
        SMPL_24,
        rng.random((T, 2)) > 0.5,
        rng.random((T, 24)),
        30.0,
        np.ones(T, bool),
        {"hip_centre": rng.standard_normal((T, 3))},
    )


def test_human_motion_roundtrip(tmp_path: Path) -> None:
    m = _motion()
    save_human_motion(m, tmp_path / "human_motion.npz")
    back = load_human_motion(tmp_path)  # a clip folder works too
    np.testing.assert_allclose(back.joints, m.joints, atol=1e-6)
    assert back.joint_names == SMPL_24 and back.fps == 30.0
    np.testing.assert_array_equal(back.contacts, m.contacts)
    assert set(back.extras) == {"hip_centre"}
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp files left


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (dict(joints=np.zeros((10, 24, 2))), "joints must be"),
        (dict(contacts=np.zeros((10, 3), bool)), "contacts must be"),
        (dict(confidences=np.full((10, 24), 2.0)), "confidences must be"),
        (dict(fps=0.0), "fps"),
        (dict(joint_names=SMPL_24[:5]), "joint names"),
    ],
)
def test_human_motion_validation(change: dict, message: str) -> None:
    m = _motion()
    kw = dict(
        joints=m.joints,
        joint_names=m.joint_names,
        contacts=m.contacts,
        confidences=m.confidences,
        fps=m.fps,
        valid=m.valid,
    )
    kw.update(change)
    with pytest.raises(ValueError, match=message):
        HumanMotion(**kw)


def test_load_rejects_wrong_schema_and_garbage(tmp_path: Path) -> None:
    np.savez(tmp_path / "a.npz", schema="something/1", joints=np.zeros((2, 1, 3)))
    with pytest.raises(ValueError, match="expected hsi_robot.human_motion/1"):
        load_human_motion(tmp_path / "a.npz")
    (tmp_path / "b.npz").write_bytes(b"garbage")
    with pytest.raises(ValueError, match="not a (readable|valid) human motion"):
        load_human_motion(tmp_path / "b.npz")
    with pytest.raises(FileNotFoundError, match="run `hsi-offline reconstruct` first"):
        load_human_motion(tmp_path / "missing.npz")


def test_atomic_path_leaves_nothing_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "x.json"
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []


def test_blazepose_hip_mapping_is_inside_and_below() -> None:
    J = np.zeros((1, 33, 3))
    J[0, BLAZEPOSE.left_hip] = [0.15, 0, 0]
    J[0, BLAZEPOSE.right_hip] = [-0.15, 0, 0]
    J[0, 11] = [0.2, 0, 0.5]
    J[0, 12] = [-0.2, 0, 0.5]
    h = hip_joints_from_blazepose(J)
    width = np.linalg.norm(h["left_hip"] - h["right_hip"])
    assert width == pytest.approx(0.64 * 0.30)
    assert h["hip_centre"][0, 2] == pytest.approx(-0.09)  # 0.30 x hip width below


def test_write_clip_folder(tmp_path: Path) -> None:
    import open3d as o3d

    ter = make_scene_terrain("kerb", 0.02)
    gt, c = place_on_terrain(walk(4.0, 30.0, speed=0.8), 30.0, ter)
    rec = reconstruct(make_clip(gt, 30.0, ter, c, False, seed=2).obs)
    report = write_clip(rec, tmp_path / "clip", {"source": "test"})
    names = {p.name for p in (tmp_path / "clip").iterdir()}
    assert names == {
        "human_motion.npz",
        "terrain.npz",
        "terrain_mesh.ply",
        "camera.npz",
        "report.json",
        "contact_sheet.png",
        "terrain_topdown.png",
    }
    assert (
        json.loads((tmp_path / "clip" / "report.json").read_text())["schema"]
        == "hsi_robot.reconstruct_report/1"
    )
    assert 1.4 < report["body_height_m"] < 2.0
    t = Terrain.load(tmp_path / "clip" / "terrain.npz")
    assert 0.02 <= t.resolution <= 0.05
    mesh = o3d.io.read_triangle_mesh(str(tmp_path / "clip" / "terrain_mesh.ply"))
    assert len(mesh.triangles) == 2 * (t.shape[0] - 1) * (t.shape[1] - 1)
    cam = load_camera(tmp_path / "clip" / "camera.npz")
    m = load_human_motion(tmp_path / "clip")
    uv = cam.project(m.joints)
    assert np.all(np.isfinite(uv)) and cam.static


def test_view_serves_a_clip(tmp_path: Path) -> None:
    import viser

    from hsi_offline.reconstruct.view import build_scene

    ter = make_scene_terrain("flat", 0.05)
    gt, c = place_on_terrain(walk(2.0, 30.0, speed=0.8), 30.0, ter)
    rec = reconstruct(make_clip(gt, 30.0, ter, c, False, seed=2).obs)
    write_clip(rec, tmp_path / "clip")
    import socket

    with socket.socket() as sock:  # a free port
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = viser.ViserServer(host="127.0.0.1", port=port)
    try:
        motion, show = build_scene(server, tmp_path / "clip")
        show(motion.num_frames - 1)
        assert motion.num_frames == len(gt)
    finally:
        server.stop()
