"""Real box-climbing mocap from holosoma-retargeting (test-only reference wheel): import, terrain from the box
meshes, retarget onto the G1 over the boxes; OBJ -> heightfield on small meshes written here; bad inputs."""

from __future__ import annotations

from pathlib import Path

import holosoma_retargeting
import numpy as np
import pytest
from holosoma_retargeting.config_types.data_type import MOCAP_DEMO_JOINTS

from hsi_offline.retarget.human import resample_human
from hsi_offline.retarget.inputs import detect_format, open_input
from hsi_offline.retarget.mesh_terrain import read_obj, terrain_from_meshes
from hsi_offline.retarget.mocap_climb import MOCAP_53, ROBOT_SCALE, busiest_window, load_mocap_climb
from hsi_offline.retarget.pipeline import retarget_clip
from hsi_offline.retarget.quality import evaluate, soles
from hsi_offline.retarget.warm_start import ik_clip

CLIMB = Path(holosoma_retargeting.__file__).parent / "demo_data" / "climb"

BOX_OBJ = """# a 1 x 0.5 m box, 0.4 m high, corner at (0.2, -0.25)
v 0.2 -0.25 0
v 1.2 -0.25 0
v 1.2 0.25 0
v 0.2 0.25 0
v 0.2 -0.25 0.4
v 1.2 -0.25 0.4
v 1.2 0.25 0.4
v 0.2 0.25 0.4
f 1 2 3 4
f 5 6 7 8
f 1 2 6 5
f 2 3 7 6
f 3 4 8 7
f 4 1 5 8
"""


def test_joint_order_is_holosomas():
    assert list(MOCAP_53) == list(MOCAP_DEMO_JOINTS)


def test_box_mesh_becomes_heightfield(tmp_path):
    (tmp_path / "box.obj").write_text(BOX_OBJ)
    v, f = read_obj(tmp_path / "box.obj")
    assert v.shape == (8, 3) and f.shape == (12, 3)  # quads fanned into triangles
    t = terrain_from_meshes([(v, f)], np.array([[0.0, 0.0], [2.0, 0.0]]), res=0.02, margin=0.5)
    h = t.height_at(np.array([[0.7, 0.0], [0.25, 0.2], [1.15, -0.2], [0.0, 0.0], [1.5, 0.0], [0.7, 0.4]]))
    np.testing.assert_allclose(h, [0.4, 0.4, 0.4, 0.0, 0.0, 0.0], atol=1e-9)
    xmin, xmax, ymin, ymax = t.extent
    assert xmin <= -0.5 + 1e-9 and xmax >= 2.5 - 0.02 and ymin <= -0.5 + 1e-9


def test_tilted_slab_and_floor_slab(tmp_path):
    """A ramp keeps its slope; a huge floor slab does not make a huge heightfield (area = motion + margin)."""
    ramp = np.array([[0, 0, 0], [1, 0, 0.5], [1, 1, 0.5], [0, 1, 0]], float)
    floor = np.array([[-10, -10, 0], [10, -10, 0], [10, 10, 0], [-10, 10, 0]], float)
    quad = np.array([[0, 1, 2], [0, 2, 3]])
    t = terrain_from_meshes([(ramp, quad), (floor, quad)], np.array([[0.5, 0.5]]), res=0.02, margin=1.0)
    assert t.shape[0] < 120 and t.shape[1] < 120
    np.testing.assert_allclose(t.height_at(np.array([[0.5, 0.5], [0.9, 0.1]])), [0.25, 0.45], atol=1e-6)


@pytest.mark.parametrize(
    "text, why",
    [
        ("v 0 0 0\nv 1 0 0\n", "no vertices or no faces"),
        ("v 0 0 0\nf 1 2 3\n", "out of range"),
        ("v 0 zero 0\n", "cannot parse"),
    ],
)
def test_bad_obj_rejected(tmp_path, text, why):
    (tmp_path / "bad.obj").write_text(text)
    with pytest.raises(ValueError, match=why):
        read_obj(tmp_path / "bad.obj")


def test_import_real_climb_sequence():
    folder = CLIMB / "mocap_climb_seq_0"
    assert detect_format(folder) == "holosoma_climb"
    h = open_input(folder)
    raw = np.load(next(folder.glob("*joint_positions*.npy")))
    assert h.num_frames == raw.shape[0] and h.fps == 120.0
    np.testing.assert_allclose(h.keypoints[:, 0], raw[:, MOCAP_53.index("Hips")], atol=1e-6)
    np.testing.assert_allclose(h.keypoints[:, 3], raw[:, MOCAP_53.index("LeftFoot")], atol=1e-6)
    # the boxes: 0.18, 0.47 and 0.95 m tops; the person stands on the tall one at some point
    levels = np.unique(np.round(h.terrain.heights, 2))
    assert {0.0, 0.18, 0.47, 0.95} <= set(levels.tolist())
    ground = h.terrain.height_at(h.keypoints[:, [3, 7], :2])  # under the ankles
    clearance = h.keypoints[:, [3, 7], 2] - ground
    assert ground.max() > 0.9
    assert np.percentile(clearance, 1) > -0.02  # ankles are not inside the boxes: meshes and joints agree
    assert h.contacts[ground.max(axis=1) > 0.9].any()  # standing on the top box counts as contact


def test_bad_climb_folders(tmp_path):
    with pytest.raises(ValueError, match="not a folder"):
        load_mocap_climb(tmp_path / "missing")
    with pytest.raises(ValueError, match="expected one"):
        load_mocap_climb(tmp_path)
    np.save(tmp_path / "x_joint_positions_f0-9.npy", np.zeros((10, 22, 3), np.float32))
    with pytest.raises(ValueError, match=r"expected \(T, 53, 3\)"):
        load_mocap_climb(tmp_path)
    np.save(tmp_path / "x_joint_positions_f0-9.npy", np.full((10, 53, 3), np.nan, np.float32))
    with pytest.raises(ValueError, match="NaN"):
        load_mocap_climb(tmp_path)


def test_retarget_climb_onto_the_boxes():
    """The G1 climbs down from the 0.95 m box (64 frames at 30 fps): no limit violation, soles on the boxes
    while in contact (the per-frame IK knows no terrain and floats or sinks), less skating, penetration below
    3 cm (the person sits on the box's edge, where the robot's shorter legs pull its hip into the edge) and
    keypoint error no worse than the IK."""
    h = resample_human(load_mocap_climb(CLIMB / "mocap_climb_seq_0"), 30.0)
    s = busiest_window(h, 64)
    h.keypoints, h.confidence, h.contacts = (
        h.keypoints[s : s + 64],
        h.confidence[s : s + 64],
        h.contacts[s : s + 64],
    )
    assert np.ptp(h.terrain.height_at(h.keypoints[:, [3, 7], :2])) > 0.4  # the window has a climb in it
    clip, res, rep = retarget_clip(h, 23)
    ik, _ = ik_clip(h, 23, 8)
    ref = evaluate(ik, h, res.nominal_scales)
    assert rep.joint_limit_violations == 0
    assert rep.penetration_max_cm < 3.0

    def contact_gap(c):  # mean |lowest sole corner - terrain| of the feet in contact, m
        sole = soles(23, c)  # (T,2,4,3)
        gap = (sole[..., 2] - h.terrain.height_at(sole[..., :2])).min(axis=2)
        return np.abs(gap[h.contacts]).mean()

    assert contact_gap(clip) < 0.01 and contact_gap(clip) < 0.5 * contact_gap(ik)
    assert rep.skating_cm_per_contact_frame < ref.skating_cm_per_contact_frame
    assert rep.keypoint_error_cm < ref.keypoint_error_cm + 0.3


def test_scaled_scene_scales_person_and_boxes_together():
    folder = CLIMB / "mocap_climb_seq_1"
    real = load_mocap_climb(folder)
    small = load_mocap_climb(folder, scale=ROBOT_SCALE)
    np.testing.assert_allclose(small.keypoints, real.keypoints * ROBOT_SCALE, atol=1e-9)
    assert abs(small.terrain.heights.max() - 0.95 * ROBOT_SCALE) < 1e-6
    feet = small.keypoints[:, [3, 7], :2]  # the feet stand on the same (scaled) box tops
    diff = small.terrain.height_at(feet) - real.terrain.height_at(feet / ROBOT_SCALE) * ROBOT_SCALE
    assert np.mean(np.abs(diff) < 0.01) > 0.99  # (the rest: feet right on a box edge, 2 cm grid)
    with pytest.raises(ValueError, match="scale"):
        load_mocap_climb(folder, scale=0.0)
