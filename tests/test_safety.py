"""The bridge's safety state machine (pure) and the bridge against the simulator over DDS."""

import time

import numpy as np
import pytest

from hsi_kernel.contract import get_contract
from hsi_kernel.msgs.pd_targets import PdTargets
from hsi_robot_nodes.bridge.runtime import BridgeConfig, BridgeError, UnitreeBridge
from hsi_robot_nodes.bridge.safety import LowStateView, SafetyConfig, SafetyMachine, State
from hsi_sim.dds_sim import DdsSimulator, SimConfig

C = get_contract(23)


def _low(t, q=None, quat=(1.0, 0, 0, 0)):
    q = C.default_q.copy() if q is None else q
    return LowStateView(q, np.zeros(23), np.array(quat, float), np.zeros(3), np.full(23, 35.0), 4, t)


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
    # the robot's LowState stops for 70 ms (longer than 3 policy cycles, shorter than the 100 ms LowState
    # limit): the policy had nothing to answer, so this is not a policy fault
    sm, t = _running_machine()
    for _ in range(5):
        t += 0.002
        sm.on_lowstate(_low(t))
        sm.tick(t)
    sm.on_targets(_targets(C.default_q), t)
    t_gap = t
    while t < t_gap + 0.070:
        t += 0.002
        sm.tick(t)
    assert sm.state == State.RUN, sm.reason
    t += 0.002
    sm.on_lowstate(_low(t))  # input resumes; the policy answers it 2 ms later
    t_resumed = t
    t += 0.002
    sm.tick(t)
    sm.on_targets(_targets(C.default_q), t)
    assert sm.state == State.RUN
    # ... but a policy that then stays silent while state flows trips within 3 cycles of the resumption
    t_answer = t
    while sm.state == State.RUN:
        t += 0.002
        sm.on_lowstate(_low(t))
        sm.tick(t)
    assert "policy targets stale" in sm.reason
    assert t - t_answer <= 3 * 0.02 + 0.004
    assert t_resumed > t_gap
    # and without any input the LowState limit (100 ms) still trips
    sm2, t = _running_machine()
    t0 = t
    while sm2.state == State.RUN:
        t += 0.002
        sm2.tick(t)
    assert "LowState stale" in sm2.reason and t - t0 <= 0.1 + 0.004


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


@pytest.fixture
def sim(dds_domain):
    s = DdsSimulator(SimConfig(domain=dds_domain, band=True)).start()
    yield s
    s.stop()


def test_bridge_stands_the_robot_up_and_damps_on_select(sim, dds_domain):
    br = UnitreeBridge(BridgeConfig(domain=dds_domain)).start()
    try:
        sim.remote.press("start")
        deadline = time.monotonic() + 8.0
        while br.state != State.HOLD and time.monotonic() < deadline:
            time.sleep(0.05)
        assert br.state == State.HOLD, br.safety.transitions
        sim.release_band()
        time.sleep(1.5)
        assert abs(sim.robot.base_height() - 0.78) < 0.03
        sim.remote.press("select", hold_s=0.5)
        time.sleep(0.8)
        assert br.state == State.DAMPING
        assert sim.stats.lowcmd_bad_crc == 0 and br.bad_lowstate_crc == 0
    finally:
        br.stop()


def test_bridge_refuses_wrong_dof_and_a_second_controller(sim, dds_domain):
    with pytest.raises(BridgeError, match="mode_machine 4"):
        UnitreeBridge(BridgeConfig(dof=29, domain=dds_domain)).start()
    first = UnitreeBridge(BridgeConfig(domain=dds_domain)).start()
    try:
        time.sleep(0.2)
        with pytest.raises(BridgeError, match="another controller already publishes rt/lowcmd"):
            UnitreeBridge(BridgeConfig(domain=dds_domain)).start()
    finally:
        first.stop()
