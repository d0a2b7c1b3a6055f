"""CPU physics: MuJoCo, one world per environment, batched in C by ``mujoco.batch``.

Why independent worlds and not many robots on one tiled terrain: robots never interact, each world keeps
MuJoCo's small per-step cost, and a per-environment ``MjModel`` copy carries that environment's randomised
dynamics. The motor PD is ``hsi_sim.robot_sim.pd_torque`` itself, evaluated every physics step
(200 Hz) from the latest target, exactly as the simulated robot does.

Why the loop is shaped the way it is (``hsi-offline bench train`` and ``bench env`` measure it):

- **A world is a row of MuJoCo's integration state** (``mjSTATE_INTEGRATION``: positions, velocities, warm
  start, controls, ...), not a persistent 50 kB ``MjData``: ``mujoco.batch.Batch`` loads each row into one hot
  ``MjData`` per thread, steps it in C on all cores and saves it back, bit-identical to stepping one
  ``MjData`` per world. Rows are plain arrays, so the PD law reads q, dq and writes the torques of a whole
  block of worlds in one vectorised call per physics step (blocks: ``BLOCK_PER_THREAD``); no Python runs per
  world.
- **What the environment reads comes out of the batch too:** the last physics step also runs the position
  stage at the state reached (``stage=mjSTAGE_POS``), so the bound ``xpos``/``xquat`` are that state's body
  poses and MuJoCo contact sensors (``add_contact_sensors``: feet and forbidden-contact bodies) say which
  bodies touch the terrain there. Batch exposes no contact list; the sensors make one unnecessary.
"""

from __future__ import annotations

import os

import mujoco
import numpy as np
import torch
from mujoco import batch as mjbatch

from hsi_kernel.motor import MotorCommand, pd_torque

from .model_index import model_index
from .state import PhysicsState

BLOCK_PER_THREAD = 16
"""Worlds per thread stepped through all their physics steps before the next block: 16 per-environment
models (~56 kB each, randomised copies) stay in a core's 2 MB L2 cache for the four steps; sweeping all
worlds every physics step streamed 256 models through the cache four times per env-step (+7 ms at 256)."""

STATE_SPEC = mujoco.mjtState.mjSTATE_INTEGRATION
"""What a world keeps between steps: the rows of ``mujoco.batch.Batch.state``."""


def _as_slice(idx: np.ndarray) -> slice | np.ndarray:
    """A contiguous ascending index array as a slice (a view, no gather)."""
    if len(idx) and np.array_equal(idx, np.arange(idx[0], idx[0] + len(idx))):
        return slice(int(idx[0]), int(idx[0]) + len(idx))
    return idx


class CpuBackend:
    def __init__(self, models: list[mujoco.MjModel], dof: int, decimation: int, threads: int = 0):
        self.models = list(models)
        self.num_envs = N = len(self.models)
        self.dof, self.decimation = dof, decimation
        self.ix = model_index(self.models[0], dof)
        m0 = self.models[0]
        self.nq, self.nv, self.nu, self.nbody = m0.nq, m0.nv, m0.nu, m0.nbody
        self._q, self._v, self._a = _as_slice(self.ix.qadr), _as_slice(self.ix.vadr), _as_slice(self.ix.act)
        threads = threads or (os.cpu_count() or 1)
        self.threads = max(1, min(threads, N))
        self.batch = mjbatch.Batch(m0, nsim=N, nthread=self.threads)
        self.batch.set_models(self.models)
        self.state = self.batch.state  # (N, nstate) rows: each world's whole integration state
        self._bq, self._bv, self._bc = (self.batch.bind(f) for f in ("qpos", "qvel", "ctrl"))
        outputs = ("xpos", "xquat", "sensordata")
        self._bxpos, self._bxquat, self._bsensor = (self.batch.bind(f) for f in outputs)
        self._pos_stage, self._no_stage = int(mujoco.mjtStage.mjSTAGE_POS), int(mujoco.mjtStage.mjSTAGE_NONE)
        if not len(self.ix.sensor_adr):
            raise ValueError("the training scene has no contact sensors (build it with add_contact_sensors)")
        # every world's state after the last step, one row each (what read() reports)
        self.qpos = np.zeros((N, self.nq))
        self.qvel = np.zeros((N, self.nv))
        self.xpos = np.zeros((N, self.nbody, 3))
        self.xquat = np.zeros((N, self.nbody, 4))
        self.contact_flags = np.zeros(N, dtype=np.int64)
        self.last_torque = np.zeros((N, dof))
        self.block = BLOCK_PER_THREAD * self.threads
        self._scratch = mujoco.MjData(m0)  # resets place worlds through it
        self._ones = np.ones((N, dof), np.uint8)
        self._zeros = np.zeros((N, dof))
        self.recorder: StepRecorder | None = None  # set by the benchmark only

    @property
    def block(self) -> int:
        """Worlds stepped through all their physics steps before the next ones (see BLOCK_PER_THREAD)."""
        return self._block

    @block.setter
    def block(self, n: int) -> None:
        self._block = n
        # the ids of each block, in the dtype mujoco.batch takes them (no conversion per call)
        self._block_ids = [
            np.arange(s, min(s + n, self.num_envs), dtype=np.int32) for s in range(0, self.num_envs, n)
        ]

    # -- state ------------------------------------------------------------------------------------------
    def set_state(self, env_ids: np.ndarray, qpos: np.ndarray, qvel: np.ndarray) -> None:
        """Place worlds at (qpos, qvel), zero their controls and compute what the environment reads of them:
        body poses and contacts. That is ``mj_forward``'s position stage (with its checks of q and dq); its
        velocity and acceleration stages (the constraint solver) change nothing that is kept, since a world
        keeps only its integration state, and cost most of a reset.

        The environment re-draws a world's dynamics in its ``MjModel`` just before placing it, so the batch
        is handed the models again here (it reads them; cheap)."""
        d = self._scratch
        ids = [int(i) for i in np.asarray(env_ids)]
        adr, flag = self.ix.sensor_adr, self.ix.sensor_flag
        for k, i in enumerate(ids):
            m = self.models[i]
            mujoco.mj_resetData(m, d)
            d.qpos[:] = qpos[k]
            d.qvel[:] = qvel[k]
            mujoco.mj_checkPos(m, d)
            mujoco.mj_checkVel(m, d)
            mujoco.mj_fwdPosition(m, d)
            mujoco.mj_sensorPos(m, d)
            mujoco.mj_getState(m, d, self.state[i], STATE_SPEC)
            self.qpos[i], self.qvel[i], self.xpos[i], self.xquat[i] = d.qpos, d.qvel, d.xpos, d.xquat
            self.contact_flags[i] = np.bitwise_or.reduce(np.where(d.sensordata[adr] > 0, flag, 0))
        self.batch.set_models(self.models)

    def add_root_velocity(self, env_ids: np.ndarray, dv: np.ndarray) -> None:
        """Push worlds; the observation of this step keeps the velocity the physics reached, the push acts
        from the next physics step on."""
        self._bv[np.asarray(env_ids), 0:3] += dv

    def set_model(self, i: int, model: mujoco.MjModel) -> None:
        self.models[i] = model
        self.batch.set_models(self.models)

    @property
    def body_pos(self) -> np.ndarray:
        """(N, bodies, 3) world positions of ``BODY_LINKS`` (tracked links, then the torso)."""
        return self.xpos[:, self.ix.bodies]

    @property
    def body_quat(self) -> np.ndarray:
        return self.xquat[:, self.ix.bodies]

    # -- stepping -----------------------------------------------------------------------------------------
    def _pd(self, s: int, e: int, target: np.ndarray, kp: np.ndarray, kd: np.ndarray) -> np.ndarray:
        """Worlds s..e-1's motor torques: ``pd_torque`` on the q, dq of their state rows."""
        cmd = MotorCommand(self._ones[s:e], target[s:e], self._zeros[s:e], self._zeros[s:e], kp[s:e], kd[s:e])
        return pd_torque(cmd, self._bq[s:e, self._q], self._bv[s:e, self._v], self.ix.effort)

    def step(
        self,
        target: torch.Tensor,
        prev_target: torch.Tensor,
        kp: torch.Tensor,
        kd: torch.Tensor,
        delay: torch.Tensor,
    ) -> None:
        """``decimation`` physics steps; world i uses ``prev_target`` for its first ``delay[i]`` steps."""
        tgt, prev, kp_, kd_ = (
            np.asarray(x.detach().cpu().numpy(), dtype=np.float64) for x in (target, prev_target, kp, kd)
        )
        late = delay.detach().cpu().numpy()[:, None]
        targets = [np.where(k < late, prev, tgt) for k in range(self.decimation)]
        rec = self.recorder
        if rec is not None:
            rec.capture_start(self)
        last = self.decimation - 1
        for ids in self._block_ids:
            s, e = int(ids[0]), int(ids[-1]) + 1
            for k in range(self.decimation):
                # the PD law for the block's worlds at once, on the q, dq the last physics step reached
                self._bc[s:e, self._a] = self._pd(s, e, targets[k], kp_, kd_)
                if rec is not None:
                    rec.capture_ctrl(self, s, e, k)
                # the last physics step also computes the position stage at the state reached: body poses
                # and the contact sensors of that state
                self.batch.step(ids, stage=self._pos_stage if k == last else self._no_stage)
            self.last_torque[s:e] = self._bc[s:e, self._a]
        self.qpos[:] = self._bq
        self.qvel[:] = self._bv
        self.xpos[:] = self._bxpos
        self.xquat[:] = self._bxquat
        self._sensor_flags()

    def _sensor_flags(self) -> None:
        """Each world's contact flags: the OR of the flags of the bodies whose contact sensor found one."""
        found = self._bsensor[:, self.ix.sensor_adr] > 0
        self.contact_flags[:] = np.bitwise_or.reduce(np.where(found, self.ix.sensor_flag, 0), axis=1)

    def read(self, device: str = "cpu", ids: np.ndarray | None = None) -> PhysicsState:
        """State of every world, or of worlds ``ids`` only (rows in that order), as float32 tensors (bodies:
        tracked links then torso)."""

        def t(x: np.ndarray) -> torch.Tensor:
            return torch.as_tensor(x, dtype=torch.float32, device=device)

        rows = slice(None) if ids is None else np.asarray(ids)
        qpos, qvel = t(self.qpos[rows]), t(self.qvel[rows])  # one conversion each; the fields are views
        flags = torch.as_tensor(self.contact_flags[rows], device=device)
        bodies = self.ix.bodies
        return PhysicsState(
            root_pos=qpos[:, 0:3],
            root_quat=qpos[:, 3:7],
            root_lin_vel_w=qvel[:, 0:3],
            root_ang_vel_b=qvel[:, 3:6],
            joint_pos=qpos[:, self._q],
            joint_vel=qvel[:, self._v],
            body_pos=t(self.xpos[rows][:, bodies]),
            body_quat=t(self.xquat[rows][:, bodies]),
            foot_contact=torch.stack([(flags & 1) > 0, (flags & 2) > 0], dim=-1),
            forbidden_contact=(flags & 4) > 0,
            torque=t(self.last_torque[rows]),
        )

    def close(self) -> None:
        """Nothing to release: the batch's threads end with it."""


class StepRecorder:
    """Records what the physics of ``steps`` environment steps did, so that ``hsi-offline bench env`` can
    replay exactly those physics steps with ``mujoco.rollout`` (its bare rate): every world's state at the
    start of each step and the controls of every physics step. Set ``t`` to the environment step being
    recorded before each step; recording is one vectorised copy per block and physics step."""

    def __init__(self, backend: CpuBackend, steps: int):
        self.t = 0
        self.raw = np.zeros((steps,) + backend.state.shape)
        self.ctrl = np.zeros((steps, backend.num_envs, backend.decimation, backend.nu))

    def capture_start(self, backend: CpuBackend) -> None:
        self.raw[self.t] = backend.state

    def capture_ctrl(self, backend: CpuBackend, a: int, b: int, k: int) -> None:
        self.ctrl[self.t, a:b, k] = backend._bc[a:b]

    def rollout_inputs(self, model: mujoco.MjModel) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(initial states in ``mjSTATE_FULLPHYSICS``, warm starts, controls), one row per (step, world)."""
        d = mujoco.MjData(model)
        full = mujoco.mjtState.mjSTATE_FULLPHYSICS
        raw = self.raw.reshape(-1, self.raw.shape[-1])
        states = np.zeros((len(raw), mujoco.mj_stateSize(model, full)))
        warm = np.zeros((len(raw), model.nv))
        for r, row in enumerate(raw):
            mujoco.mj_setState(model, d, row, STATE_SPEC)
            mujoco.mj_getState(model, d, states[r], full)
            warm[r] = d.qacc_warmstart
        return states, warm, self.ctrl.reshape(len(raw), self.ctrl.shape[2], -1)
