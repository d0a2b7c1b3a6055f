"""Joystick -> root target core: VideoMimic's mapping, dead zone, rate limit, goal pose, profiles, buttons."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hsi_kernel.unitree.remote import AXES, BUTTONS
from hsi_robot_nodes.joystick.buttons import ButtonMapper
from hsi_robot_nodes.joystick.profiles import UNITREE, XBOX, get_profile, read_joy
from hsi_robot_nodes.joystick.root_command import (
    RootCommand,
    RootCommandConfig,
    dead_zone,
    goal_to_local,
    sticks_to_offset,
    yaw_from_quat_xyzw,
)


def test_videomimic_mapping_at_full_deflection():
    cfg = RootCommandConfig()
    np.testing.assert_allclose(sticks_to_offset(0.0, 1.0, 0.0, cfg), [0.5, 0.0, 0.0])  # ly forward
    np.testing.assert_allclose(sticks_to_offset(1.0, 0.0, 0.0, cfg), [0.0, -0.5, 0.0])  # lx right: y < 0
    np.testing.assert_allclose(sticks_to_offset(0.0, 0.0, -1.0, cfg), [0.0, 0.0, 0.3])  # rx left -> yaw left
    np.testing.assert_allclose(sticks_to_offset(0.0, -2.0, 0.0, cfg), [-0.5, 0.0, 0.0])  # saturates


def test_dead_zone_is_zero_inside_and_continuous_outside():
    assert dead_zone(0.09, 0.1) == 0.0 and dead_zone(-0.1, 0.1) == 0.0
    assert dead_zone(0.1 + 1e-9, 0.1) == pytest.approx(0.0, abs=1e-8)
    assert dead_zone(0.55, 0.1) == pytest.approx(0.5)
    assert dead_zone(-1.0, 0.1) == -1.0
    assert dead_zone(float("nan"), 0.1) == 0.0


def test_rate_limit_bounds_change_per_cycle():
    rc = RootCommand(RootCommandConfig(max_rate_xy=1.0, max_rate_yaw=1.5))
    rc.set_sticks(0.0, 1.0, -1.0)
    outs = [rc.step(0.02, 0.02 * (k + 1)) for k in range(40)]
    np.testing.assert_allclose(outs[0], [0.02, 0.0, 0.03])  # 1 m/s and 1.5 rad/s over 20 ms
    assert np.all(np.abs(np.diff(np.array(outs), axis=0)[:, 0]) <= 0.02 + 1e-12)
    np.testing.assert_allclose(outs[-1], [0.5, 0.0, 0.3])  # reaches the target and stays
    rc.set_sticks(0.0, 0.0, 0.0)
    np.testing.assert_allclose(rc.step(0.02, 1.0), [0.48, 0.0, 0.27])


def test_goal_pose_to_local_offset():
    # robot at (1, 2) facing +y (yaw 90 deg); a goal 0.3 m further along +y is 0.3 m straight ahead
    np.testing.assert_allclose(
        goal_to_local((1.0, 2.3, math.pi / 2), (1.0, 2.0, math.pi / 2)), [0.3, 0, 0], atol=1e-12
    )
    # a goal at +x in the world is to the robot's right: y negative
    np.testing.assert_allclose(
        goal_to_local((1.2, 2.0, 0.0), (1.0, 2.0, math.pi / 2)), [0.0, -0.2, -math.pi / 2], atol=1e-12
    )
    # yaw offset wraps to (-pi, pi]
    assert goal_to_local((0, 0, 3.0), (0, 0, -3.0))[2] == pytest.approx(6.0 - 2 * math.pi)


def test_goal_mode_clamps_needs_odometry_and_yields_to_sticks():
    rc = RootCommand(RootCommandConfig(max_rate_xy=100.0, max_rate_yaw=100.0, odom_timeout_s=0.5))
    rc.set_goal(5.0, 0.0, 1.0)
    assert np.allclose(rc.step(0.02, 0.0), 0) and rc.source == "goal_no_odometry"
    rc.set_odometry(0.0, 0.0, 0.0, t=0.0)
    np.testing.assert_allclose(rc.step(0.02, 0.1), [0.5, 0.0, 0.3])  # clamped to the joystick's range
    assert rc.source == "goal"
    assert np.allclose(rc.step(0.02, 0.7), 0) and rc.source == "goal_no_odometry"  # odometry went stale
    rc.set_odometry(0.0, 0.0, 0.0, t=0.7)
    rc.set_sticks(0.0, -1.0, 0.0)  # operator pulls back: sticks win
    np.testing.assert_allclose(rc.step(0.02, 0.72), [-0.5, 0.0, 0.0])
    assert rc.source == "joystick"


def test_one_non_finite_sample_of_any_input_is_dropped_counted_and_never_poisons_the_command():
    nan, inf = float("nan"), float("inf")
    rc = RootCommand(RootCommandConfig(max_rate_xy=100.0, max_rate_yaw=100.0))
    assert rc.set_goal(1.0, 0.0, 0.0) and rc.set_odometry(0.0, 0.0, 0.0, t=0.0)
    assert not rc.set_odometry(nan, 0.0, 0.0, t=0.02)  # one bad odometry sample with a goal set
    assert not rc.set_odometry(0.0, 0.0, inf, t=0.02)
    assert not rc.set_goal(nan, 0.0, 0.0)
    assert not rc.set_sticks(nan, 0.0, 0.0)
    assert rc.dropped == {"odometry": 2, "goal": 1, "sticks": 1}
    out = rc.step(0.02, 0.04)
    np.testing.assert_allclose(out, [0.5, 0.0, 0.0])  # the last finite goal and odometry still drive it
    assert rc.set_odometry(0.8, 0.0, 0.0, t=0.06)
    np.testing.assert_allclose(rc.step(0.02, 0.06), [0.2, 0.0, 0.0])
    rc.clear_goal()
    assert rc.set_sticks(0.0, 1.0, 0.0)
    np.testing.assert_allclose(rc.step(0.02, 0.08), [0.5, 0.0, 0.0])
    assert np.isfinite(rc.output).all()


def test_yaw_from_quaternion():
    assert yaw_from_quat_xyzw(0, 0, math.sin(0.35), math.cos(0.35)) == pytest.approx(0.7)


def test_profiles_map_to_unitree_convention():
    axes = [0.0] * len(AXES)
    axes[AXES.index("ly")], axes[AXES.index("lx")] = 0.7, -0.2
    buttons = [0] * len(BUTTONS)
    buttons[BUTTONS.index("B")] = 1
    sticks, pressed = read_joy(UNITREE, axes, buttons)
    assert sticks == {"lx": -0.2, "ly": 0.7, "rx": 0.0} and pressed == {"B"}
    # ROS joy xbox: left stick pushed LEFT is axis 0 = +1, i.e. Unitree lx = -1 -> y offset +0.5 (left)
    sticks, pressed = read_joy(XBOX, [1.0, 0.0, 0.0, 0.0, 0.0], [1, 0, 0, 0, 0, 0, 0, 1])
    assert sticks["lx"] == -1.0 and pressed == {"A", "start"}
    assert sticks_to_offset(sticks["lx"], sticks["ly"], sticks["rx"], RootCommandConfig())[1] == 0.5
    assert read_joy(XBOX, [], [])[0] == {"lx": 0.0, "ly": 0.0, "rx": 0.0}  # short message reads centred
    with pytest.raises(ValueError, match="unknown joystick profile"):
        get_profile("ps9")


def test_buttons_fire_on_rising_edge_and_toggle_policy():
    m = ButtonMapper(forward_events=True)
    assert m.update({"start"}) == (["start"], None)
    assert m.update({"start"}) == ([], None)  # held: nothing again
    assert m.update({"A", "B"}) == (["run"], "blind")
    assert m.update(set()) == ([], None)
    assert m.update({"B"}) == ([], "terrain")
    assert m.update({"select", "B"}) == (["damp"], None)
    quiet = ButtonMapper(forward_events=False)  # Unitree remote: the bridge reads these buttons itself
    assert quiet.update({"start", "B"}) == ([], "blind")
