import numpy as np
import pytest

from hsi_kernel.contract import (
    LOCKED_IN_23,
    NUM_MOTOR_SLOTS,
    convert_joint_vector,
    get_contract,
    stand_gains,
)


def test_29dof_slots_are_contiguous_and_23dof_sparse():
    c29, c23 = get_contract(29), get_contract(23)
    assert list(c29.motor_slots) == list(range(29))
    assert list(c23.motor_slots) == [*range(13), *range(15, 20), *range(22, 27)]
    assert set(c23.inert_slots) == {13, 14, 20, 21, 27, 28}
    assert not set(c23.joint_names) & set(LOCKED_IN_23)


def test_videomimic_default_pose_and_gains():
    c = get_contract(23)
    q = dict(zip(c.joint_names, c.default_q))
    assert q["left_hip_pitch_joint"] == -0.1 and q["right_knee_joint"] == 0.3
    assert q["left_ankle_pitch_joint"] == -0.2 and q["waist_yaw_joint"] == 0.0
    kp = dict(zip(c.joint_names, c.kp))
    kd = dict(zip(c.joint_names, c.kd))
    assert kp["left_knee_joint"] == 75 and kd["left_knee_joint"] == 2
    assert kp["left_ankle_pitch_joint"] == 20 and kd["left_ankle_pitch_joint"] == 0.2
    assert kd["left_ankle_roll_joint"] == 0.1
    assert np.all(c.lower < c.default_q) and np.all(c.default_q < c.upper)
    kp_s, _ = stand_gains(c)
    assert kp_s[c.index("left_knee_joint")] > kp[("left_knee_joint")]


def test_slot_scatter_gather_and_dof_conversion():
    c = get_contract(23)
    v = np.arange(23, dtype=float) + 1
    slots = c.joints_to_slots(v)
    assert slots.shape == (NUM_MOTOR_SLOTS,) and slots[13] == 0 and slots[15] == v[13]
    np.testing.assert_array_equal(c.slots_to_joints(slots), v)
    v29 = convert_joint_vector(v, 23, 29)
    assert v29[get_contract(29).index("waist_roll_joint")] == 0
    np.testing.assert_array_equal(convert_joint_vector(v29, 29, 23), v)


def test_bad_dof_and_names_are_clear_errors():
    with pytest.raises(ValueError, match="unsupported G1 DoF 27"):
        get_contract(27)
    with pytest.raises(KeyError, match="not in the 23-DoF"):
        get_contract(23).index("waist_pitch_joint")
    with pytest.raises(ValueError, match="expected 23"):
        convert_joint_vector(np.zeros(22), 23, 29)
    assert get_contract(23).accepts_mode_machine(4) and not get_contract(23).accepts_mode_machine(5)
