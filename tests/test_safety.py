"""The bridge's safety state machine, pure: no DDS, no simulator (on the wire: test_bridge_faults.py)."""

import numpy as np
import pytest

from hsi_kernel.contract import get_contract
from hsi_kernel.msgs.pd_targets import PdTargets
from hsi_robot_nodes.bridge.safety import LowStateView, SafetyConfig, SafetyMachine, State

C = get_contract(23)


def _low(t, q=None, quat=(1.0, 0, 0, 0), tick=None, dq=None):
    q = C.default_q.copy() if q is None else q
    return LowStateView(
        q=q,
        dq=np.zeros(23) if dq is None else dq,
        quat_wxyz=np.array(quat, float),
        gyro=np.zeros(3),
        temperature=np.full(23, 35.0),
        mode_machine=4,
        t=t,
        tick=round(t * 1000) if tick is None else tick,  # the robot's ms counter advances with time
        tau_est=np.zeros(23),
        acc=np.array([0.0, 0.0, 9.81]),
    )


def _targets(q):
    return PdTargets(C.joint_names, q, np.zeros(23), np.zeros(23), C.kp, C.kd)


def _running_machine():
    sm = SafetyMachine(C, SafetyConfig(stand_up_s=0.1))
    t = 0.0
    sm.on_lowstate(_low(t))
    sm.on_event("start", t)
    while sm.state != State.HOLD:
        t += 0.002
        sm.on_lowstate(_low(t))
        sm.tick(t)
    sm.on_targets(_targets(C.default_q), t)
    sm.on_event("run", t)
    assert sm.state == State.RUN
    return sm, t


def test_sequence_and_stale_policy_trips_within_three_cycles():
    sm, t = _running_machine()
    t_last = t
    while sm.state == State.RUN:
        t += 0.002
        sm.on_lowstate(_low(t))
        sm.tick(t)
    assert sm.state == State.DAMPING and "policy targets stale" in sm.reason
    assert t - t_last <= 3 * 0.02 + 0.004
    cmd = sm.tick(t + 0.002)
    assert np.all(cmd.kp == 0) and np.all(cmd.kd[C.motor_slots] > 0)


def test_lowstate_stale_trips_but_not_on_the_first_tick_after_the_bridge_itself_stalled():
    sm, t = _running_machine()
    sm.on_targets(_targets(C.default_q), t)
    t += 0.120  # the bridge process was descheduled for 120 ms: its readers have not run yet
    sm.tick(t)
    assert sm.state == State.RUN and sm.self_stalls == 1
    t += 0.002  # next punctual tick: the LowState is still 122 ms old, the policy's targets too -> trip
    sm.tick(t)
    assert sm.state == State.DAMPING and "LowState stale for 122 ms" in sm.reason


def test_a_lowstate_gap_is_not_blamed_on_the_policy_but_a_policy_silent_after_it_is():
    # the robot's LowState stops for 44 ms (shorter than the 50 ms LowState limit) and the policy answers the
    # first state after it 18 ms late: its targets are then 62 ms old, but it had nothing to answer during
    # the gap, so this is not a policy fault
    sm, t = _running_machine()
    for _ in range(5):
        t += 0.002
        sm.on_lowstate(_low(t))
        sm.tick(t)
    sm.on_targets(_targets(C.default_q), t)
    t_gap = t
    while t < t_gap + 0.042:
        t += 0.002
        sm.tick(t)
    assert sm.state == State.RUN, sm.reason
    t += 0.002
    sm.on_lowstate(_low(t))  # input resumes; the policy answers it 18 ms later
    t_resumed = t
    for _ in range(9):
        t += 0.002
        sm.on_lowstate(_low(t))
        sm.tick(t)
    assert t - t_gap > 3 * 0.02 + 1e-3
    sm.on_targets(_targets(C.default_q), t)
    assert sm.state == State.RUN, sm.reason
    # ... but a policy that then stays silent while state flows trips within 3 cycles of the resumption
    t_answer = t
    while sm.state == State.RUN:
        t += 0.002
        sm.on_lowstate(_low(t))
        sm.tick(t)
    assert "policy targets stale" in sm.reason
    assert t - t_answer <= 3 * 0.02 + 0.004
    assert t_resumed > t_gap
    # and without any input the LowState limit trips within 3 policy cycles
    sm2, t = _running_machine()
    t0 = t
    while sm2.state == State.RUN:
        t += 0.002
        sm2.tick(t)
    assert "LowState stale" in sm2.reason and t - t0 <= 3 * 0.02


def test_nan_target_and_tilt_trip_damping():
    sm, t = _running_machine()
    q = C.default_q.copy()
    q[3] = np.nan
    assert sm.on_targets(_targets(q), t) == "non-finite PD target" and sm.state == State.DAMPING
    sm, t = _running_machine()
    tilted = (np.cos(0.7), np.sin(0.7), 0, 0)  # 80 deg roll
    sm.on_lowstate(_low(t + 0.002, quat=tilted))
    sm.tick(t + 0.002)
    assert sm.state == State.DAMPING and "tilt" in sm.reason


def test_targets_clamped_rate_limited_and_gains_bounded():
    sm, t = _running_machine()
    q = C.upper + 1.0  # far outside every limit
    tg = _targets(q)
    tg.kp = np.full(23, 1e6)
    sm.on_targets(tg, t)
    prev = None
    for _ in range(200):
        t += 0.002
        sm.on_lowstate(_low(t))
        sm.on_targets(tg, t)
        cmd = sm.tick(t)
        qc = cmd.q[C.motor_slots]
        assert np.all(qc <= C.upper - 0.02 + 1e-9) and np.all(cmd.kp <= 400)
        if prev is not None:
            assert np.all(np.abs(qc - prev) <= 15.0 * 0.002 + 1e-9)
        prev = qc
    assert np.allclose(prev, C.upper - 0.02)
    assert np.all(cmd.mode[list(C.inert_slots)] == 0)


def test_wrong_joint_names_are_rejected():
    sm, t = _running_machine()
    bad = PdTargets(tuple(reversed(C.joint_names)), C.default_q, *(np.zeros(23),) * 2, C.kp, C.kd)
    assert "differ from the robot contract" in sm.on_targets(bad, t)


def _assert_finite_damping(cmd):
    s = C.motor_slots
    assert SafetyMachine.finite(cmd)
    assert np.all(cmd.kp == 0) and np.all(cmd.kd[s] > 0)


def test_nan_lowstate_trips_and_every_command_after_it_is_finite_with_the_last_finite_position():
    sm, t = _running_machine()
    q_last = C.default_q.copy()
    q_last[5] += 0.1
    t += 0.002
    sm.on_lowstate(_low(t, q=q_last))
    sm.tick(t)
    bad = q_last.copy()
    bad[[0, 5]] = np.nan
    t += 0.002
    sm.on_lowstate(_low(t, q=bad, dq=np.full(23, np.inf)))
    cmd = sm.tick(t)
    assert sm.state == State.DAMPING and sm.reason == "non-finite LowState"
    _assert_finite_damping(cmd)
    assert cmd.q[C.motor_slots][5] == pytest.approx(q_last[5])  # the last finite position of that joint
    sm.on_event("reset", t)
    assert sm.state == State.ZERO_TORQUE
    for _ in range(3):  # zero torque on NaN state: kp = kd = 0, q finite
        t += 0.002
        sm.on_lowstate(_low(t, q=bad))
        cmd = sm.tick(t)
        assert SafetyMachine.finite(cmd) and np.all(cmd.kp == 0) and np.all(cmd.kd == 0)
    sm.on_event("start", t)
    assert sm.state == State.ZERO_TORQUE and "start refused: non-finite LowState" in sm.reason


def test_frozen_tick_trips_with_its_own_reason_within_three_cycles():
    sm, t = _running_machine()
    frozen = round(t * 1000)
    t0 = t
    while sm.state == State.RUN:
        t += 0.002
        sm.on_lowstate(_low(t, tick=frozen))  # samples keep coming, fresh by arrival, the tick stands still
        sm.on_targets(_targets(C.default_q), t)
        sm.tick(t)
    assert sm.reason.startswith(f"LowState tick frozen at {frozen}"), sm.reason
    assert t - t0 <= 3 * 0.02


def test_wrong_mode_machine_trips_at_once_with_its_own_reason():
    sm, t = _running_machine()
    sm.on_bad_mode_machine(5, t + 0.001)
    assert sm.state == State.DAMPING and sm.reason == "mode_machine 5 does not match the 23-DoF robot"
    _assert_finite_damping(sm.tick(t + 0.002))


def test_another_writer_trips_hold_and_run_and_refuses_start():
    for to_run in (False, True):
        sm, t = _running_machine()
        if not to_run:
            sm.on_event("damp", t)
            sm.on_event("reset", t)
            sm.on_event("start", t)
            while sm.state != State.HOLD:
                t += 0.002
                sm.on_lowstate(_low(t))
                sm.tick(t)
        sm.other_writers = 1
        t += 0.002
        sm.on_lowstate(_low(t))
        _assert_finite_damping(sm.tick(t))
        assert sm.state == State.DAMPING and sm.reason == "another writer on rt/lowcmd (1)"
    sm.on_event("reset", t)
    sm.on_event("start", t)
    assert sm.state == State.ZERO_TORQUE and sm.reason == "start refused: another writer on rt/lowcmd"


def test_a_non_finite_command_is_never_returned():
    """The last rule: whatever got into the machine, tick() answers damping, never a non-finite command."""
    sm, t = _running_machine()
    sm.targets.kd = np.full(23, np.nan)  # bypasses on_targets' check, as a bug elsewhere would
    cmd = sm.tick(t + 0.002)
    _assert_finite_damping(cmd)
    assert (
        sm.state == State.DAMPING and sm.reason == "non-finite motor command" and sm.nonfinite_commands == 1
    )


def _holding_machine():
    sm, t = _running_machine()
    sm.on_event("damp", t)
    sm.on_event("reset", t)
    sm.on_event("start", t)
    while sm.state != State.HOLD:
        t += 0.002
        sm.on_lowstate(_low(t))
        sm.on_targets(_targets(C.default_q), t)
        sm.tick(t)
    return sm, t


def _swaying(t):
    low = _low(t)
    low.gyro = np.array([0.0, 0.08, 0.0])  # the pelvis still pitches, as after the gantry's release
    return low


def test_the_hand_over_waits_until_the_robot_is_at_rest():
    sm, t = _holding_machine()
    for _ in range(10):
        t += 0.002
        sm.on_lowstate(_swaying(t))
        sm.on_targets(_targets(C.default_q), t)
        sm.tick(t)
    sm.on_event("run", t)
    assert sm.state == State.HOLD and sm.reason == "run waits for the robot to come to rest"
    t_still = t + 0.3
    while t < t_still:  # sways 0.3 s more, then rests
        t += 0.002
        sm.on_lowstate(_swaying(t))
        sm.on_targets(_targets(C.default_q), t)
        sm.tick(t)
    assert sm.state == State.HOLD
    while sm.state == State.HOLD:
        t += 0.002
        sm.on_lowstate(_low(t))
        sm.on_targets(_targets(C.default_q), t)
        sm.tick(t)
    assert sm.state == State.RUN and sm.reason == "run (robot at rest)"
    assert t - t_still == pytest.approx(0.2, abs=0.005)  # after still_window_s at rest


def test_an_armed_hand_over_gives_up_when_the_robot_never_rests():
    sm, t = _holding_machine()
    sm.on_lowstate(_swaying(t))
    sm.on_event("run", t)
    t_end = t + 3.1
    while t < t_end:
        t += 0.002
        sm.on_lowstate(_swaying(t))
        sm.on_targets(_targets(C.default_q), t)
        sm.tick(t)
    assert sm.state == State.HOLD and sm.reason == "run refused: the robot did not come to rest within 3 s"
    for _ in range(200):  # resting now changes nothing: the operator presses A again
        t += 0.002
        sm.on_lowstate(_low(t))
        sm.on_targets(_targets(C.default_q), t)
        sm.tick(t)
    assert sm.state == State.HOLD
    sm.on_event("run", t)
    assert sm.state == State.RUN
