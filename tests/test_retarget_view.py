"""``hsi-offline view`` on a retargeted clip folder: a real viser server on a free port gets the terrain,
the G1's collision shapes posed by MuJoCo kinematics and the human keypoints; no browser needed."""

from __future__ import annotations

import socket

import mujoco
import numpy as np
import pytest
import viser

from hsi_kernel.model.kinematics import load_model
from hsi_offline.motion.quat import to_matrix
from hsi_offline.reconstruct.view import build_scene
from hsi_offline.retarget.human import load_keypoints_npz
from hsi_offline.retarget.pipeline import write_clip_folder
from hsi_offline.retarget.problem import nominal_scales
from hsi_offline.retarget.quality import evaluate
from hsi_offline.retarget.synthetic_human import stair_climb
from hsi_offline.retarget.view_robot import HUMAN_FILE, capsule_mesh, robot_shapes
from hsi_offline.retarget.warm_start import ik_clip


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    h = stair_climb()
    n = 40
    h.keypoints, h.confidence, h.contacts = h.keypoints[:n], h.confidence[:n], h.contacts[:n]
    clip, _ = ik_clip(h, 23, 4)
    out = tmp_path_factory.mktemp("g1")
    write_clip_folder(out, clip, h, evaluate(clip, h, nominal_scales(h, 23)), picture=False)
    return out


def test_capsule_mesh_is_closed_and_sized():
    V, F = capsule_mesh(0.05, 0.1)
    np.testing.assert_allclose([V[:, 2].min(), V[:, 2].max()], [-0.15, 0.15], atol=1e-6)
    assert np.linalg.norm(V[:, :2], axis=1).max() <= 0.05 + 1e-6
    edges = np.sort(np.concatenate([F[:, [0, 1]], F[:, [1, 2]], F[:, [2, 0]]]), axis=1)
    _, counts = np.unique(edges, axis=0, return_counts=True)
    assert np.all(counts == 2)  # every edge shared by two triangles: a closed surface


def test_view_builds_robot_human_and_terrain(folder):
    assert (folder / "motion.npz").is_file() and (folder / HUMAN_FILE).is_file()
    human = load_keypoints_npz(folder / HUMAN_FILE)
    server = viser.ViserServer(host="127.0.0.1", port=_free_port())
    try:
        clip, show = build_scene(server, folder)
        nodes = server.scene._handle_from_node_name
        shapes = robot_shapes(23)
        assert clip.num_frames == 40 and "/terrain" in nodes and "/human/keypoints" in nodes
        assert sum(name.startswith("/g1/geom") for name in nodes) == len(shapes.geoms) > 10
        t = 37
        show(t)
        np.testing.assert_allclose(nodes["/human/keypoints"].points, human.keypoints[t], atol=2e-3)  # float16
        # the pelvis shape sits where the clip's root puts it (independent of the viewer's kinematics)
        model = load_model(23)
        pelvis = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, "pelvis")
        i = int(np.flatnonzero(model.geom_bodyid[shapes.geoms] == pelvis)[0])
        expected = clip.root_pos[t] + to_matrix(clip.root_quat[t]) @ model.geom_pos[shapes.geoms[i]]
        np.testing.assert_allclose(nodes[f"/g1/geom{i}"].position, expected, atol=1e-6)
        assert np.linalg.norm(nodes[f"/g1/geom{i}"].position - clip.root_pos[0]) > 0.05  # it moved
    finally:
        server.stop()


def test_stale_human_file_not_drawn_and_flat_ground(folder, tmp_path):
    """A motion.npz alone (flat ground: no terrain file) shows the robot on a grid; keypoints of another
    length are not drawn against it."""
    (tmp_path / "motion.npz").write_bytes((folder / "motion.npz").read_bytes())
    h = load_keypoints_npz(folder / HUMAN_FILE)
    h.keypoints, h.confidence, h.contacts = h.keypoints[:10], h.confidence[:10], h.contacts[:10]
    from hsi_offline.retarget.human import save_keypoints_npz

    save_keypoints_npz(h, tmp_path / HUMAN_FILE)
    server = viser.ViserServer(host="127.0.0.1", port=_free_port())
    try:
        clip, show = build_scene(server, tmp_path)
        show(clip.num_frames - 1)
        nodes = server.scene._handle_from_node_name
        assert "/ground" in nodes and "/terrain" not in nodes and "/human/keypoints" not in nodes
    finally:
        server.stop()
