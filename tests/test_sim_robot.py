"""Physics-level checks of the simulated G1 (no DDS)."""

import mujoco
import numpy as np
import pytest

from hsi_kernel.contract import NOMINAL_ROOT_HEIGHT, get_contract, stand_gains
from hsi_kernel.motor import MotorCommand, hold_default_command, pd_torque
from hsi_kernel.terrain import SCENES, Terrain, TerrainError, make_scene_terrain
from hsi_sim.robot_sim import SimRobot
from hsi_sim.scene import build_scene


def _stand_cmd(dof):
    c = get_contract(dof)
    cmd = hold_default_command(dof)
    kp, kd = stand_gains(c)
    cmd.kp[c.motor_slots], cmd.kd[c.motor_slots] = kp, kd
    return cmd


@pytest.mark.parametrize("dof", [23, 29])
def test_constant_default_pose_command_stands_10s(dof):
    robot = SimRobot(build_scene("flat", dof))
    robot.set_command(_stand_cmd(dof))
    heights = []
    for _ in range(100):  # 10 s of 2 ms steps
        robot.step(50)
        heights.append(robot.base_height())
    assert np.max(np.abs(np.array(heights[10:]) - NOMINAL_ROOT_HEIGHT)) < 0.03


def test_videomimic_gains_hold_on_the_band_and_fall_without_it():
    """VideoMimic's soft ankles (Kp 20) cannot balance a static pose: a gantry is needed before the policy."""
    for band, should_stand in ((True, True), (False, False)):
        robot = SimRobot(build_scene("flat", 23), band=band)
        robot.set_command(hold_default_command(23))
        robot.step(2500)
        assert (robot.base_height() > 0.6) == should_stand


def test_pd_law_clips_and_respects_mode():
    cmd = MotorCommand(
        np.array([1, 1, 0], np.uint8),
        np.array([1.0, -5.0, 1.0]),
        np.zeros(3),
        np.zeros(3),
        np.array([10.0, 100.0, 10.0]),
        np.ones(3),
    )
    tau = pd_torque(cmd, np.zeros(3), np.array([0.5, 0, 0]), np.array([50.0, 50.0, 50.0]))
    np.testing.assert_allclose(tau, [9.5, -50.0, 0.0])


def test_hfield_surface_equals_terrain_height_at():
    scene = build_scene("stairs")
    m, d = scene.model, mujoco.MjData(scene.model)
    mujoco.mj_forward(m, d)
    xs = np.linspace(0.9, 2.4, 400)  # dense across the step edges
    geomid = np.zeros(1, np.int32)
    for x in xs:
        dist = mujoco.mj_ray(m, d, np.array([x, 0.13, 3.0]), np.array([0, 0, -1.0]), None, 1, -1, geomid)
        assert abs((3.0 - dist) - scene.terrain.height_at(np.array([x, 0.13]))) < 1e-6


def test_scenes_build_and_bad_terrain_is_a_clear_error(tmp_path):
    for name in SCENES:
        assert build_scene(name).model.nq == 30
    with pytest.raises(TerrainError, match="unknown scene 'moon'"):
        make_scene_terrain("moon")
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(TerrainError, match="not a readable terrain npz"):
        Terrain.load(bad)
    np.savez(tmp_path / "nan.npz", heights=np.full((4, 4), np.nan), resolution=0.05, origin=[0, 0])
    with pytest.raises(TerrainError, match="NaN"):
        Terrain.load(tmp_path / "nan.npz")
    t = make_scene_terrain("kerb")
    t.save(tmp_path / "kerb.npz")
    kerb = build_scene(str(tmp_path / "kerb.npz")).terrain
    assert kerb.height_at(np.array([2.0, 0.0])) == pytest.approx(0.15)
