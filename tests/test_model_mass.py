"""The 23-DoF G1 weighs what Unitree publishes for its 23-DoF robot (rubber hands, no waist yaw/roll links).

The figures below are copied from Unitree's published description (unitreerobotics/unitree_ros@d6f13aa,
robots/g1_description/g1_23dof_rev_1_0.xml, which agrees with g1_23dof_rev_1_0.urdf) and typed here by
hand, so that a change of ``models/g1_description.yaml`` or of the builder cannot move the model and its
reference together.
"""

import mujoco
import numpy as np
import pytest

from hsi_kernel.model.mjcf_builder import build_mjcf, model_path
from hsi_kernel.model.urdf_builder import build_urdf

# body -> mass (kg) in Unitree's g1_23dof_rev_1_0.xml; the rubber hands are named
# `{side}_wrist_roll_rubber_hand` there.
PUBLISHED_23_MASS = {
    "pelvis": 3.813,
    "left_hip_pitch_link": 1.35,
    "left_hip_roll_link": 1.52,
    "left_hip_yaw_link": 1.702,
    "left_knee_link": 1.932,
    "left_ankle_pitch_link": 0.074,
    "left_ankle_roll_link": 0.608,
    "right_hip_pitch_link": 1.35,
    "right_hip_roll_link": 1.52,
    "right_hip_yaw_link": 1.702,
    "right_knee_link": 1.932,
    "right_ankle_pitch_link": 0.074,
    "right_ankle_roll_link": 0.608,
    "torso_link": 7.818,
    "left_shoulder_pitch_link": 0.718,
    "left_shoulder_roll_link": 0.643,
    "left_shoulder_yaw_link": 0.734,
    "left_elbow_link": 0.6,
    "left_wrist_roll_link": 0.356929,
    "right_shoulder_pitch_link": 0.718,
    "right_shoulder_roll_link": 0.643,
    "right_shoulder_yaw_link": 0.734,
    "right_elbow_link": 0.6,
    "right_wrist_roll_link": 0.356929,
}
PUBLISHED_23_TOTAL = 32.106858
PUBLISHED_29_TOTAL = 33.341142  # unitree_ros g1_29dof_rev_1_0.xml
# The rubber hand (left): centre of mass and principal inertia, g1_23dof_rev_1_0.xml.
RUBBER_HAND_COM = (0.107947, 0.00163512, 0.00202245)
RUBBER_HAND_INERTIA = (0.00200292, 0.0019426, 0.000195232)
# Where Unitree's 23-DoF torso sits in the pelvis frame (at zero waist yaw).
TORSO_IN_PELVIS_23 = (-0.0039635, 0.0, 0.044)
FRAMES_23 = {
    "waist_yaw_link",
    "waist_roll_link",
    "left_wrist_pitch_link",
    "left_wrist_yaw_link",
    "right_wrist_pitch_link",
    "right_wrist_yaw_link",
}


def _model(dof):
    return mujoco.MjModel.from_xml_path(str(model_path(dof)))


def _body(m, name):
    i = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_BODY, name)
    assert i >= 0, name
    return i


def test_23dof_total_and_per_link_masses_are_unitrees():
    m = _model(23)
    assert m.body_mass.sum() == pytest.approx(PUBLISHED_23_TOTAL, abs=1e-6)
    assert sum(PUBLISHED_23_MASS.values()) == pytest.approx(PUBLISHED_23_TOTAL, abs=1e-6)
    for name, mass in PUBLISHED_23_MASS.items():
        assert m.body_mass[_body(m, name)] == pytest.approx(mass, abs=1e-9), name
    others = {mujoco.mj_id2name(m, mujoco.mjtObj.mjOBJ_BODY, i) for i in range(1, m.nbody)} - set(
        PUBLISHED_23_MASS
    )
    # besides the published links only massless frames (the 29-DoF waist and wrist links' frames)
    assert others == FRAMES_23
    for name in others:
        assert m.body_mass[_body(m, name)] == 0.0, name
        np.testing.assert_array_equal(m.body_inertia[_body(m, name)], 0.0)


def test_23dof_hands_and_torso_carry_the_published_inertials():
    m = _model(23)
    for side, sign in (("left", 1.0), ("right", -1.0)):
        hand = _body(m, f"{side}_wrist_roll_link")
        com = np.array(RUBBER_HAND_COM) * [1.0, sign, 1.0]
        np.testing.assert_allclose(m.body_ipos[hand], com, atol=1e-8)
        np.testing.assert_allclose(m.body_inertia[hand], RUBBER_HAND_INERTIA, rtol=1e-6)
        # the whole hand turns with the roll joint: the welded frames add nothing to it
        assert m.body_subtreemass[hand] == pytest.approx(0.356929, abs=1e-9)
    torso = _body(m, "torso_link")
    assert m.body_mass[torso] == pytest.approx(7.818) and m.body_subtreemass[torso] == pytest.approx(
        7.818 + 2 * (0.718 + 0.643 + 0.734 + 0.6 + 0.356929)
    )
    d = mujoco.MjData(m)
    mujoco.mj_kinematics(m, d)
    np.testing.assert_allclose(d.xpos[torso] - d.xpos[_body(m, "pelvis")], TORSO_IN_PELVIS_23, atol=1e-9)


def test_29dof_keeps_its_own_upper_body():
    m = _model(29)
    assert m.body_mass.sum() == pytest.approx(PUBLISHED_29_TOTAL, abs=1e-6)
    for name, mass in (
        ("waist_yaw_link", 0.214),
        ("waist_roll_link", 0.086),
        ("left_wrist_roll_link", 0.085445),
    ):
        assert m.body_mass[_body(m, name)] == pytest.approx(mass, abs=1e-9), name
    assert m.body_mass[_body(m, "left_wrist_yaw_link")] == pytest.approx(0.254576, abs=1e-9)


@pytest.mark.parametrize("dof", [23, 29])
def test_urdf_carries_the_same_masses(dof):
    """Retargeting reads the URDF: it must describe the same body as the MJCF."""
    import xml.etree.ElementTree as ET

    urdf = ET.fromstring(build_urdf(dof).split("\n", 2)[2])
    masses = {link.get("name"): float(link.find("inertial/mass").get("value")) for link in urdf.iter("link")}
    m = _model(dof)
    assert sum(masses.values()) == pytest.approx(m.body_mass.sum(), abs=1e-6)
    for name, mass in masses.items():
        assert m.body_mass[_body(m, name)] == pytest.approx(mass, abs=1e-9), name
    assert model_path(dof).read_text() == build_mjcf(dof), "run `hsi-robot model build`"
