"""A scenario through the real deploy path: the simulated G1 in its own process, the onboard nodes on rclpy.

What runs is what ``hsi-robot bringup --sim`` runs: the simulator child process (500 Hz physics, LowState/
LowCmd on Unitree DDS with CRC, the simulated MID-360 and FAST-LIO2-like odometry), and in this process the
bridge (safety state machine), policy node (onnxruntime, state-triggered 50 Hz), joystick node and heightmap
node (elevation map from the simulated LiDAR). The evaluation is an operator: on the virtual remote it presses
start (stand up on the gantry), releases the band, presses A (run), and at the end select (damp); while the
policy runs it publishes the scenario's path as goal poses on ``/goal_pose``, which the joystick node's goal
mode turns into the policy's root target. Nothing is mocked and nothing is bypassed.

Goal frame: ``/goal_pose`` is in the map frame ``hsi_map`` (the torso at odometry start, z up), the frame in
which the joystick node reads FAST-LIO2's odometry (``frames.torso_in_map``: the G1's MID-360 is mounted
upside down, so ``camera_init`` has z down and y mirrored). The path is anchored at the torso pose when the
policy takes over, assuming the torso was upright when odometry started (as the heightmap node does).

The CLI runs each scenario in a fresh process (``run_deploy_isolated``), like a fresh bringup on the robot.

Reproducibility: the scripts, the path and the LiDAR/odometry noise seeds are fixed by the seed, but the
stack runs in real time (threads, DDS, the OS scheduler), so the numbers vary slightly from run to run.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from hsi_kernel.child_process import die_with_parent, owned_temp_dir
from hsi_offline.evaluation.rollout import Rollout, load_rollout, rollout_from_rows, save_rollout
from hsi_offline.evaluation.scenarios import Scenario
from hsi_robot_nodes.bridge.safety import HANDOVER_SETTLE_S, State
from hsi_robot_nodes.goal_operator import PathOperator
from hsi_sim.process import SimProcess, SimProcessError

STANDUP_TIMEOUT_S = 10.0
WARMUP_S = 3.0  # on its own feet, held by the bridge's stand gains, before the policy takes over
EVAL_TMP_PREFIX = "hsi_eval_"
"""Temp folders of the deploy side (the child's rollout and log, the simulator's trace):
``hsi_eval_<pid>-<start time>_<random>``, named after the process that made it. Each is removed by its
process's ``finally``; one whose process was killed outright (SIGKILL of ``hsi-offline evaluate``; its
deploy child then gets SIGTERM from ``die_with_parent`` and, should a handler only ask for a clean stop,
ends itself within 0.2 s by ``exit_with_parent``) is removed by the next evaluation or deploy run
(``child_process.owned_temp_dir``)."""


def _wait(pred: Callable[[], bool], timeout_s: float, dt: float = 0.02) -> bool:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(dt)
    return pred()


def _bringup_args(policy: Path, dof: int, domain: int, interface: str) -> argparse.Namespace:
    from hsi_robot_nodes import bringup

    p = argparse.ArgumentParser()
    bringup.add_arguments(p)
    return p.parse_args(
        ["--policy", str(policy), "--dof", str(dof), "--domain", str(domain), "--interface", interface]
    )


def run_deploy(
    scenario: Scenario, policy: str | Path, seed: int, domain: int = 1, interface: str = "lo", dof: int = 23
) -> Rollout:
    """Run one scenario through the onboard nodes against the simulated robot; ground truth from its trace."""
    from hsi_robot_nodes.bringup import Bringup  # rclpy: only in the process that runs the stack

    tmp = owned_temp_dir(EVAL_TMP_PREFIX)
    sim = SimProcess(
        scenario.scene,
        dof,
        domain,
        interface,
        band=True,
        lidar=True,
        trace=tmp / "trace.json",
        extra=["--seed", str(seed)],
    )
    b = Bringup(_bringup_args(Path(policy), dof, domain, interface))
    op: PathOperator | None = None
    t_run = t_end = None
    ended = "duration"
    trace = None
    try:
        try:
            sim.start()
        except SimProcessError as e:
            return Rollout.empty("deploy", scenario.name, scenario.duration_s, f"error: {e}", seed)
        b.sim = sim  # b.stop() stops it and returns its ground-truth trace
        try:
            b.start()
        except Exception as e:  # a node refused to start (bridge: another controller, wrong DoF, ...)
            first = (str(e).strip().splitlines() or [type(e).__name__])[0]
            return Rollout.empty("deploy", scenario.name, scenario.duration_s, f"error: {first}", seed)
        op = PathOperator(b.context, scenario, dof)
        b.executor.add_node(op.node)
        b.nodes.append(op.node)  # destroyed with the others
        bridge = b.node("unitree_bridge").bridge
        ended = _operate(sim, bridge, op)
        if ended == "duration":
            t_run = next(t for t, _, new in bridge.safety.transitions if new == State.RUN.value)
            op.begin(t_run)
            _wait(
                lambda: time.monotonic() - t_run >= scenario.duration_s or bridge.state != State.RUN,
                scenario.duration_s + 1.0,
            )
            op.end()
            if bridge.state == State.RUN:
                t_end = t_run + scenario.duration_s
                sim.send("select")  # the operator ends the run: damping
            else:
                t_end = next(t for t, old, _ in bridge.safety.transitions if old == State.RUN.value)
                ended = f"safety: {bridge.safety.reason}"
            time.sleep(0.1)
    finally:
        trace = b.stop() if b.sim is not None else sim.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    if t_run is None or not trace or not trace.get("trace"):
        return Rollout.empty(
            "deploy",
            scenario.name,
            scenario.duration_s,
            ended if ended != "duration" else "error: no ground-truth trace",
            seed,
        )
    rows = np.asarray(trace["trace"], dtype=np.float64)
    rows = rows[(rows[:, 0] >= t_run) & (rows[:, 0] <= t_end + 1e-3)]
    tg = np.asarray([r for r in op.targets if t_run <= r[0] <= t_end], dtype=np.float64).reshape(-1, 4)
    periods = np.asarray([p for t, p in op.periods if t_run < t <= t_end], dtype=np.float64)
    s = trace.get("summary") or {}
    rtf = s["sim_time_s"] / s["wall_s"] if s.get("wall_s") else float("nan")
    scans = sum(t_run <= t <= t_end for t in op.odom_times) / max(t_end - t_run, 1e-9)
    notes = [
        f"physics 500 Hz paced to real time, real-time factor {rtf:.2f} over the simulator's life; "
        f"simulator overruns {s.get('overruns', '?')}, LowCmd bad CRC {s.get('lowcmd_bad_crc', '?')}; "
        f"scenario seed {seed} (LiDAR/odometry noise); goals sent {op.goals_sent}"
    ]
    return rollout_from_rows(
        "deploy",
        scenario.name,
        list(trace["columns"]),
        rows,
        t_run,
        scenario.duration_s,
        ended=ended,
        target_t=tg[:, 0] - t_run,
        target=tg[:, 1:],
        policy_periods_ms=periods,
        seed=seed,
        notes=notes,
        odometry_hz=scans,
    )


def _operate(sim: SimProcess, bridge, op: PathOperator) -> str:
    """start -> stand up -> release the band -> A. Returns 'duration' when RUN was reached, else an error."""
    if not _wait(lambda: bridge.state != State.WAIT_STATE, STANDUP_TIMEOUT_S):
        return "error: the bridge never received LowState"
    # warm-up: let the LiDAR, odometry and heightmap node run their first (slowest) cycles while the robot
    # hangs in zero torque, not while the bridge's 50 ms LowState watchdog guards a stand-up
    _wait(op.odometry_fresh, WARMUP_S)
    time.sleep(WARMUP_S / 2)
    for _ in range(3):  # a press is 0.15 s on the remote: retry if the bridge missed it
        sim.send("start")
        if _wait(lambda: bridge.state in (State.STAND_UP, State.HOLD), 1.5):
            break
    if not _wait(lambda: bridge.state == State.HOLD, STANDUP_TIMEOUT_S):
        return f"error: the robot did not stand up (bridge {bridge.state.value}: {bridge.safety.reason})"
    sim.send("release")
    time.sleep(HANDOVER_SETTLE_S)
    if bridge.state != State.HOLD:
        return f"error: the robot did not hold its stance off the gantry ({bridge.safety.reason})"
    if not _wait(op.odometry_fresh, 3.0):
        return "error: no odometry from the simulated LiDAR"
    for _ in range(3):
        sim.send("A")
        if _wait(lambda: bridge.state != State.HOLD, 1.5):
            break
    if bridge.state != State.RUN:
        return f"error: the bridge did not enter RUN ({bridge.state.value}: {bridge.safety.reason})"
    return "duration"


def run_deploy_isolated(
    scenario: Scenario,
    duration_scale: float,
    policy: str | Path,
    seed: int,
    domain: int = 1,
    interface: str = "lo",
    dof: int = 23,
) -> Rollout:
    """``run_deploy`` in a fresh Python process (``python -m hsi_offline.evaluation.deploy``).

    Why: each scenario then gets a clean interpreter, DDS participant and rclpy context, like a fresh
    bringup on the robot, and a native crash in the middleware (an abort in a DDS listener thread at
    teardown) costs one attempt instead of the whole evaluation.
    """
    tmp = owned_temp_dir(EVAL_TMP_PREFIX)
    out, log = tmp / "rollout.npz", tmp / "log.txt"
    cmd = [
        sys.executable,
        "-m",
        "hsi_offline.evaluation.deploy",
        "--scenario",
        scenario.name,
        "--duration-scale",
        repr(duration_scale),
        "--policy",
        str(policy),
        "--seed",
        str(seed),
        "--domain",
        str(domain),
        "--interface",
        interface,
        "--dof",
        str(dof),
        "--out",
        str(out),
    ]
    try:
        with open(log, "w") as f:
            try:
                rc = subprocess.run(
                    cmd,
                    stdout=f,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    timeout=scenario.duration_s + 120.0,
                    preexec_fn=die_with_parent,
                ).returncode  # no orphans
            except subprocess.TimeoutExpired:
                rc = None
        if rc == 0 and out.exists():
            return load_rollout(out)
        lines = [ln for ln in log.read_text(errors="replace").splitlines() if ln.strip()]
        last = lines[-1].strip()[:200] if lines else "no output"
        why = "timed out" if rc is None else (f"died of signal {-rc}" if rc < 0 else f"exited with {rc}")
        return Rollout.empty(
            "deploy", scenario.name, scenario.duration_s, f"error: the deploy process {why} ({last})", seed
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    """Child-process entry of ``run_deploy_isolated``: one scenario, the rollout written to ``--out``."""
    from hsi_kernel.child_process import exit_with_parent

    exit_with_parent()  # a killed evaluation must not leave this run (and its simulator) going
    from hsi_offline.evaluation.scenarios import get_scenarios

    p = argparse.ArgumentParser(prog="python -m hsi_offline.evaluation.deploy")
    p.add_argument("--scenario", required=True)
    p.add_argument("--duration-scale", type=float, default=1.0)
    p.add_argument("--policy", required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--domain", type=int, default=1)
    p.add_argument("--interface", default="lo")
    p.add_argument("--dof", type=int, default=23)
    p.add_argument("--out", type=Path, required=True)
    a = p.parse_args(argv)
    (scenario,) = get_scenarios([a.scenario], a.duration_scale)
    r = run_deploy(scenario, a.policy, a.seed, a.domain, a.interface, a.dof)
    save_rollout(r, a.out)
    print(f"deploy {scenario.name}: {r.ended}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
