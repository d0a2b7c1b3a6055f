"""A machine-stall witness for the loop benchmark: how late does an idle, top-priority thread wake up?

Why: on the shared 2-core VM the simulated robot's LowState sometimes stops for 8-50 ms. Timing the
simulator's own loop showed those gaps land anywhere (a 1 KB DDS write or a 0.3 ms state fill "taking" 8-33
ms), and a mlocked ``SCHED_FIFO`` sleeper on the *other* core was late at the same instants. A missed cycle
during such a stall is the machine's (hypervisor preemption of the virtual CPU), not the stack's; one with
no stall behind it is ours. The witness tells them apart, as ``cyclictest`` does for RT kernels.

One small process per core (one thread each: a process never waits for another core's interpreter lock),
pinned with ``sched_setaffinity``, at ``SCHED_FIFO`` 49 when permitted (above every thread of the stack) and
memory-locked, sleeps to an absolute 2 ms grid and logs each wake-up later than a threshold. It costs about
2-3 % of each core. ``python -m hsi_robot_nodes.bench.stalls --cpu N`` runs one until stdin closes and prints
its log as JSON. ``hsi-robot bench machine --minutes N`` runs the witnesses alone: the floor this machine
puts under any 50 Hz loop (a stall of a period or more costs a cycle whatever the software does).
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import gc
import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

WITNESS_PRIORITY = 49  # SCHED_FIFO, the top of the range the stack uses (paths.rt_priority caps at 49)
PERIOD_S = 0.002
THRESHOLD_S = 0.004


@dataclass(frozen=True)
class Stall:
    """A wake-up of the witness on ``cpu`` due at ``t`` (monotonic s) that came ``late_s`` late: that core ran
    nothing of this machine's (or ran something above priority 49) from ``t`` to ``t + late_s``."""

    cpu: int
    t: float
    late_s: float


def watch(
    duration_s: float | None,
    period_s: float = PERIOD_S,
    threshold_s: float = THRESHOLD_S,
    stop: threading.Event | None = None,
) -> list[tuple[float, float]]:
    """Sleep to an absolute ``period_s`` grid until ``duration_s`` passes or ``stop`` is set; return
    (due time, lateness) of each wake-up later than ``threshold_s``. After a late one the grid restarts
    from now, so one stall is logged once."""
    out: list[tuple[float, float]] = []
    t0 = time.monotonic()
    due = t0
    while (duration_s is None or time.monotonic() - t0 < duration_s) and not (stop and stop.is_set()):
        due += period_s
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        late = time.monotonic() - due
        if late > threshold_s:
            out.append((due, late))
            due = time.monotonic()
    return out


def _make_fit() -> str:
    """Top real-time priority and locked memory, where permitted; returns what was set."""
    gc.disable()  # no collector pause may pass for a machine stall
    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6", use_errno=True).mlockall(3)  # MCL_CURRENT | MCL_FUTURE: no page faults
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(WITNESS_PRIORITY))
    except OSError as e:
        return f"normal scheduling (SCHED_FIFO not permitted: {e.strerror})"
    return f"SCHED_FIFO {WITNESS_PRIORITY}"


def _main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m hsi_robot_nodes.bench.stalls", description=__doc__)
    p.add_argument("--cpu", type=int, required=True)
    p.add_argument("--period-ms", type=float, default=PERIOD_S * 1e3)
    p.add_argument("--threshold-ms", type=float, default=THRESHOLD_S * 1e3)
    p.add_argument("--duration", type=float, default=None, help="seconds (default: until stdin closes)")
    a = p.parse_args(argv)
    try:
        os.sched_setaffinity(0, {a.cpu})
    except OSError as e:
        print(f"stall witness: cannot run on core {a.cpu}: {e.strerror}", file=sys.stderr)
        return 2
    stop = threading.Event()
    if a.duration is None:

        def wait_stdin() -> None:
            sys.stdin.read()
            stop.set()

        threading.Thread(target=wait_stdin, daemon=True).start()
    scheduling = _make_fit()
    print("ready", flush=True)
    log = watch(a.duration, a.period_ms * 1e-3, a.threshold_ms * 1e-3, stop)
    print(json.dumps({"cpu": a.cpu, "scheduling": scheduling, "stalls": log}), flush=True)
    return 0


class StallWitness:
    """``with StallWitness() as w: ...; stalls = w.stalls`` — one witness process per core this process may
    use (or ``cpus``), started before the measurement and stopped after it."""

    def __init__(
        self, cpus: list[int] | None = None, period_s: float = PERIOD_S, threshold_s: float = THRESHOLD_S
    ):
        self.cpus = sorted(cpus if cpus is not None else os.sched_getaffinity(0))
        self.period_s, self.threshold_s = period_s, threshold_s
        self.procs: list[subprocess.Popen] = []
        self.stalls: list[Stall] = []
        self.scheduling = ""

    def start(self) -> StallWitness:
        for cpu in self.cpus:
            proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "hsi_robot_nodes.bench.stalls",
                    "--cpu",
                    str(cpu),
                    "--period-ms",
                    str(self.period_s * 1e3),
                    "--threshold-ms",
                    str(self.threshold_s * 1e3),
                ],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            self.procs.append(proc)
        for cpu, proc in zip(self.cpus, self.procs):
            assert proc.stdout is not None
            if proc.stdout.readline().strip() != "ready":
                err = proc.stderr.read().strip().splitlines() if proc.stderr else []
                self.stop()
                raise RuntimeError(
                    f"stall witness on core {cpu} did not start: {err[-1] if err else 'no output'}"
                )
        return self

    def stop(self) -> list[Stall]:
        """Close the witnesses' stdin and collect their logs (sorted by time)."""
        stalls, sched = [], set()
        for proc in self.procs:
            try:
                out, _ = proc.communicate(input="", timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.communicate()
                continue
            for line in out.splitlines():
                if line.startswith("{"):
                    d = json.loads(line)
                    sched.add(d["scheduling"])
                    stalls += [Stall(d["cpu"], t, late) for t, late in d["stalls"]]
        self.procs = []
        self.stalls = sorted(stalls, key=lambda s: s.t)
        self.scheduling = ", ".join(sorted(sched))
        return self.stalls

    def __enter__(self) -> StallWitness:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def explained_missed_cycles(
    answer_times: list[float],
    missed_per_gap,
    stalls: list[Stall],
    period_s: float,
    lowstate_times: list[float] | None = None,
) -> tuple[int, int]:
    """Split the missed cycles of an answer log into (during machine stalls, not).

    ``missed_per_gap[i]``: cycles missed between answers i and i + 1 (from ``loop.missed_per_gap``);
    ``lowstate_times[i]``: receive time of the LowState answer i answers (when given).
    A miss is a lateness: the window that was late is from answer i (or from the LowState answer i + 1
    answers, if that came earlier: an answer more than a period after its LowState is a miss too) to answer
    i + 1, and its excess is that window's length over one period. The misses are put on the machine only
    when witnessed stalls overlap the window and cover at least half of that excess (the union over cores,
    so a stall of the whole machine seen on both counts once): they then account for the lateness, not
    merely coincide with it. Without a witnessed stall nothing is ever put on the machine.
    """
    t = np.asarray(answer_times, dtype=float)
    ls = t if lowstate_times is None else np.asarray(lowstate_times, dtype=float)
    during = other = 0
    for i, missed in enumerate(missed_per_gap):
        missed = int(missed)
        if not missed:
            continue
        lo, hi = min(t[i], ls[i + 1]), t[i + 1]
        covered = _covered(stalls, lo, hi)
        if covered > 0.0 and covered >= 0.5 * ((hi - lo) - period_s):
            during += missed
        else:
            other += missed
    return during, other


def _covered(stalls: list[Stall], a: float, b: float) -> float:
    """Seconds of [a, b] inside at least one stall interval [t, t + late]."""
    spans = sorted((max(s.t, a), min(s.t + s.late_s, b)) for s in stalls if s.t < b and s.t + s.late_s > a)
    total, end = 0.0, a
    for lo, hi in spans:
        lo = max(lo, end)
        if hi > lo:
            total, end = total + hi - lo, hi
    return total


def stall_summary(stalls: list[Stall], t0: float, cpus: list[int]) -> dict:
    """Per-core count / worst / count over 8 ms, and the first 1000 stalls in bench time (s, core, ms)."""
    per_cpu = {}
    for cpu in cpus:
        late = [s.late_s for s in stalls if s.cpu == cpu]
        per_cpu[str(cpu)] = {
            "count": len(late),
            "over_8ms": sum(v > 0.008 for v in late),
            "worst_ms": round(1e3 * max(late, default=0.0), 1),
        }
    return {
        "per_cpu": per_cpu,
        "at_s_cpu_ms": [(round(s.t - t0, 3), s.cpu, round(1e3 * s.late_s, 1)) for s in stalls[:1000]],
    }


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--minutes", type=float, default=1.0, help="minutes to watch")
    p.add_argument("--json", type=Path, default=None)


def run(args: argparse.Namespace) -> int:
    """``hsi-robot bench machine``: the witnesses alone, on an otherwise idle stack."""
    cpus = sorted(os.sched_getaffinity(0))
    w = StallWitness(cpus).start()
    t0 = time.monotonic()
    print(
        f"watching cores {cpus} for {args.minutes:g} min ({w.period_s * 1e3:g} ms period, stalls over "
        f"{w.threshold_s * 1e3:g} ms)",
        flush=True,
    )
    try:
        time.sleep(args.minutes * 60.0)
    finally:
        stalls = w.stop()
    late = np.array([s.late_s for s in stalls])
    result = {
        "bench": "machine",
        "minutes": args.minutes,
        "witness": w.scheduling,
        "cores": cpus,
        "stalls_over_20ms": int(np.sum(late > 0.02)),
        **stall_summary(stalls, t0, cpus),
    }
    print(json.dumps(result, indent=2))
    if args.json:
        from hsi_kernel.atomic import write_json_atomic

        write_json_atomic(args.json, result)
    return 0


if __name__ == "__main__":
    raise SystemExit(_main())
