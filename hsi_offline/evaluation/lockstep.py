"""A scenario through the onboard cores in lock-step with the simulated robot: no DDS, no threads, no LiDAR.

Why a third side between the training environment and deploy: what differs between them is of two kinds.

- **Controller logic**: the bridge's stand-up on the gantry and hand-over to the policy, its target clamp
  and rate limit and gain bounds, the policy node's observation builder, history reset and fallbacks, the
  joystick node's goal shaping (clamp, dead band, rate limit), 500 Hz physics with the motor-driver PD.
- **Transport and perception**: DDS, threads and the OS scheduler (latency, jitter, lost LowStates), the
  elevation map built from the simulated LiDAR and the LiDAR-inertial odometry.

This side runs all of the first kind exactly: the same ``SafetyMachine``, ``PolicyRunner`` and
``RootCommand`` objects the bridge, policy and joystick nodes wrap, against the same ``SimRobot`` the
simulator process steps, with the same operator script as ``deploy`` (start, stand up, release the band,
settle, A). It replaces the second kind by its ideal: the training environment's exact heightmap (the shared
sampler on the true terrain), ground-truth odometry, and a fixed command latency of ``latency_steps``
physics steps (the deploy loop answers in about 1.3-2.5 ms: ``hsi-robot bench loop``). So a policy that
stands in the training environment and falls here has a controller-logic gap; one that stands here and falls
in deploy has a transport or perception gap. It is deterministic (no randomness at all) and runs faster than
real time.

Example of a controller-logic gap it shows: a policy that commands a joint beyond its limit gets more torque
in training than through the bridge's clamp, and can fall here for that alone; this is why training clamps
its targets as the bridge does (``contract.target_bounds``).
"""

from __future__ import annotations

from collections import deque
from pathlib import Path

import mujoco
import numpy as np

from hsi_kernel.contract import TORSO_LINK
from hsi_kernel.heightmap.sampler import HeightmapSpec, sample_heightmap, terrain_height_fn
from hsi_kernel.policy_file import load_metadata
from hsi_offline.evaluation.rollout import Rollout, rollout_from_rows
from hsi_offline.evaluation.scenarios import Scenario
from hsi_robot_nodes.bridge.safety import HANDOVER_SETTLE_S, LowStateView, SafetyMachine, State
from hsi_robot_nodes.goal_operator import PathAnchor
from hsi_robot_nodes.joystick.root_command import RootCommand
from hsi_robot_nodes.policy.runner import PolicyRunner
from hsi_sim.robot_sim import SimRobot, quat_to_rpy
from hsi_sim.runner import TRACE_COLUMNS, trace_row
from hsi_sim.scene import build_scene

ZERO_TORQUE_S = 1.0  # hanging on the band before the operator presses start
POLICY_EVERY = 10  # physics steps (500 Hz) per policy cycle (50 Hz)


def _yaw(q_wxyz: np.ndarray) -> float:
    return float(quat_to_rpy(q_wxyz)[2])


def run_lockstep(
    scenario: Scenario, policy_path: str | Path, seed: int = 0, latency_steps: int = 1
) -> Rollout:
    """Run ``scenario`` through the onboard cores in lock-step with ``SimRobot``; ground truth at 50 Hz."""
    meta = load_metadata(policy_path)
    slot = "terrain" if meta.layout.heightmap_size else "blind"
    robot = SimRobot(build_scene(scenario.scene, meta.dof), band=True)
    c, dt = robot.contract, robot.dt
    safety = SafetyMachine(c)
    runner = PolicyRunner({slot: policy_path}, meta.dof)
    root = RootCommand()
    height_fn = terrain_height_fn(robot.scene.terrain)
    spec = HeightmapSpec.from_dict(meta.heightmap_spec) if meta.layout.heightmap_size else None
    torso = mujoco.mj_name2id(robot.model, mujoco.mjtObj.mjOBJ_BODY, TORSO_LINK)
    t_start = ZERO_TORQUE_S
    t_release = t_start + safety.cfg.stand_up_s + 0.1
    t_a = t_release + HANDOVER_SETTLE_S
    t_end = t_a + scenario.duration_s
    pending: deque = deque()  # (tick at which the bridge receives them, targets)
    rows, targets = [], []
    anchor = None
    ended = "duration"
    tick, t_run = 0, None
    while True:
        t = tick * dt
        s = robot.state()
        q, dq = c.slots_to_joints(s.q), c.slots_to_joints(s.dq)
        view = LowStateView(
            q,
            dq,
            s.quat_wxyz,
            s.gyro,
            np.zeros(c.dof),
            robot.mode_machine,
            t,
            tick=s.tick,
            tau_est=c.slots_to_joints(s.tau_est),
            acc=s.acc,
        )
        safety.on_lowstate(view)
        if tick == round(t_start / dt):
            safety.on_event("start", t)
        if tick == round(t_release / dt):
            robot.band.enabled = False
        if tick == round(t_a / dt):
            if safety.state != State.HOLD:
                ended = f"error: the robot did not hold its stance off the gantry ({safety.reason})"
                break
            safety.on_event("run", t)  # the bridge hands over at once, or once the robot is at rest
        if t_run is None and tick >= round(t_a / dt):
            if safety.state == State.RUN:
                t_run, t_end = t, t + scenario.duration_s
                runner.reset()  # what the policy node does when the bridge reports RUN
                pos = robot.data.xpos[torso]
                anchor = PathAnchor(float(pos[0]), float(pos[1]), _yaw(robot.data.xquat[torso]))
            elif safety.state != State.HOLD or t > t_a + safety.cfg.run_wait_s + 0.1:
                ended = f"error: the bridge did not enter RUN ({safety.reason})"
                break
        if tick % POLICY_EVERY == 0:
            now = int(round(t * 1e9))
            runner.update_joint_state(q, dq, now, now)
            runner.update_imu(s.quat_wxyz, s.gyro, now)
            pos, yaw = robot.data.xpos[torso].copy(), _yaw(robot.data.xquat[torso])
            if spec is not None:
                runner.update_heightmap(sample_heightmap(height_fn, pos, yaw, spec)[0], now)
            root.set_odometry(float(pos[0]), float(pos[1]), yaw, t)
            if t_run is not None:
                goal, goal_yaw = anchor.goal(*scenario.path_at(t - t_run + scenario.lookahead_s))
                root.set_goal(float(goal[0]), float(goal[1]), goal_yaw)
                offset = root.step(POLICY_EVERY * dt, t)
                runner.update_root_target(*offset)
                targets.append([t - t_run, *offset])
                rows.append(trace_row(robot, t))
            result = runner.step(now)
            if result.targets is not None:
                pending.append((tick + latency_steps, result.targets))
        while pending and pending[0][0] <= tick:
            safety.on_targets(pending.popleft()[1], t)
        cmd = safety.tick(t)
        if t_run is not None and safety.state != State.RUN:
            ended = f"safety: {safety.reason}"
            break
        if t_run is not None and t >= t_end - 1e-9:
            break
        robot.set_command(cmd)
        robot.step(1)
        tick += 1
    if t_run is None:
        return Rollout.empty("lockstep", scenario.name, scenario.duration_s, ended, seed)
    tg = np.asarray(targets, dtype=np.float64).reshape(-1, 4)
    periods = np.full(max(len(rows) - 1, 0), POLICY_EVERY * dt * 1e3)
    notes = [
        f"onboard cores in lock-step with the simulated robot: physics {1 / dt:.0f} Hz, command "
        f"latency {latency_steps} physics step(s), exact heightmap and odometry (no DDS, no LiDAR); "
        "deterministic"
    ]
    return rollout_from_rows(
        "lockstep",
        scenario.name,
        list(TRACE_COLUMNS),
        np.asarray(rows),
        t_run,
        scenario.duration_s,
        ended=ended,
        target_t=tg[:, 0],
        target=tg[:, 1:],
        policy_periods_ms=periods,
        seed=seed,
        notes=notes,
    )
