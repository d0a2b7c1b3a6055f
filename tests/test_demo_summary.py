"""The demo's figures from the stand-up on: start-up gaps (the simulated robot at normal priority until it is
ready, the nodes' start-up holding the interpreter lock) are not counted against the control loop."""

from __future__ import annotations

from hsi_robot_nodes.demo import since_stand_up


def test_only_events_from_the_stand_up_on_count():
    transitions = [
        (10.0, "wait_state", "zero_torque"),
        (12.0, "zero_torque", "stand_up"),
        (14.0, "stand_up", "hold"),
    ]
    events = [(10.5, 300.0), (11.9, 40.0), (12.0, 11.0), (15.2, 25.5)]
    assert since_stand_up(transitions, events) == {"count": 2, "worst_ms": 25.5}
    assert since_stand_up(transitions, []) == {"count": 0, "worst_ms": 0.0}
    assert since_stand_up(transitions[:1], events) == {"count": 0, "worst_ms": 0.0}, "never stood up"
