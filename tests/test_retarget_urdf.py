"""The generated URDF (PyRoki's input) has the same kinematics as the generated MJCF (the simulator's)."""

from __future__ import annotations

import numpy as np
import pyroki as pk
import pytest

from hsi_kernel.contract import get_contract
from hsi_kernel.model.kinematics import fk_links, link_names
from hsi_kernel.model.urdf_builder import build_urdf, load_urdf


@pytest.mark.parametrize("dof", [23, 29])
def test_urdf_fk_equals_mjcf_fk_for_every_link(dof):
    contract = get_contract(dof)
    robot = pk.Robot.from_urdf(load_urdf(dof))
    assert sorted(robot.joints.actuated_names) == sorted(contract.joint_names)
    np.testing.assert_allclose(sorted(robot.joints.lower_limits), sorted(contract.lower), atol=1e-6)
    rng = np.random.default_rng(dof)
    q = rng.uniform(contract.lower, contract.upper, (8, dof))
    order = [contract.index(n) for n in robot.joints.actuated_names]
    urdf_poses = np.asarray(robot.forward_kinematics(q[:, order]))  # (8, links, wxyz+xyz), root frame
    names = link_names(dof)
    assert set(names) == set(robot.links.names)
    pos, quat = fk_links(dof, np.zeros((8, 3)), np.tile([1.0, 0, 0, 0], (8, 1)), q, names)
    idx = [robot.links.names.index(n) for n in names]
    np.testing.assert_allclose(urdf_poses[:, idx, 4:], pos, atol=2e-6)
    dots = np.abs(np.sum(urdf_poses[:, idx, :4] * quat, axis=-1))
    np.testing.assert_allclose(dots, 1.0, atol=1e-5)


def test_23dof_urdf_welds_the_missing_joints():
    text = build_urdf(23)
    assert 'name="waist_roll_joint" type="fixed"' in text
    assert 'name="left_knee_joint" type="revolute"' in text
