"""The project's G1 MJCF against Unitree's official description shipped in the holosoma wheel."""

from importlib.util import find_spec
from pathlib import Path

import mujoco
import numpy as np
import pytest

from hsi_kernel.contract import LOCKED_IN_23, get_contract
from hsi_kernel.model.mjcf_builder import build_mjcf, model_path

OFFICIAL = Path(find_spec("holosoma").submodule_search_locations[0]) / "data/robots/g1"


def _official():
    return mujoco.MjModel.from_xml_path(str(OFFICIAL / "scenes/scene_g1_29dof_wbt_plane.xml"))


@pytest.mark.parametrize("dof", [23, 29])
def test_committed_mjcf_is_what_the_builder_writes(dof):
    assert model_path(dof).read_text() == build_mjcf(dof), "run `hsi-robot model build`"


@pytest.mark.parametrize("dof", [23, 29])
def test_fk_axes_limits_mass_match_official(dof):
    ours = mujoco.MjModel.from_xml_path(str(model_path(dof)))
    off = _official()
    c = get_contract(dof)
    d_o, d_f = mujoco.MjData(ours), mujoco.MjData(off)

    def jid(m, n):
        return mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_JOINT, n)

    for name in c.joint_names:
        a, b = jid(ours, name), jid(off, name)
        np.testing.assert_allclose(ours.jnt_axis[a], off.jnt_axis[b], atol=1e-6, err_msg=name)
        np.testing.assert_allclose(ours.jnt_range[a], off.jnt_range[b], atol=1e-4, err_msg=name)
        np.testing.assert_allclose(ours.jnt_actfrcrange[a], off.jnt_actfrcrange[b], atol=1e-6, err_msg=name)
    shared = [mujoco.mj_id2name(ours, mujoco.mjtObj.mjOBJ_BODY, i) for i in range(1, ours.nbody)]
    shared = [n for n in shared if mujoco.mj_name2id(off, mujoco.mjtObj.mjOBJ_BODY, n) >= 0]
    assert len(shared) >= 30
    rng = np.random.default_rng(dof)
    for _ in range(25):
        q = rng.uniform(c.lower, c.upper)
        root = np.r_[rng.normal(size=3), rng.normal(size=4)]
        root[3:] /= np.linalg.norm(root[3:])
        for m, d in ((ours, d_o), (off, d_f)):
            d.qpos[:] = 0
            d.qpos[:7] = root
            for n, v in zip(c.joint_names, q):
                d.qpos[m.jnt_qposadr[jid(m, n)]] = v
            mujoco.mj_kinematics(m, d)
        for n in shared:
            a = mujoco.mj_name2id(ours, mujoco.mjtObj.mjOBJ_BODY, n)
            b = mujoco.mj_name2id(off, mujoco.mjtObj.mjOBJ_BODY, n)
            assert np.linalg.norm(d_o.xpos[a] - d_f.xpos[b]) < 1e-3, n
    if dof == 29:  # the 23-DoF robot is 1.23 kg lighter: tests/test_model_mass.py
        assert abs(ours.body_mass.sum() - off.body_mass.sum()) / off.body_mass.sum() < 0.02
    if dof == 23:
        assert all(jid(ours, n) < 0 for n in LOCKED_IN_23)
