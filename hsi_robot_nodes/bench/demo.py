"""``hsi-robot bench demo [--runs N] [--bystander] [--busy-cores K] [--json PATH]``: how often ``make demo``
passes, alone or with company.

Runs ``hsi-robot demo`` N times, each in a fresh process as a user would, and counts the runs that pass (exit
0: the robot stood up, the policy ran its 10 s and the run ended in damping on *select*). ``--bystander`` adds
a passive DDS reader on ``rt/lowcmd`` and ``rt/lowstate`` in a process of its own for the whole series, as
``ros2 topic echo`` or a logger would be; ``--busy-cores K`` adds K processes spinning at normal priority.
Why a benchmark and not a test: a pass rate needs many runs of 30 s each and says something about the machine
as much as about the code.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from hsi_kernel.atomic import write_json_atomic
from hsi_robot_nodes import defaults

BYSTANDER = """
import signal, sys, time
from hsi_kernel.unitree import dds, sdk
dds.init_channels({domain}, {interface!r})
counts = {{"lowcmd": 0, "lowstate": 0}}
def count(key):
    def on(_):
        counts[key] += 1
    return on
readers = [dds.Reader(sdk.TOPIC_LOWCMD, sdk.LowCmd_, count("lowcmd"), name="bystander-cmd"),
           dds.Reader(sdk.TOPIC_LOWSTATE, sdk.LowState_, count("lowstate"), name="bystander-state")]
signal.signal(signal.SIGTERM, lambda *a: (print(counts, flush=True), sys.exit(0)))
while True:
    time.sleep(1)
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--runs", type=int, default=10)
    p.add_argument("--bystander", action="store_true", help="a passive reader on rt/lowcmd and rt/lowstate")
    p.add_argument("--busy-cores", type=int, default=0, help="processes spinning at normal priority")
    p.add_argument("--domain", type=int, default=defaults.DOMAIN)
    p.add_argument("--interface", default=defaults.INTERFACE)
    p.add_argument(
        "--witness",
        action="store_true",
        help="run the stall witness (bench machine) beside it: for a trip, the machine's stalls just before",
    )
    p.add_argument("--json", type=Path, default=None)


TRIP_LOOKBACK_S = 0.2
"""A trip judges the last 50-60 ms; witnessed stalls that began this long before it are listed with it."""


def _stalls_before(witness, trip_t: float) -> list[tuple[int, float, float]]:
    """(core, ms before the trip the stall began, ms long) of the stalls the witness logged so far that
    overlap the ``TRIP_LOOKBACK_S`` before ``trip_t``. The witness reports only when stopped, so it is
    restarted here (a gap of a few ms in its watch, between runs)."""
    witness.stop()
    out = [
        (s.cpu, round(1e3 * (trip_t - s.t), 1), round(1e3 * s.late_s, 1))
        for s in witness.stalls
        if s.t < trip_t and s.t + s.late_s > trip_t - TRIP_LOOKBACK_S
    ]
    witness.start()
    return out


def _count_worst(d: dict | None) -> str:
    return "?" if not d else f"{d['count']} (worst {d['worst_ms']:.0f} ms)"


def _fallbacks(d: dict | None) -> str:
    """``123 cycles (LiDAR cloud 100, resuming 23)``: the policy's fallback cycles in RUN by stale input."""
    if not d:
        return "?"
    by = ", ".join(f"{k} {v}" for k, v in (d.get("cycles_by_stale_input") or {}).items())
    return f"{d['cycles']} cycles" + (f" ({by})" if by else "")


def run(args: argparse.Namespace) -> int:
    if args.runs < 1 or args.busy_cores < 0:
        raise ValueError("--runs must be >= 1 and --busy-cores >= 0")
    company: list[subprocess.Popen] = []
    for _ in range(args.busy_cores):
        company.append(subprocess.Popen([sys.executable, "-c", "while True: pass"]))
    bystander = None
    if args.bystander:
        code = BYSTANDER.format(domain=args.domain, interface=args.interface)
        bystander = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
        company.append(bystander)
    witness = None
    if args.witness:
        from hsi_robot_nodes.bench.stalls import StallWitness

        witness = StallWitness().start()
    rows = []
    try:
        with tempfile.TemporaryDirectory(prefix="hsi_bench_demo_") as tmp:
            for i in range(args.runs):
                out = Path(tmp) / f"demo_{i}.json"
                cmd = [sys.executable, "-m", "hsi_robot_nodes.cli", "demo", "--json", str(out)]
                cmd += ["--domain", str(args.domain), "--interface", args.interface]
                t0 = time.monotonic()
                r = subprocess.run(cmd, capture_output=True, text=True)
                summary = json.loads(out.read_text()) if out.is_file() else {}
                stalls = summary.get("bridge_self_stalls_at_monotonic_s_ms") or []
                row = {
                    "run": i,
                    "passed": r.returncode == 0,
                    "exit": r.returncode,
                    "wall_s": round(time.monotonic() - t0, 1),
                    "final_state": summary.get("final_state"),
                    "final_reason": summary.get("final_reason"),
                    "run_seconds": summary.get("run_seconds"),
                    "transitions": summary.get("transitions"),
                    "bridge_self_stalls_over_10ms": summary.get("bridge_self_stalls_over_10ms"),
                    "worst_self_stall_ms": max((ms for _, ms in stalls), default=None),
                    # the machine's run queue over the last minute: a shared machine's other jobs show here
                    "load_average_1min": os.getloadavg()[0],
                    "worst_lowstate_gap_ms": (
                        (summary.get("simulator") or {}).get("lowstate_publish_gaps_over_8ms") or {}
                    ).get("worst_ms"),
                    # from the stand-up on: what the control loop lived through (demo.since_stand_up)
                    "from_stand_up": {
                        "lowstate_gaps_over_8ms": summary.get("lowstate_publish_gaps_over_8ms_from_stand_up"),
                        "bridge_self_stalls_over_10ms": summary.get("bridge_self_stalls_from_stand_up"),
                        "bridge_lowstate_arrival_gaps_over_8ms": summary.get(
                            "bridge_lowstate_arrival_gaps_over_8ms_from_stand_up"
                        ),
                    },
                    # policy cycles on a fallback while the bridge ran it (a heightmap that was not fresh)
                    "policy_fallbacks_in_run": summary.get("policy_fallbacks_in_run"),
                }
                if not summary:
                    row["stderr_tail"] = (r.stderr.strip().splitlines() or [""])[-1]
                trip = summary.get("trip_at_monotonic_s")
                if witness is not None and trip is not None:
                    row["witnessed_stalls_before_trip_ms"] = _stalls_before(witness, trip)
                rows.append(row)
                late = row["from_stand_up"]
                print(
                    f"demo {i + 1}/{args.runs}: {'pass' if row['passed'] else 'FAIL'}  "
                    f"{row['final_state']} ({row['final_reason']}), ran {row['run_seconds']} s, "
                    f"worst LowState gap {row['worst_lowstate_gap_ms']} ms, bridge self-stalls "
                    f"{row['bridge_self_stalls_over_10ms']} (worst {row['worst_self_stall_ms']} ms); "
                    f"from the stand-up on: LowState gaps {_count_worst(late['lowstate_gaps_over_8ms'])}, "
                    f"self-stalls {_count_worst(late['bridge_self_stalls_over_10ms'])}, bridge LowState "
                    f"arrival gaps {_count_worst(late['bridge_lowstate_arrival_gaps_over_8ms'])}; "
                    f"policy fallbacks in RUN {_fallbacks(row['policy_fallbacks_in_run'])}; "
                    f"load {row['load_average_1min']:.1f}"
                    + (
                        f"; witnessed stalls (core, ms before the trip, ms): "
                        f"{row['witnessed_stalls_before_trip_ms']}"
                        if "witnessed_stalls_before_trip_ms" in row
                        else ""
                    ),
                    flush=True,
                )
    finally:
        if witness is not None:
            witness.stop()
        for p in company:
            p.send_signal(signal.SIGTERM)
        seen = ""
        if bystander is not None:
            try:
                seen = (bystander.communicate(timeout=5)[0] or "").strip()
            except subprocess.TimeoutExpired:
                bystander.kill()
        for p in company:
            if p.poll() is None:
                p.kill()
            p.wait()
    passed = sum(r["passed"] for r in rows)
    result = {
        "runs": args.runs,
        "passed": passed,
        "bystander": args.bystander,
        "bystander_samples_seen": seen,
        "busy_cores": args.busy_cores,
        "witness": witness.scheduling if witness is not None else None,
        "cores": os.cpu_count(),
        "rows": rows,
    }
    print(
        f"make demo passed {passed} of {args.runs}"
        + (" with a passive reader on rt/lowcmd and rt/lowstate" if args.bystander else "")
        + (f" and {args.busy_cores} busy core(s)" if args.busy_cores else "")
        + (f"; the reader saw {seen}" if seen else "")
    )
    if args.json:
        write_json_atomic(args.json, result, indent=1)
    return 0
