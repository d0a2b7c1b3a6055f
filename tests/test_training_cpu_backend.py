"""The CPU backend's batched stepping is exactly plain MuJoCo, and the env benchmark's bare replay is exactly
the environment's physics.

The backend keeps each world as a row of MuJoCo's integration state and steps the rows with ``mujoco.batch``
(poses and contact sensors from the batch's position stage); these tests pin that this changes nothing: a
world stepped by the backend ends bit-equal to the same world stepped with ``mj_step`` in one uninterrupted
``MjData`` under the same PD law, its contact flags are the bodies MuJoCo finds touching the terrain in that
state, and ``mujoco.rollout`` replaying the recorded states and torques lands on the states the environment
reached.
"""

from __future__ import annotations

import mujoco
import numpy as np
import torch

from hsi_kernel.contract import get_contract
from hsi_kernel.motor import MotorCommand, pd_torque
from hsi_offline.bench.env import replay_rate
from hsi_offline.training.backends.cpu import STATE_SPEC, StepRecorder
from hsi_offline.training.config import EnvConfig
from hsi_offline.training.env import TrackingEnv
from hsi_offline.training.motion_lib import MotionLibrary
from hsi_offline.training.procedural_clips import sway_clip


def _env(n: int, threads: int = 1, randomize: bool = True) -> TrackingEnv:
    cfg = EnvConfig(num_envs=n, threads=threads, seed=11)
    cfg.randomization.enabled = randomize
    return TrackingEnv(cfg, MotionLibrary([sway_clip(seconds=4.0)]))


def test_batched_stepping_equals_uninterrupted_mj_step():
    env = _env(7, threads=2)
    b, c = env.backend, get_contract(23)
    b.block = 4  # blocks of 4 and 3 worlds, each stepped on both threads
    # twins: each world's own MjData at the backend's current state, stepped with plain mj_step
    twins = []
    for i in range(7):
        d = mujoco.MjData(b.models[i])
        mujoco.mj_setState(b.models[i], d, b.state[i], STATE_SPEC)
        twins.append(d)
    gen = torch.Generator().manual_seed(2)
    n_feet = 0
    for _ in range(6):
        a = torch.randn(7, 23, generator=gen) * 0.3
        target = (env.default_q + env.cfg.action_scale * a).double().numpy()
        prev = env.prev_target.double().numpy()
        kp = (env.kp * env.params.kp_scale).double().numpy()
        kd = (env.kd * env.params.kd_scale).double().numpy()
        delay = env.params.delay_steps.numpy()
        b.step(
            torch.as_tensor(target),
            torch.as_tensor(prev),
            torch.as_tensor(kp),
            torch.as_tensor(kd),
            env.params.delay_steps,
        )
        env.prev_target = torch.as_tensor(target, dtype=torch.float32)
        for i, d in enumerate(twins):
            m = b.models[i]
            for k in range(env.cfg.decimation):
                tgt = prev[i] if k < delay[i] else target[i]
                cmd = MotorCommand(np.ones(23, np.uint8), tgt, np.zeros(23), np.zeros(23), kp[i], kd[i])
                d.ctrl[b.ix.act] = pd_torque(cmd, d.qpos[b.ix.qadr], d.qvel[b.ix.vadr], c.effort)
                mujoco.mj_step(m, d)
            mujoco.mj_fwdPosition(m, d)  # kinematics and collision at the state reached
            assert np.array_equal(d.qpos, b.qpos[i]) and np.array_equal(d.qvel, b.qvel[i])
            touching = {int(g) for pair in d.contact.geom for g in pair}
            flags = np.bitwise_or.reduce([b.ix.body_flags[b.ix.geom_body[g]] for g in touching] or [0])
            assert b.contact_flags[i] == flags, (i, b.contact_flags[i], flags)
            n_feet += int(flags & 3 != 0)
            assert np.array_equal(d.xpos[b.ix.bodies], b.body_pos[i])
            assert np.array_equal(d.ctrl[b.ix.act], b.last_torque[i])
    assert not np.allclose(b.qpos[:, b.ix.qadr], env.default_q.numpy())  # the robots really moved
    assert n_feet > 0  # feet on the ground were seen, so the flags were really compared
    env.close()


def test_bench_replay_reaches_the_environments_states():
    env = _env(5)
    b = env.backend
    rec = StepRecorder(b, 4)
    b.recorder = rec
    actions = torch.zeros(5, 23)
    for s in range(4):
        rec.t = s
        env.step(actions)
    b.recorder = None
    rate, final, cpu = replay_rate(b, rec, threads=1)
    assert rate > 0 and cpu > 0
    full = mujoco.mjtState.mjSTATE_FULLPHYSICS
    d = mujoco.MjData(b.models[0])
    reached = np.zeros_like(final[-1])
    for i in range(5):  # the state after the last step: the backend's (before any reset it triggered)
        mujoco.mj_setState(b.models[i], d, b.state[i], STATE_SPEC)
        mujoco.mj_getState(b.models[i], d, reached[i], full)
    # every step replayed from its recorded start ends where the environment's next step started
    starts, _, _ = rec.rollout_inputs(b.models[0])
    starts = starts.reshape(4, 5, -1)
    same = [np.array_equal(final[s, i], starts[s + 1, i]) for s in range(3) for i in range(5)]
    assert sum(same) >= len(same) - 2  # a reset or push between steps moves a world; nothing else may
    done_last = env.episode_length_buf == 0
    for i in range(5):
        if not done_last[i]:
            assert np.array_equal(final[3, i], reached[i])
    env.close()


def test_push_changes_the_next_step_not_the_current_observation():
    env = _env(2, randomize=False)
    b = env.backend
    before = b.qvel.copy()
    b.add_root_velocity(np.array([1]), np.array([[0.5, 0.0, 0.0]]))
    assert np.array_equal(b.qvel, before)
    env.step(torch.zeros(2, 23))
    assert b.qvel[1, 0] - b.qvel[0, 0] > 0.3  # world 1 carries the push into its physics
    env.close()
