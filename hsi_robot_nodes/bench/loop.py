"""``hsi-robot bench loop --minutes N [--json PATH]``: the full bringup in sim, measured as the robot sees it.

Starts ``hsi-robot bringup --sim`` (simulated G1 in its own process, all onboard nodes incl. the heightmap
fed by the simulated MID-360), stands the robot up, runs the policy for N minutes and prints:

- control-path latency: from the bridge receiving the LowState a policy cycle used (the stamp carried
  through JointState -> policy -> PD targets) to the LowCmd that answers it leaving the bridge (p50/p99/max);
- 50 Hz period jitter: the spacing of those answers against the 20 ms period (p50/p99/max deviation);
- missed cycles: 20 ms slots of the bridge's JointState grid that got no answer (no LowState came in the slot,
  or the stack never answered it) or whose answer left more than a period after its LowState; the bridge
  re-sends the previous targets meanwhile. A late answer within a period is in the latency and jitter
  figures, and ``answer_gaps_over_1.5_periods`` counts the gaps it leaves (``missed_per_gap`` says why);
- CPU use of the nodes' process and of the simulator process (% of one core), and machine load;
- machine stalls seen by an idle top-priority witness on every core (:mod:`.stalls`), and how many missed
  cycles fell in one (the machine's) or not (the stack's).

Targets on a 2-core workstation: p99 latency below 2 ms, zero missed cycles in 10 minutes.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

from hsi_robot_nodes import defaults

PERIOD_S = 0.02


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--minutes", type=float, default=1.0, help="minutes of policy running to measure")
    p.add_argument("--scene", default="flat")
    p.add_argument("--dof", type=int, default=defaults.DOF, choices=(23, 29))
    p.add_argument("--domain", type=int, default=defaults.DOMAIN)
    p.add_argument("--policy", default=None, help="ONNX policy (default: the shipped one)")
    p.add_argument("--no-heightmap", dest="heightmap", action="store_false")
    p.add_argument("--executor", choices=("events", "single", "multi"), default="events")
    p.add_argument(
        "--no-witness",
        dest="witness",
        action="store_false",
        help="leave the machine-stall witness out (to measure what it costs the stack)",
    )
    p.add_argument("--json", type=Path, default=None)
    p.add_argument(
        "--answers",
        type=Path,
        default=None,
        help="also save the raw answer log (.npy rows: LowCmd time s, answered LowState s)",
    )


def _cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all threads) from /proc, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _machine_busy() -> tuple[float, float, float]:
    """(busy, total, steal) jiffies of all CPUs from /proc/stat. Steal is time the hypervisor ran something
    else while this VM's CPUs wanted to run: no scheduling priority inside the VM can win it back."""
    vals = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = vals[3] + vals[4]
    return float(sum(vals) - idle), float(sum(vals)), float(vals[7] if len(vals) > 7 else 0)


def _pct(x: np.ndarray, q: float) -> float:
    return float(np.percentile(x, q)) if len(x) else float("nan")


def loop_figures(answers: list[tuple[float, int]], period_s: float = PERIOD_S) -> dict:
    """Latency / jitter / missed-cycle figures from the bridge's answer log [(t_write_s, stamp_ns)].

    Pure so tests can check it on hand-made logs. Answers are the LowCmds that carried new policy targets.
    """
    if len(answers) < 2:
        raise ValueError("fewer than two policy answers were logged: the policy never ran")
    a = np.array([(t, s * 1e-9) for t, s in answers])
    latency_ms = (a[:, 0] - a[:, 1]) * 1e3
    gaps = np.diff(a[:, 0])
    jitter_ms = np.abs(gaps - period_s) * 1e3
    missed = int(missed_per_gap(a, period_s).sum()) + int(latency_ms[0] > period_s * 1e3)
    stamp_gaps = np.diff(a[:, 1])
    return {
        "answers": len(a),
        "seconds": round(float(a[-1, 0] - a[0, 0]), 2),
        "rate_hz": round(float((len(a) - 1) / (a[-1, 0] - a[0, 0])), 3),
        "latency_ms": {
            "p50": round(_pct(latency_ms, 50), 3),
            "p99": round(_pct(latency_ms, 99), 3),
            "max": round(float(latency_ms.max()), 3),
        },
        "period_jitter_ms": {
            "p50": round(_pct(jitter_ms, 50), 3),
            "p99": round(_pct(jitter_ms, 99), 3),
            "max": round(float(jitter_ms.max()), 3),
        },
        "missed_cycles": missed,
        "answer_gaps_over_1.5_periods": int(np.sum(gaps > 1.5 * period_s)),
        "state_stamp_period_ms": {
            "p50": round(_pct(stamp_gaps * 1e3, 50), 3),
            "max": round(float(stamp_gaps.max() * 1e3), 3),
        },
    }


def missed_per_gap(answers_s: np.ndarray, period_s: float = PERIOD_S) -> np.ndarray:
    """Missed cycles between consecutive answers. ``answers_s`` rows: (LowCmd time, answered LowState time),
    both in seconds of the monotonic clock.

    The bridge publishes JointState on the first LowState of each ``int(t / period)`` slot of its receive
    clock and the answer carries that receive time, so the slot of every answer is exact. A cycle is missed
    when a slot is skipped (no LowState came in it, or the stack never answered it) or when the answer to a
    slot left more than a period after its LowState (the robot ran that cycle on the previous targets). An
    answer that is late but within a period is latency and jitter, not a missed cycle.
    """
    a = np.asarray(answers_s, dtype=float)
    slots = np.floor(a[:, 1] / period_s).astype(np.int64)
    too_slow = (a[1:, 0] - a[1:, 1]) > period_s
    return np.maximum(np.diff(slots) - 1, 0) + too_slow


def late_answers_near(
    late_at_s: list[float], steal_windows: list[tuple[float, float]], window_s: float = 0.2
) -> int:
    """How many late answers fall in (or next to) a sampling window in which the hypervisor stole CPU time.

    /proc/stat counts steal in 10 ms ticks and the bench samples it every ``window_s``; a window is stamped at
    its end, so a late answer at t belongs to a window ending in [t, t + window_s], widened by one window on
    each side for the sampling thread's own lateness.
    """
    ends = np.array([t for t, _ in steal_windows])
    if not len(ends):
        return 0
    return int(sum(bool(np.any((ends >= t - window_s) & (ends <= t + 2 * window_s))) for t in late_at_s))


class GcPauses:
    """Garbage-collector pauses of this process (bridge, policy and joystick nodes run in it), via
    ``gc.callbacks``: a collection holds the interpreter lock, so a long one delays every node thread."""

    def __init__(self) -> None:
        self.pauses: list[tuple[float, int, float]] = []  # (monotonic end s, generation, seconds)
        self._t = 0.0

    def __call__(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._t = time.perf_counter()
        else:
            self.pauses.append((time.monotonic(), int(info["generation"]), time.perf_counter() - self._t))

    def summary(self, t0: float) -> dict:
        out: dict = {}
        for gen in (0, 1, 2):
            d = [p for _, g, p in self.pauses if g == gen]
            out[f"gen{gen}"] = {"count": len(d), "max_ms": round(1e3 * max(d, default=0.0), 3)}
        out["over_1ms_at_s_gen_ms"] = [
            (round(t - t0, 3), g, round(1e3 * p, 2)) for t, g, p in self.pauses if p > 1e-3 and t >= t0
        ][:100]
        return out


def run(args: argparse.Namespace) -> int:
    from hsi_robot_nodes import bringup
    from hsi_robot_nodes.bench.stalls import StallWitness, explained_missed_cycles, stall_summary
    from hsi_robot_nodes.bridge.safety import HANDOVER_SETTLE_S, State
    from hsi_robot_nodes.nodes.executors import wait_until

    all_cpus = sorted(os.sched_getaffinity(0))  # before bringup pins this process to the control cores
    p = argparse.ArgumentParser()
    bringup.add_arguments(p)
    argv = [
        "--sim",
        "--scene",
        args.scene,
        "--dof",
        str(args.dof),
        "--domain",
        str(args.domain),
        "--executor",
        args.executor,
    ]
    if args.policy:
        argv += ["--policy", args.policy]
    if not args.heightmap:
        argv.append("--no-heightmap")
    b = bringup.Bringup(p.parse_args(argv)).start()
    bridge = b.node("unitree_bridge").bridge
    timing: list[list[float]] = []
    from std_msgs.msg import Float64MultiArray

    b.node("policy_node").create_subscription(
        Float64MultiArray, defaults.POLICY_TIMING, lambda m: timing.append(list(m.data)), 50
    )
    import gc

    gc_pauses = GcPauses()
    gc.callbacks.append(gc_pauses)
    try:
        b.sim.send("start")
        wait_until(lambda: bridge.state == State.HOLD, 10.0)
        b.sim.send("release")
        time.sleep(HANDOVER_SETTLE_S)
        b.sim.send("A")
        if not wait_until(lambda: bridge.state == State.RUN, 5.0):
            raise RuntimeError(f"the bridge did not enter RUN: {bridge.state.value} ({bridge.safety.reason})")
        # the witnesses' start-up (two interpreters importing) is a CPU burst: before the settling second,
        # so it is not measured as the stack's
        witness = StallWitness(all_cpus).start() if args.witness else None
        time.sleep(1.0)  # settle: measure steady state only
        bridge.answer_log.clear()
        gc_pauses.pauses.clear()
        timing.clear()
        pids = {"nodes": os.getpid(), "simulator": b.sim.proc.pid}
        cpu0 = {k: _cpu_seconds(v) for k, v in pids.items()}
        busy0, tot0, steal0 = _machine_busy()
        stalls0 = bridge.safety.self_stalls
        t0 = time.monotonic()
        end = t0 + args.minutes * 60.0
        next_print = t0 + 10.0
        steal_windows: list[tuple[float, float]] = []  # (s since start, steal ms): 0.2 s windows with steal
        steal_prev = steal0
        while time.monotonic() < end and bridge.state == State.RUN:
            time.sleep(0.2)
            steal_now = _machine_busy()[2]
            if steal_now > steal_prev:
                steal_windows.append(
                    (
                        round(time.monotonic() - t0, 2),
                        round(1e3 * (steal_now - steal_prev) / os.sysconf("SC_CLK_TCK"), 1),
                    )
                )
            steal_prev = steal_now
            if time.monotonic() >= next_print:
                next_print += 10.0
                print(
                    f"  {time.monotonic() - t0:6.0f} s / {args.minutes * 60:.0f} s  answers "
                    f"{len(bridge.answer_log)}",
                    flush=True,
                )
        wall = time.monotonic() - t0
        cpu = {k: round(100.0 * (_cpu_seconds(v) - cpu0[k]) / wall, 1) for k, v in pids.items()}
        busy1, tot1, steal1 = _machine_busy()
        answers = list(bridge.answer_log)
        gaps = [(round(a - t0, 2), round(g * 1e3, 1)) for a, g in bridge.lowstate_gaps if a >= t0]
        final_state, reason = bridge.state.value, bridge.safety.reason
        self_stalls = bridge.safety.self_stalls - stalls0
        machine_stalls = [s for s in witness.stop() if s.t >= t0] if witness else []
    finally:
        trace = b.stop()
        gc.callbacks.remove(gc_pauses)
    figures = loop_figures(answers)
    per_gap = missed_per_gap(np.array([(a, s * 1e-9) for a, s in answers]))
    missed_in_stalls, missed_other = (
        explained_missed_cycles(
            [a for a, _ in answers], per_gap, machine_stalls, PERIOD_S, [s * 1e-9 for _, s in answers]
        )
        if witness
        else (None, None)
    )
    sim_summary = dict((trace or {}).get("summary", {}))
    sim_gap_log = dict(sim_summary.get("lowstate_publish_gaps_over_8ms", {}))
    sim_gaps = [(round(t - t0, 2), g) for t, g in sim_gap_log.pop("at_monotonic_s_ms", [])]
    if sim_gap_log:  # the simulator's gaps in bench time, like the bridge's arrival gaps
        sim_summary["lowstate_publish_gaps_over_8ms"] = {**sim_gap_log, "at_s_ms": sim_gaps[:200]}
    # each late answer: when (bench s), the gap it closed, and its own latency (normal latency = the LowState
    # it answers came late; long latency = the stack was slow)
    late = [
        (round(t - t0, 3), round(1e3 * g, 1), round(1e3 * (t - s * 1e-9), 1))
        for (t, s), g in zip(answers[1:], np.diff([a for a, _ in answers]))
        if g > 1.5 * PERIOD_S
    ]
    late_at = [t for t, _, _ in late]
    tm = np.array(timing) if timing else np.zeros((0, 4))
    result = {
        "bench": "loop",
        "minutes": args.minutes,
        "executor": args.executor,
        "scene": args.scene,
        "heightmap": args.heightmap,
        "policy": Path(args.policy or p.get_default("policy")).name,
        "state_at_end": final_state,
        "trip_reason": reason if final_state != "run" else "",
        **figures,
        "bridge_self_stalls_over_10ms": self_stalls,
        "missed_cycles_during_machine_stalls": missed_in_stalls,
        "missed_cycles_without_machine_stall": missed_other,
        "machine_stalls_over_4ms": (
            {
                "witness": f"one process per core, {witness.scheduling}, 2 ms period",
                **stall_summary(machine_stalls, t0, witness.cpus),
            }
            if witness
            else None
        ),
        "late_answers_at_s": late_at[:50],
        "late_answers_s_gap_ms_latency_ms": late[:200],
        "late_answers_during_hypervisor_steal": late_answers_near(late_at, steal_windows),
        # the simulated robot's own LowState publish gaps (its process late on the shared core), in bench time
        "late_answers_during_simulator_publish_gaps": late_answers_near(late_at, sim_gaps, window_s=0.05),
        "lowstate_gaps_over_8ms": {
            "count": len(gaps),
            "worst_ms": max((g for _, g in gaps), default=0.0),
            "at_s_ms": gaps[:50],
        },
        "gc_pauses_nodes_process": gc_pauses.summary(t0),
        "policy_compute_ms": {"p50": round(_pct(tm[:, 1], 50), 3), "p99": round(_pct(tm[:, 1], 99), 3)},
        "cpu_percent_of_one_core": cpu,
        "machine_busy_percent": round(100.0 * (busy1 - busy0) / max(tot1 - tot0, 1.0), 1),
        "hypervisor_steal_ms": round(1e3 * (steal1 - steal0) / os.sysconf("SC_CLK_TCK"), 1),
        "hypervisor_steal_windows_0.2s": {"count": len(steal_windows), "at_s_ms": steal_windows[:50]},
        "simulator_whole_run": sim_summary,  # its overruns and publish gaps: a late robot, not the bridge
        "scheduling": b.scheduling,
        "cores": os.cpu_count(),
        "targets": {"latency_p99_ms": 2.0, "missed_cycles": 0},
    }
    import json

    print(json.dumps(result, indent=2))
    if args.json:
        from hsi_kernel.atomic import write_json_atomic

        write_json_atomic(args.json, result)
    if args.answers:
        import io

        from hsi_kernel.atomic import write_bytes_atomic

        buf = io.BytesIO()
        np.save(buf, np.array([(t, s * 1e-9) for t, s in answers]))
        write_bytes_atomic(args.answers, buf.getvalue())
    return 0 if final_state == "run" else 1
