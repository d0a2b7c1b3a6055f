"""CPU physics: MuJoCo, one world per environment, stepped in parallel by a thread pool.

Why independent worlds and not many robots on one tiled terrain: robots never interact, each world keeps
MuJoCo's small per-step cost, and a per-environment ``MjModel`` copy carries that environment's randomised
dynamics. The motor PD is ``hsi_robot_nodes.sim.robot_sim.pd_torque`` itself, evaluated every physics step
(200 Hz) from the latest target, exactly as the simulated robot does.

Why the loop is shaped the way it is (``hsi-offline bench env`` measures it against the bare physics):

- **A world is its compact state, not an MjData.** Each world keeps only MuJoCo's full physics state plus
  the solver warm start (89 numbers for the G1); a block of a few scratch ``MjData`` per thread stays in the
  L2 cache and takes the block's worlds in turn (``mj_setState`` -> steps -> ``mj_getState``), as
  ``mujoco.rollout`` does. One persistent ~50 kB ``MjData`` per world instead streams every world's data
  through the cache each step: measured 15% slower physics at 128 worlds. The continuation is exact: the
  state holds everything ``mj_step`` reads (``tests/test_training_env.py`` checks bit equality with a world
  stepped without interruption).
- **All decimation steps of a block before the next block**, the PD law batched over the block.
- **Whole-array copies into preallocated rows and one vectorised pass over the contacts**: per world and
  physics step the Python is one ``np.copyto`` and ``mj_step``; gathers of joint columns, body rows and
  contact flags run once per block.

Body poses are those of the state reached (one ``mj_kinematics``); contacts are, as after a plain
``mj_step``, those found at the start of the last physics step. ``mj_step`` releases the GIL, so the worker
threads run the physics of their blocks concurrently.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import mujoco
import numpy as np
import torch

from hsi_robot_nodes.sim.robot_sim import MotorCommand, pd_torque

from . import model_index


def _as_slice(idx: np.ndarray) -> slice | np.ndarray:
    """A contiguous ascending index array as a slice (a view, no gather)."""
    if len(idx) and np.array_equal(idx, np.arange(idx[0], idx[0] + len(idx))):
        return slice(int(idx[0]), int(idx[0]) + len(idx))
    return idx


DEFAULT_BLOCK = 8
"""Worlds stepped together: 8 x ~50 kB of MjData (plus their models) stay in a core's L2 cache for the four
physics steps, while the batched PD still costs only ~1 us per world and physics step. ``block`` is a plain
attribute; ``hsi-offline bench env --block`` measures other values."""


STATE_SPEC = mujoco.mjtState.mjSTATE_FULLPHYSICS | mujoco.mjtState.mjSTATE_WARMSTART
"""What a world keeps between steps: everything ``mj_step`` reads besides the controls it is given."""


def state_offset(model: mujoco.MjModel, field: mujoco.mjtState, spec: int = STATE_SPEC) -> int:
    """Where ``field`` starts in a ``spec`` state vector (fields are laid out in the order of their bits)."""
    return mujoco.mj_stateSize(model, int(spec) & (int(field) - 1))


@dataclass
class _Block:
    """A few consecutive worlds and the scratch data that steps them, with everything the loop touches
    bound once: building views and looking attributes up costs more than the copies themselves."""

    start: int
    stop: int
    worlds: list[tuple[mujoco.MjModel, mujoco.MjData, np.ndarray, np.ndarray, np.ndarray]]
    # per world: model, scratch data, its ctrl view, the torque row, the world's state row
    qpos_src: list[np.ndarray]  # each scratch data's qpos ...
    qvel_src: list[np.ndarray]
    xpos_src: list[np.ndarray]
    xquat_src: list[np.ndarray]
    qpos_dst: np.ndarray  # ... and the flat view of the block's rows it is concatenated into
    qvel_dst: np.ndarray
    xpos_dst: np.ndarray
    xquat_dst: np.ndarray


class CpuBackend:
    def __init__(self, models: list[mujoco.MjModel], dof: int, decimation: int, threads: int = 0,
                 block: int = DEFAULT_BLOCK):
        self.models = list(models)
        self.num_envs = N = len(self.models)
        self.dof, self.decimation = dof, decimation
        self.ix = model_index(self.models[0], dof)
        m0 = self.models[0]
        self.nq, self.nv, self.nu, self.nbody = m0.nq, m0.nv, m0.nu, m0.nbody
        self._q, self._v, self._a = _as_slice(self.ix.qadr), _as_slice(self.ix.vadr), _as_slice(self.ix.act)
        self.state = np.zeros((N, mujoco.mj_stateSize(m0, STATE_SPEC)))  # each world's physics state
        self._qvel_at = state_offset(m0, mujoco.mjtState.mjSTATE_QVEL)
        # every world's state after the last step, one row each (what read() reports)
        self.qpos = np.zeros((N, self.nq))
        self.qvel = np.zeros((N, self.nv))
        self.xpos = np.zeros((N, self.nbody, 3))
        self.xquat = np.zeros((N, self.nbody, 4))
        self.contact_flags = np.zeros(N, dtype=np.int64)
        self.last_torque = np.zeros((N, dof))
        self.ctrl = np.zeros((N, self.nu))  # the torque of the current physics step
        threads = threads or (os.cpu_count() or 1)
        self.threads = max(1, min(threads, N))
        bounds = np.linspace(0, N, self.threads + 1).astype(int)
        self.chunks = [(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:]) if b > a]
        self.block = max(1, int(block))
        self._scratch: list[list[mujoco.MjData]] = [[] for _ in self.chunks]  # per chunk (thread)
        self._blocks: dict[tuple[int, int], list[_Block]] = {}
        self.pool = ThreadPoolExecutor(self.threads) if len(self.chunks) > 1 else None
        self.recorder: StepRecorder | None = None  # set by the benchmark only

    # -- state ------------------------------------------------------------------------------------------
    def set_state(self, env_ids: np.ndarray, qpos: np.ndarray, qvel: np.ndarray) -> None:
        """Place worlds at (qpos, qvel), zero their controls and recompute everything derived."""
        d = self._scratch_data(0, 0)
        ids = [int(i) for i in np.asarray(env_ids)]
        geoms, owners = [], []
        for k, i in enumerate(ids):
            m = self.models[i]
            mujoco.mj_resetData(m, d)
            d.qpos[:] = qpos[k]
            d.qvel[:] = qvel[k]
            mujoco.mj_forward(m, d)
            mujoco.mj_getState(m, d, self.state[i], STATE_SPEC)
            self.qpos[i], self.qvel[i], self.xpos[i], self.xquat[i] = d.qpos, d.qvel, d.xpos, d.xquat
            g = d.contact.geom
            if len(g):
                geoms.append(g.copy())
                owners.append(i)
        self.contact_flags[ids] = 0
        self._contact_flags(geoms, owners)

    def add_root_velocity(self, env_ids: np.ndarray, dv: np.ndarray) -> None:
        """Push worlds; the observation of this step keeps the velocity the physics reached, the push acts
        from the next physics step on."""
        at = self._qvel_at
        self.state[np.asarray(env_ids), at:at + 3] += dv

    def set_model(self, i: int, model: mujoco.MjModel) -> None:
        self.models[i] = model
        self._blocks.clear()

    @property
    def body_pos(self) -> np.ndarray:
        """(N, bodies, 3) world positions of ``BODY_LINKS`` (tracked links, then the torso)."""
        return self.xpos[:, self.ix.bodies]

    @property
    def body_quat(self) -> np.ndarray:
        return self.xquat[:, self.ix.bodies]

    def _contact_flags(self, geoms: list[np.ndarray], owners: list[int]) -> None:
        """Set the flags of worlds ``owners`` to the OR of the body flags of their contacts (``geoms[k]``:
        world ``owners[k]``'s contact geom pairs) in one vectorised pass; the caller zeroes worlds without
        contacts."""
        if not geoms:
            return
        counts = np.array([len(g) for g in geoms])
        flags = self.ix.body_flags[self.ix.geom_body[np.concatenate(geoms)]]
        per_contact = flags[:, 0] | flags[:, 1]
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        self.contact_flags[owners] = np.bitwise_or.reduceat(per_contact, starts)

    # -- stepping -----------------------------------------------------------------------------------------
    def _scratch_data(self, chunk: int, j: int) -> mujoco.MjData:
        pool = self._scratch[chunk]
        while len(pool) <= j:
            pool.append(mujoco.MjData(self.models[0]))
        return pool[j]

    def _chunk_blocks(self, c: int) -> list[_Block]:
        a, b = self.chunks[c]
        key = (c, self.block)
        if key not in self._blocks:
            out = []
            for s in range(a, b, self.block):
                e = min(s + self.block, b)
                ds = [self._scratch_data(c, j) for j in range(e - s)]
                worlds = [(self.models[i], d, d.ctrl, self.ctrl[i], self.state[i])
                          for i, d in enumerate(ds, s)]
                out.append(_Block(
                    s, e, worlds,
                    [d.qpos for d in ds], [d.qvel for d in ds], [d.xpos for d in ds], [d.xquat for d in ds],
                    self.qpos[s:e].reshape(-1), self.qvel[s:e].reshape(-1), self.xpos[s:e].reshape(-1, 3),
                    self.xquat[s:e].reshape(-1, 4)))
            self._blocks[key] = out
        return self._blocks[key]

    def _run_chunk(self, c: int, targets: list[np.ndarray], kp: np.ndarray, kd: np.ndarray) -> None:
        """Chunk c's worlds, block by block: state in, ``decimation`` PD + physics steps, state out."""
        dec, effort = self.decimation, self.ix.effort
        qadr, vadr, act = self._q, self._v, self._a
        cp, cat, step, spec = np.copyto, np.concatenate, mujoco.mj_step, STATE_SPEC
        set_state, get_state, kinematics = mujoco.mj_setState, mujoco.mj_getState, mujoco.mj_kinematics
        rec = self.recorder
        ones = np.ones((self.block, self.dof), np.uint8)
        zeros = np.zeros((self.block, self.dof))
        geoms: list[np.ndarray] = []  # contacts of the whole chunk, flagged in one pass at the end
        owners: list[int] = []
        for blk in self._chunk_blocks(c):
            s, e = blk.start, blk.stop
            n = e - s
            for m, d, _, _, st in blk.worlds:
                set_state(m, d, st, spec)
            for k in range(dec):
                # the PD law, batched over the block, on every world's current q, dq
                cat(blk.qpos_src, out=blk.qpos_dst)
                cat(blk.qvel_src, out=blk.qvel_dst)
                cmd = MotorCommand(ones[:n], targets[k][s:e], zeros[:n], zeros[:n], kp[s:e], kd[s:e])
                tau = pd_torque(cmd, self.qpos[s:e, qadr], self.qvel[s:e, vadr], effort)
                self.ctrl[s:e, act] = tau
                if rec is not None:
                    rec.capture_ctrl(self, s, e, k)
                for m, d, ctrl, row, _ in blk.worlds:
                    cp(ctrl, row)
                    step(m, d)
            self.last_torque[s:e] = tau
            for i, (m, d, _, _, st) in enumerate(blk.worlds, s):
                g = d.contact.geom  # found at the start of the last step, as mj_step leaves them
                if len(g):
                    geoms.append(g.copy())  # the scratch data takes the next block's worlds
                    owners.append(i)
                get_state(m, d, st, spec)
                kinematics(m, d)  # body poses of the state just reached
            cat(blk.qpos_src, out=blk.qpos_dst)
            cat(blk.qvel_src, out=blk.qvel_dst)
            cat(blk.xpos_src, out=blk.xpos_dst)
            cat(blk.xquat_src, out=blk.xquat_dst)
        a, b = self.chunks[c]
        self.contact_flags[a:b] = 0
        self._contact_flags(geoms, owners)

    def step(self, target: torch.Tensor, prev_target: torch.Tensor, kp: torch.Tensor, kd: torch.Tensor,
             delay: torch.Tensor) -> None:
        """``decimation`` physics steps; world i uses ``prev_target`` for its first ``delay[i]`` steps."""
        tgt, prev, kp_, kd_ = (np.asarray(x.detach().cpu().numpy(), dtype=np.float64)
                               for x in (target, prev_target, kp, kd))
        late = delay.detach().cpu().numpy()[:, None]
        targets = [np.where(k < late, prev, tgt) for k in range(self.decimation)]
        if self.recorder is not None:
            self.recorder.capture_start(self)
        if self.pool is None:
            for c in range(len(self.chunks)):
                self._run_chunk(c, targets, kp_, kd_)
            return
        futures = [self.pool.submit(self._run_chunk, c, targets, kp_, kd_) for c in range(len(self.chunks))]
        for f in futures:
            f.result()

    def read(self, device: str = "cpu") -> dict[str, torch.Tensor]:
        """Current state of every world as float32 tensors (bodies: tracked links then torso)."""
        def t(x: np.ndarray) -> torch.Tensor:
            return torch.as_tensor(x, dtype=torch.float32, device=device)

        qs, vs = self._q, self._v
        flags = torch.as_tensor(self.contact_flags, device=device)
        return {"root_pos": t(self.qpos[:, 0:3]), "root_quat": t(self.qpos[:, 3:7]),
                "root_lin_vel_w": t(self.qvel[:, 0:3]), "root_ang_vel_b": t(self.qvel[:, 3:6]),
                "joint_pos": t(self.qpos[:, qs]), "joint_vel": t(self.qvel[:, vs]),
                "body_pos": t(self.body_pos), "body_quat": t(self.body_quat),
                "foot_contact": torch.stack([(flags & 1) > 0, (flags & 2) > 0], dim=-1),
                "forbidden_contact": (flags & 4) > 0, "torque": t(self.last_torque)}

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown()
            self.pool = None


class StepRecorder:
    """Records what the physics of ``steps`` environment steps did, so that ``hsi-offline bench env`` can
    replay exactly those physics steps with ``mujoco.rollout`` (its bare rate): every world's state at the
    start of each step and the controls of every physics step. Set ``t`` to the environment step being
    recorded before each step; recording is two vectorised copies per block and step."""

    def __init__(self, backend: CpuBackend, steps: int):
        self.t = 0
        self.raw = np.zeros((steps,) + backend.state.shape)
        self.ctrl = np.zeros((steps, backend.num_envs, backend.decimation, backend.nu))

    def capture_start(self, backend: CpuBackend) -> None:
        self.raw[self.t] = backend.state

    def capture_ctrl(self, backend: CpuBackend, a: int, b: int, k: int) -> None:
        self.ctrl[self.t, a:b, k] = backend.ctrl[a:b]

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
