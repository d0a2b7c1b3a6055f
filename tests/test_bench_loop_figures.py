"""The loop benchmark's arithmetic on hand-made answer logs, and its machine-stall witness (the benchmark
itself is a command, not a test)."""

from __future__ import annotations

import json
import os
import signal
import time

import numpy as np
import pytest

from hsi_robot_nodes import cli
from hsi_robot_nodes.bench.loop import late_answers_near, loop_figures, missed_per_gap
from hsi_robot_nodes.bench.stalls import Stall, StallWitness, explained_missed_cycles, stall_summary


def test_latency_jitter_and_missed_cycles_from_an_answer_log():
    # 50 Hz answers, LowState received 0.5 ms into each 20 ms slot and answered 1 ms later; slot 5 has no
    # answer (one missed cycle); slot 7 is answered 12 ms late: a 32 ms gap, but its own slot was answered,
    # so it is latency and jitter, not a missed cycle
    log = []
    for k in range(10):
        if k == 5:
            continue
        t_state = 100.0005 + 0.02 * k
        late = 0.012 if k == 7 else 0.0
        log.append((t_state + 0.001 + late, int(round(t_state * 1e9))))
    f = loop_figures(log)
    assert f["answers"] == 9
    assert f["missed_cycles"] == 1
    assert f["answer_gaps_over_1.5_periods"] == 2
    assert f["latency_ms"]["p50"] == pytest.approx(1.0, abs=1e-6)
    assert f["latency_ms"]["max"] == pytest.approx(13.0, abs=1e-6)
    assert f["period_jitter_ms"]["max"] == pytest.approx(20.0, abs=1e-6)  # the 40 ms gap
    assert f["state_stamp_period_ms"]["p50"] == pytest.approx(20.0, abs=1e-6)


def test_missed_cycles_count_skipped_slots_and_answers_slower_than_a_period():
    # LowState stamps (s) and answers 1 ms later, except where noted:
    # - 0.0524: came 12 ms into its slot after a stall (32 ms after the previous one): still answers its slot
    # - 0.0605 -> 0.1205: a 60 ms hole skips two slots
    # - 0.1401: answered 21 ms after it came: the stack itself missed that cycle
    stamps = np.array([0.0005, 0.0205, 0.0524, 0.0605, 0.1205, 0.1401, 0.1605])
    answers = np.stack([stamps + 0.001, stamps], axis=1)
    answers[5, 0] = 0.1401 + 0.021
    assert missed_per_gap(answers, 0.02).tolist() == [0, 0, 0, 2, 1, 0]
    f = loop_figures([(t, int(round(s * 1e9))) for t, s in answers])
    assert f["missed_cycles"] == 3


def test_no_answers_is_an_error():
    with pytest.raises(ValueError, match="never ran"):
        loop_figures([(1.0, 0)])


def test_late_answers_are_attributed_to_nearby_steal_windows_only():
    windows = [(10.2, 20.0), (300.4, 10.0)]
    # 10.05 ends in the 10.2 window; 300.3 is one window before 300.4's end; 150.0 has no steal near it
    assert late_answers_near([10.05, 150.0, 300.3], windows) == 2
    assert late_answers_near([150.0], windows) == 0
    assert late_answers_near([10.05], []) == 0


def test_missed_cycles_are_put_on_the_machine_only_when_a_long_enough_stall_overlaps_them():
    # answers every 20 ms with three holes: 60 ms (2 missed), 40 ms (1 missed), 40 ms (1 missed)
    t = [0.00, 0.02, 0.08, 0.10, 0.14, 0.16, 0.18, 0.22]
    stalls = [
        Stall(0, 0.03, 0.035),  # inside the 60 ms hole and >= half its 40 ms excess: the machine's
        Stall(1, 0.03, 0.035),  # the same stall seen on the other core: counted once
        Stall(1, 0.105, 0.004),  # overlaps the first 40 ms hole but is too short to explain 20 ms
        Stall(0, 0.185, 0.006),
        Stall(1, 0.20, 0.006),  # together 12 ms of the last 40 ms hole
        Stall(1, 0.30, 0.050),
    ]  # long but after every answer
    stamps = np.array(t) + 0.0005  # LowStates 0.5 ms into their slots, each answered 1 ms later
    missed = missed_per_gap(np.stack([stamps + 0.001, stamps], axis=1), 0.02)
    assert missed.tolist() == [0, 2, 0, 1, 0, 0, 1]
    assert explained_missed_cycles(t, missed, stalls, 0.02) == (3, 1)
    assert explained_missed_cycles(t, missed, stalls[:3], 0.02) == (2, 2)
    assert explained_missed_cycles(t, missed, [], 0.02) == (0, 4)
    # with the LowState times the answers carry, the same split
    assert explained_missed_cycles(t, missed, stalls, 0.02, stamps.tolist()) == (3, 1)
    s = stall_summary(stalls, 0.0, [0, 1, 2])
    assert s["per_cpu"]["0"] == {"count": 2, "over_8ms": 1, "worst_ms": 35.0}
    assert s["per_cpu"]["1"]["count"] == 4 and s["per_cpu"]["2"]["count"] == 0
    assert s["at_s_cpu_ms"][2] == (0.105, 1, 4.0)


def test_a_late_answer_with_no_stall_witnessed_is_never_put_on_the_machine():
    """An answer more than a period after its LowState is a missed cycle even when answers stay 20 ms apart;
    with no stall witnessed it is the stack's, and a stall is the machine's only if it covers the lateness."""
    stamps = np.array([0.0005, 0.0205, 0.0405, 0.0605])
    answers = np.array([0.0015, 0.0215, 0.0415, 0.0615])
    answers[2] = stamps[2] + 0.025  # this answer left 25 ms after its LowState: the robot ran a cycle blind
    rows = np.stack([answers, stamps], axis=1)
    missed = missed_per_gap(rows, 0.02)
    assert missed.tolist() == [0, 1, 0]
    assert explained_missed_cycles(answers.tolist(), missed, [], 0.02, stamps.tolist()) == (0, 1)
    assert explained_missed_cycles(answers.tolist(), missed, [], 0.02) == (0, 1)
    stall = [Stall(0, stamps[2] + 0.002, 0.020)]  # the machine stopped during that answer's 25 ms
    assert explained_missed_cycles(answers.tolist(), missed, stall, 0.02, stamps.tolist()) == (1, 0)


def test_the_stall_witness_sees_a_process_that_is_not_allowed_to_run():
    # SIGSTOP is a stall the witness cannot tell from a preempted virtual CPU: 80 ms of not running
    with StallWitness(cpus=[0], threshold_s=0.02) as w:
        time.sleep(0.3)
        os.kill(w.procs[0].pid, signal.SIGSTOP)
        time.sleep(0.08)
        os.kill(w.procs[0].pid, signal.SIGCONT)
        time.sleep(0.3)
    assert [s.cpu for s in w.stalls] == [0]
    assert 0.07 <= w.stalls[0].late_s <= 0.5
    assert w.scheduling


def test_a_witness_on_a_core_that_does_not_exist_is_a_one_line_error():
    with pytest.raises(RuntimeError, match="stall witness on core 4096 did not start: .*cannot run on core"):
        StallWitness(cpus=[4096]).start()


def test_bench_machine_writes_the_stall_figures_of_every_core(tmp_path):
    out = tmp_path / "machine.json"
    assert cli.main(["bench", "machine", "--minutes", "0.01", "--json", str(out)]) == 0
    d = json.loads(out.read_text())
    assert d["bench"] == "machine" and d["cores"] == sorted(os.sched_getaffinity(0))
    assert set(d["per_cpu"]) == {str(c) for c in d["cores"]}
    assert d["stalls_over_20ms"] <= sum(v["count"] for v in d["per_cpu"].values())


def test_gc_pauses_are_recorded_per_generation():
    import gc

    from hsi_robot_nodes.bench.loop import GcPauses

    pauses = GcPauses()
    gc.callbacks.append(pauses)
    try:
        junk = [[i] for i in range(200_000)]  # tracked objects for a full collection to walk
        t0 = time.monotonic()
        gc.collect()
        del junk
    finally:
        gc.callbacks.remove(pauses)
    s = pauses.summary(t0)
    assert s["gen2"]["count"] >= 1 and s["gen2"]["max_ms"] > 0.0
    assert all(t >= 0 and g in (0, 1, 2) and ms > 1.0 for t, g, ms in s["over_1ms_at_s_gen_ms"])
