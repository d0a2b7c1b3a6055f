"""The loop benchmark's arithmetic on hand-made answer logs (the benchmark itself is a command, not a
test)."""

from __future__ import annotations

import pytest

from hsi_robot_nodes.bench.loop import late_answers_near, loop_figures


def test_latency_jitter_and_missed_cycles_from_an_answer_log():
    # 50 Hz answers, LowState received 1 ms before each answer; slot 5 missing (one missed cycle), one answer
    # 3 ms late (latency 4 ms, jitter 3 ms on both sides of it)
    log = []
    for k in range(10):
        if k == 5:
            continue
        t_state = 100.0 + 0.02 * k
        late = 0.003 if k == 7 else 0.0
        log.append((t_state + 0.001 + late, int(round(t_state * 1e9))))
    f = loop_figures(log)
    assert f["answers"] == 9
    assert f["missed_cycles"] == 1
    assert f["late_cycles_over_1.5_periods"] == 1
    assert f["latency_ms"]["p50"] == pytest.approx(1.0, abs=1e-6)
    assert f["latency_ms"]["max"] == pytest.approx(4.0, abs=1e-6)
    assert f["period_jitter_ms"]["max"] == pytest.approx(20.0, abs=1e-6)  # the 40 ms gap
    assert f["state_stamp_period_ms"]["p50"] == pytest.approx(20.0, abs=1e-6)


def test_no_answers_is_an_error():
    with pytest.raises(ValueError, match="never ran"):
        loop_figures([(1.0, 0)])


def test_late_answers_are_attributed_to_nearby_steal_windows_only():
    windows = [(10.2, 20.0), (300.4, 10.0)]
    # 10.05 ends in the 10.2 window; 300.3 is one window before 300.4's end; 150.0 has no steal near it
    assert late_answers_near([10.05, 150.0, 300.3], windows) == 2
    assert late_answers_near([150.0], windows) == 0
    assert late_answers_near([10.05], []) == 0
