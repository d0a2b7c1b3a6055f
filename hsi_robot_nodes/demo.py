"""``hsi-robot demo`` (what ``make demo`` runs): ``bringup --sim`` with a scripted operator on the virtual
remote (start, release the gantry, A, select) who, while the policy runs, sends goal poses along
:data:`DEMO_PATH` (2 m forward, turn around, stop); prints the transitions, the path the robot covered and
its final pose against the goal, from the simulator's ground truth."""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np

from hsi_robot_nodes.bridge.safety import HANDOVER_SETTLE_S
from hsi_robot_nodes.bringup import Bringup
from hsi_robot_nodes.goal_operator import KeyframePath, PathOperator

DEMO_SCRIPT = (
    (1.0, "start"),
    (3.5, "release"),
    (3.5 + HANDOVER_SETTLE_S, "A"),
    (13.5 + HANDOVER_SETTLE_S, "select"),
)
"""The scripted operator (seconds after the nodes are up): stand up, let go of the gantry, stand
``HANDOVER_SETTLE_S`` on the bridge's stand gains (the robot still settles from the release before that),
run 10 s, damp."""

READY_WAIT_S = 10.0
"""How long the operator waits for the heightmap node's 'ok' before pressing A anyway."""

DEMO_PATH = KeyframePath(
    ((0.0, 0.0, 0.0, 0.0), (0.5, 0.0, 0.0, 0.0), (5.5, 2.0, 0.0, 0.0), (9.0, 2.0, 0.0, math.pi))
)
"""The goal poses while the policy runs (s after A; x, y, yaw in the start frame): stand 0.5 s, walk 2 m
forward at 0.4 m/s, turn 180 deg on the spot in 3.5 s, stand."""


def run_demo(args: argparse.Namespace) -> int:
    """bringup --sim + :data:`DEMO_SCRIPT`; prints the transitions and the standing height while running."""
    from hsi_kernel.policy_file import load_metadata

    skills = list(load_metadata(args.policy).provenance.get("skills") or [])
    walk = args.walk or "walk" in skills
    b = Bringup(args).start()
    bridge = b.node("unitree_bridge").bridge
    policy = b.node("policy_node")  # its counters outlive the node (read after b.stop())
    op = PathOperator(b.context, DEMO_PATH, args.dof)
    b.executor.add_node(op.node)
    b.nodes.append(op.node)  # destroyed with the others
    print(
        f"demo: G1 {args.dof}-DoF on '{args.scene}' with {Path(args.policy).name}; nodes: "
        f"{', '.join([n.get_name() for n in b.nodes] + [c.name + ' (own process)' for c in b.children])}; "
        f"simulator in its own process; {b.scheduling}",
        flush=True,
    )
    if not walk:
        print(
            f"demo: {Path(args.policy).name} has no walking skill (skills: "
            f"{', '.join(skills) or 'none listed'}): it stands, no goal path sent (--walk sends it anyway)",
            flush=True,
        )
    script, t0 = list(DEMO_SCRIPT), time.monotonic()
    trace = None
    held = 0.0  # seconds the operator waited for the heightmap before A; the later steps move with it
    waiting = False
    try:
        while time.monotonic() - t0 - held < max(args.duration, DEMO_SCRIPT[-1][0] + 1.0) and not b.failure:
            el = time.monotonic() - t0 - held
            while script and script[0][0] <= el:
                if script[0][1] == "A" and op.heightmap_status != "ok" and held < READY_WAIT_S:
                    # an operator presses A once the stack is ready: with a stale heightmap the policy node
                    # would only hold the pose (its fallback) until the map comes
                    if not waiting:
                        print(
                            "           operator: waiting for the heightmap before A "
                            f"(status: {op.heightmap_status or 'none yet'})",
                            flush=True,
                        )
                        waiting = True
                    held += 0.05
                    break
                _, what = script.pop(0)
                b.sim.send(what)
                print(f"  t={el:5.1f}s  operator: {what:7s}  bridge: {bridge.state.value}", flush=True)
                if what == "A" and walk and op.odometry_fresh():
                    op.begin(time.monotonic())
                    print("           operator: goal poses along the demo path", flush=True)
            time.sleep(0.05)
    finally:
        op.end()
        trace = b.stop()
    summary = demo_summary(bridge, trace)
    t_run = (run_interval(bridge.safety.transitions) or (0.0, 0.0))[0]
    summary["policy_fallbacks_in_run"] = fallback_summary(policy, t_run)
    summary["path"] = path_summary(trace, bridge.safety.transitions, op.goals_sent)
    summary["operator_waited_for_heightmap_s"] = round(held, 2)
    print(json.dumps(summary, indent=2))
    if args.json:
        from hsi_kernel.atomic import write_json_atomic

        write_json_atomic(args.json, summary)
    return 0 if summary["final_state"] == "damping" and summary["run_seconds"] >= 9.0 else 1


def fallback_summary(policy, t_run: float) -> dict:
    """The policy node's fallbacks while the bridge ran it (a heightmap policy whose map was not fresh): how
    many cycles, per input that went stale (the LiDAR cloud, odometry, the heightmap node itself, or
    ``resuming``: fresh again, not yet for long enough), when each began and why."""
    return {
        "cycles": policy.fallback_cycles_in_run,
        "cycles_by_stale_input": dict(sorted(policy.fallback_cycles_by_input.items())),
        "began_s_after_run": [round(t - t_run, 2) for t in policy.fallback_starts_in_run],
        "why_each_began": list(policy.fallback_reasons_in_run),
    }


def run_interval(transitions: list[tuple[float, str, str]]) -> tuple[float, float] | None:
    """(start, end) monotonic seconds of the first RUN period of the bridge, or None."""
    start = next((t for t, _, new in transitions if new == "run"), None)
    if start is None:
        return None
    end = next((t for t, old, _ in transitions if old == "run" and t >= start), float("inf"))
    return start, end


def _without_gap_times(summary: dict | None) -> dict | None:
    """The simulator's summary without its per-gap time list (data for the loop bench; noise in a demo)."""
    if not summary or "lowstate_publish_gaps_over_8ms" not in summary:
        return summary
    gaps = {k: v for k, v in summary["lowstate_publish_gaps_over_8ms"].items() if k != "at_monotonic_s_ms"}
    return {**summary, "lowstate_publish_gaps_over_8ms": gaps}


def since_stand_up(transitions: list, times_ms: list, listed_from: float | None = None) -> dict:
    """Count and worst of ``(monotonic s, ms)`` events (the simulator's LowState publish gaps, the bridge's
    self-stalls) from the stand-up on. Why: while the nodes still start, the simulated robot publishes at
    normal priority (raised once it is ready), the nodes' start-up holds the interpreter lock, and the robot
    hangs in the gantry at zero torque: those gaps and stalls say nothing about the control loop."""
    t0 = next((t for t, _, new in transitions if new == "stand_up"), None)
    late = [ms for t, ms in times_ms if t0 is not None and t >= t0]
    return {"count": len(late), "worst_ms": max(late, default=0.0)}


def demo_summary(bridge, trace: dict | None) -> dict:
    """Transitions, time in RUN and the simulator's ground-truth pelvis height while the policy ran."""
    tr = bridge.safety.transitions
    span = run_interval(tr)
    rows = np.array(trace["trace"]) if trace and trace.get("trace") else np.zeros((0, 6))
    if span is not None and len(rows):
        sel = rows[(rows[:, 0] >= span[0]) & (rows[:, 0] <= span[1])]
        run_s = float(min(span[1], rows[-1, 0]) - span[0])
    else:
        sel, run_s = np.zeros((0, 6)), 0.0
    h = sel[:, 4] if len(sel) else np.array([np.nan])
    tilt = sel[:, 5] if len(sel) else np.array([np.nan])
    return {
        "transitions": [new for _, _, new in tr],
        "final_state": bridge.state.value,
        "final_reason": bridge.safety.reason,
        # monotonic s of a trip to damping for a fault (not the operator's select): lined up with a stall
        # witness, it tells a machine stall from one of the stack's
        "trip_at_monotonic_s": next(
            (
                round(t, 4)
                for t, _, new in tr
                if new == "damping" and bridge.safety.reason != "damp requested"
            ),
            None,
        ),
        "run_seconds": round(run_s, 2),
        "pelvis_height_during_run_m": {
            "min": round(float(h.min()), 3),
            "mean": round(float(h.mean()), 3),
            "max": round(float(h.max()), 3),
        },
        "max_tilt_during_run_deg": round(float(np.degrees(tilt.max())), 1),
        "lowcmd_written": bridge.lowcmd_written,
        "bridge_bad_lowstate_crc": bridge.bad_lowstate_crc,
        "bridge_self_stalls_over_10ms": bridge.safety.self_stalls,
        "bridge_self_stalls_at_monotonic_s_ms": bridge.safety.self_stall_log[-50:],
        "bridge_self_stalls_from_stand_up": since_stand_up(tr, bridge.safety.self_stall_log),
        # LowStates handed to the bridge more than 8 ms apart (its handler's clock) and the samples its writer
        # had to take itself: the 2 ms writer polls the DDS reader once the state is 6 ms old, so a gap with
        # no self-stall around it is a sample that was not yet in the reader (held below Python, in DDS's
        # receive path of this process), not a late reader thread
        "bridge_lowstate_arrival_gaps_over_8ms_from_stand_up": since_stand_up(
            tr, [(t, round(1e3 * gap, 1)) for t, gap in bridge.lowstate_gaps]
        ),
        "bridge_lowstate_polled": bridge.lowstate_polled,
        "simulator": _without_gap_times((trace or {}).get("summary")),
        # of the last 200 gaps the simulator lists
        "lowstate_publish_gaps_over_8ms_from_stand_up": since_stand_up(
            tr,
            (((trace or {}).get("summary") or {}).get("lowstate_publish_gaps_over_8ms") or {}).get(
                "at_monotonic_s_ms"
            )
            or [],
        ),
    }


def path_summary(trace: dict | None, transitions: list, goals_sent: int) -> dict:
    """What the robot covered while the policy ran, and where it ended against the demo path's goal (the
    path anchored at the pelvis pose when A was pressed; ground truth from the simulator)."""
    span = run_interval(transitions)
    cols = list((trace or {}).get("columns") or [])
    rows = np.array(trace["trace"]) if trace and trace.get("trace") else np.zeros((0, len(cols)))
    if span is None or not len(rows) or not {"x", "y", "yaw"} <= set(cols):
        return {"goals_sent": goals_sent, "covered_m": None}
    x, y, yaw = (rows[:, cols.index(k)] for k in ("x", "y", "yaw"))
    sel = (rows[:, 0] >= span[0]) & (rows[:, 0] <= span[1])
    x, y, yaw = x[sel], y[sel], yaw[sel]
    if not len(x):
        return {"goals_sent": goals_sent, "covered_m": None}
    c, s = math.cos(yaw[0]), math.sin(yaw[0])
    gx, gy, gyaw = DEMO_PATH.goal
    goal = np.array([x[0] + c * gx - s * gy, y[0] + s * gx + c * gy])
    heading_error = (yaw[-1] - (yaw[0] + gyaw) + math.pi) % (2 * math.pi) - math.pi
    return {
        "goals_sent": goals_sent,
        "covered_m": round(float(np.sum(np.hypot(np.diff(x), np.diff(y)))), 2),
        "net_forward_m": round(float(c * (x[-1] - x[0]) + s * (y[-1] - y[0])), 2),
        "final_to_goal_m": round(float(np.hypot(*(np.array([x[-1], y[-1]]) - goal))), 2),
        "final_heading_error_deg": round(math.degrees(heading_error), 1),
        "goal_in_start_frame": [gx, gy, round(math.degrees(gyaw), 1)],
    }
