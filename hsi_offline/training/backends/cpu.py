"""CPU physics: MuJoCo with one ``MjData`` world per environment, stepped in parallel by a thread pool.

Why independent worlds and not many robots on one tiled terrain: robots never interact, each world keeps
MuJoCo's small per-step cost, and a per-environment ``MjModel`` copy carries that environment's randomised
dynamics. The motor PD is ``hsi_robot_nodes.sim.robot_sim.pd_torque`` itself, evaluated for a whole chunk of
environments at once every physics step (200 Hz), from the latest target, exactly as the simulated robot
does. ``mj_step`` releases the GIL, so the worker threads run physics concurrently; the remaining per-world
Python work is a few array copies per physics step.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import mujoco
import numpy as np
import torch

from hsi_robot_nodes.sim.robot_sim import MotorCommand, pd_torque

from . import model_index


def _as_slice(idx: np.ndarray) -> slice | np.ndarray:
    """A contiguous ascending index array as a slice (much cheaper to apply per world)."""
    if len(idx) and np.array_equal(idx, np.arange(idx[0], idx[0] + len(idx))):
        return slice(int(idx[0]), int(idx[0]) + len(idx))
    return idx


class CpuBackend:
    def __init__(self, models: list[mujoco.MjModel], dof: int, decimation: int, threads: int = 0):
        self.models = list(models)
        self.num_envs = len(self.models)
        self.dof, self.decimation = dof, decimation
        self.ix = model_index(self.models[0], dof)
        self.datas = [mujoco.MjData(m) for m in self.models]
        # numpy views into each world's buffers, bound once: attribute lookups cost more than the copies
        self._qpos_v = [d.qpos for d in self.datas]
        self._qvel_v = [d.qvel for d in self.datas]
        self._ctrl_v = [d.ctrl for d in self.datas]
        self._xpos_v = [d.xpos for d in self.datas]
        self._xquat_v = [d.xquat for d in self.datas]
        m0 = self.models[0]
        self.nq, self.nv = m0.nq, m0.nv
        self._q = _as_slice(self.ix.qadr)
        self._v = _as_slice(self.ix.vadr)
        self._a = _as_slice(self.ix.act)
        threads = threads or (os.cpu_count() or 1)
        self.threads = max(1, min(threads, self.num_envs))
        bounds = np.linspace(0, self.num_envs, self.threads + 1).astype(int)
        self.chunks = [np.arange(a, b) for a, b in zip(bounds[:-1], bounds[1:]) if b > a]
        self.pool = ThreadPoolExecutor(self.threads) if self.threads > 1 else None
        N, B = self.num_envs, len(self.ix.bodies)
        self.qpos = np.zeros((N, self.nq))
        self.qvel = np.zeros((N, self.nv))
        self.body_pos = np.zeros((N, B, 3))
        self.body_quat = np.zeros((N, B, 4))
        self.contact_flags = np.zeros(N, dtype=np.int64)
        self.last_torque = np.zeros((N, dof))

    # -- state ------------------------------------------------------------------------------------------
    def set_state(self, env_ids: np.ndarray, qpos: np.ndarray, qvel: np.ndarray) -> None:
        """Place worlds at (qpos, qvel), zero their controls and recompute everything derived."""
        for k, i in enumerate(np.asarray(env_ids)):
            m, d = self.models[i], self.datas[i]
            mujoco.mj_resetData(m, d)
            d.qpos[:] = qpos[k]
            d.qvel[:] = qvel[k]
            mujoco.mj_forward(m, d)
            self._read_one(i)

    def add_root_velocity(self, env_ids: np.ndarray, dv: np.ndarray) -> None:
        for k, i in enumerate(np.asarray(env_ids)):
            self.datas[i].qvel[0:3] += dv[k]

    def set_model(self, i: int, model: mujoco.MjModel) -> None:
        self.models[i] = model

    def _read_one(self, i: int) -> None:
        d, ix = self.datas[i], self.ix
        self.qpos[i] = self._qpos_v[i]
        self.qvel[i] = self._qvel_v[i]
        self.body_pos[i] = self._xpos_v[i][ix.bodies]
        self.body_quat[i] = self._xquat_v[i][ix.bodies]
        n = d.ncon
        if n:
            bodies = ix.geom_body[d.contact.geom[:n]]
            self.contact_flags[i] = np.bitwise_or.reduce(ix.body_flags[bodies].ravel())
        else:
            self.contact_flags[i] = 0

    # -- stepping -----------------------------------------------------------------------------------------
    def _run_chunk(self, idx: np.ndarray, target: np.ndarray, prev: np.ndarray, kp: np.ndarray,
                   kd: np.ndarray, delay: np.ndarray) -> None:
        ms = [self.models[i] for i in idx]
        ds = [self.datas[i] for i in idx]
        qv = [self._qpos_v[i] for i in idx]
        vv = [self._qvel_v[i] for i in idx]
        cv = [self._ctrl_v[i] for i in idx]
        step = mujoco.mj_step
        n = len(idx)
        q = np.empty((n, self.dof))
        dq = np.empty((n, self.dof))
        mode = np.ones((n, self.dof), np.uint8)
        zeros = np.zeros((n, self.dof))
        effort = self.ix.effort
        qs, vs, acts = self._q, self._v, self._a
        tau = zeros
        for k in range(self.decimation):
            for j in range(n):
                q[j] = qv[j][qs]
                dq[j] = vv[j][vs]
            tgt = np.where((k < delay)[:, None], prev, target)
            tau = pd_torque(MotorCommand(mode, tgt, zeros, zeros, kp, kd), q, dq, effort)
            for j in range(n):
                cv[j][acts] = tau[j]
                step(ms[j], ds[j])
        self.last_torque[idx] = tau
        for j, i in enumerate(idx):
            mujoco.mj_kinematics(ms[j], ds[j])  # body poses of the state just reached, not the step's start
            self._read_one(i)

    def step(self, target: torch.Tensor, prev_target: torch.Tensor, kp: torch.Tensor, kd: torch.Tensor,
             delay: torch.Tensor) -> None:
        """``decimation`` physics steps; world i uses ``prev_target`` for its first ``delay[i]`` steps."""
        args = [np.asarray(x.detach().cpu().numpy(), dtype=np.float64) for x in (target, prev_target, kp, kd)]
        dl = delay.detach().cpu().numpy()
        if self.pool is None:
            self._run_chunk(self.chunks[0], *(a[self.chunks[0]] for a in args), dl[self.chunks[0]])
            return
        futures = [self.pool.submit(self._run_chunk, c, *(a[c] for a in args), dl[c]) for c in self.chunks]
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
