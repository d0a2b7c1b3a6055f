"""Batched physics: MuJoCo Warp, every environment one world of a batched ``nworld`` model.

Written against mujoco-warp's public API (``put_model``, ``put_data(nworld=...)``, ``step``, ``forward``,
``kinematics``) with torch views of its arrays (``wp.to_torch``), so observations and rewards stay on the
device. The PD law is ``hsi_offline.training.pd.pd_torque_torch``, tested equal to the simulated robot's.

Devices: ``cuda:N`` is what it is for (thousands of worlds on one NVIDIA GPU). ``cpu`` runs the SAME Warp
kernels on the CPU: far slower than the CPU backend, but it lets the tests check this backend against the
CPU one on a machine without a GPU (tests/test_training_warp.py), so the GPU path is not first run on a lent
GPU.

Terrains: MuJoCo Warp batches worlds of ONE model and does not batch height-field data, so environments on
different terrains stand on different tiles of one model (``sim.scene.build_tiled_model``); a world's robot
is placed at its tile's offset and every position is reported in the terrain's own frame (``origins``).
Dynamics randomisation: friction, DoF friction and mass are batched per world (``put_model(batch_sizes)``)
and copied from the environment's per-environment ``MjModel`` whenever a world is placed (the environment
re-draws them at reset, just before placing it), exactly the fields the CPU backend reads from its copies.
"""

from __future__ import annotations

import mujoco
import numpy as np
import torch

from ..pd import pd_torque_torch
from .model_index import model_index
from .state import PhysicsState


class BackendUnavailableError(ValueError):
    """The Warp backend cannot run on this machine as asked (one-line message; the CLI exits 2)."""


def require_warp(device: str = "cuda:0"):
    """Import mujoco-warp and warp for ``device`` ('cpu' or 'cuda[:N]'), or raise a one-line error."""
    try:
        import mujoco_warp as mjw
        import warp as wp
    except ImportError:
        raise BackendUnavailableError(
            "the warp backend needs the mujoco-warp package (pip install -r requirements/runtime.txt)"
        ) from None
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise BackendUnavailableError(
            f"the warp backend on {device} needs an NVIDIA GPU (torch sees no CUDA "
            "device); use --backend cpu, or --device cpu to run the Warp kernels "
            "on the CPU (slow, for checks)"
        )
    if not (device == "cpu" or device.startswith("cuda")):
        raise BackendUnavailableError(f"unknown device '{device}' for the warp backend: cpu or cuda:N")
    wp.config.quiet = True
    wp.init()
    return mjw, wp


BATCHED_FIELDS = ("geom_friction", "body_mass", "dof_frictionloss")
"""Model fields that differ per world (what ``training.randomisation.randomize_model`` draws)."""


class WarpBackend:
    def __init__(
        self,
        models: list[mujoco.MjModel],
        dof: int,
        decimation: int,
        device: str = "cuda:0",
        world_model: mujoco.MjModel | None = None,
        origins: np.ndarray | None = None,
    ):
        """``models``: the environment's per-environment models (their terrain and randomised dynamics);
        ``world_model``: the model all worlds run (default ``models[0]``; a tiled model when the
        environments stand on several terrains) with ``origins`` (N, 2): each world's tile offset."""
        mjw, wp = require_warp(device)
        self.mjw, self.wp = mjw, wp
        self.models = models
        self.num_envs, self.dof, self.decimation = len(models), dof, decimation
        self.device = device
        self._wp_device = wp.get_device(device)
        base = world_model if world_model is not None else models[0]
        self.ix = model_index(base, dof)
        self.mjm = base
        mjd = mujoco.MjData(base)
        mujoco.mj_forward(base, mjd)
        with wp.ScopedDevice(self._wp_device):
            self.m = mjw.put_model(base, batch_sizes={f: self.num_envs for f in BATCHED_FIELDS})
            self.d = mjw.put_data(base, mjd, nworld=self.num_envs)
        t = wp.to_torch
        self._batched = {f: t(getattr(self.m, f)) for f in BATCHED_FIELDS}
        # robot geoms are the same, in the same order, in every scene; the world body's geoms are terrain
        robot = np.flatnonzero(base.geom_bodyid > 0)
        self._robot_geoms = torch.as_tensor(robot, device=self._batched["geom_friction"].device)
        self._terrain_geoms = torch.as_tensor(
            np.flatnonzero(base.geom_bodyid == 0), device=self._batched["geom_friction"].device
        )
        self.qpos, self.qvel, self.ctrl = t(self.d.qpos), t(self.d.qvel), t(self.d.ctrl)
        self.xpos, self.xquat = t(self.d.xpos), t(self.d.xquat)
        dev = self.qpos.device
        self.qadr = torch.as_tensor(self.ix.qadr, device=dev)
        self.vadr = torch.as_tensor(self.ix.vadr, device=dev)
        self.act = torch.as_tensor(self.ix.act, device=dev)
        self.bodies = torch.as_tensor(self.ix.bodies, device=dev)
        self.effort = torch.as_tensor(self.ix.effort, device=dev, dtype=self.qpos.dtype)
        self.body_flags = torch.as_tensor(self.ix.body_flags, device=dev)
        self.geom_body = torch.as_tensor(self.ix.geom_body, device=dev)
        self.last_torque = torch.zeros(self.num_envs, dof, device=dev)
        o = np.zeros((self.num_envs, 3))
        if origins is not None:
            o[:, :2] = origins
        self.origins = torch.as_tensor(o, device=dev, dtype=self.qpos.dtype)

    def _scope(self):
        """Kernels launch on the current Warp device, so every call into mujoco-warp runs inside this."""
        return self.wp.ScopedDevice(self._wp_device)

    def set_state(self, env_ids: np.ndarray, qpos: np.ndarray, qvel: np.ndarray) -> None:
        """Place worlds at (qpos, qvel), zero their controls and solver warm start, recompute what derives
        from the state (poses, contacts), as the CPU backend's mj_resetData + mj_forward does."""
        ids = torch.as_tensor(env_ids, device=self.qpos.device, dtype=torch.long)
        self._copy_dynamics(np.asarray(env_ids))
        self.qpos[ids] = torch.as_tensor(qpos, device=self.qpos.device, dtype=self.qpos.dtype)
        self.qpos[ids, 0:3] += self.origins[ids]
        self.qvel[ids] = torch.as_tensor(qvel, device=self.qpos.device, dtype=self.qvel.dtype)
        self.ctrl[ids] = 0
        self.wp.to_torch(self.d.qacc_warmstart)[ids] = 0
        with self._scope():
            self.mjw.forward(self.m, self.d)

    def _copy_dynamics(self, env_ids: np.ndarray) -> None:
        """World i takes friction, DoF friction and masses of the environment's model i."""
        fr, mass, dof_f = (self._batched[f] for f in BATCHED_FIELDS)
        for i in env_ids.tolist():
            m = self.models[i]
            own = torch.as_tensor(m.geom_friction, dtype=fr.dtype, device=fr.device)
            per_robot = own[torch.as_tensor(np.flatnonzero(m.geom_bodyid > 0), device=fr.device)]
            fr[i, self._robot_geoms] = per_robot
            fr[i, self._terrain_geoms] = own[int(np.flatnonzero(m.geom_bodyid == 0)[0])]
            mass[i] = torch.as_tensor(m.body_mass, dtype=mass.dtype, device=mass.device)
            dof_f[i] = torch.as_tensor(m.dof_frictionloss, dtype=dof_f.dtype, device=dof_f.device)

    def add_root_velocity(self, env_ids: np.ndarray, dv: np.ndarray) -> None:
        ids = torch.as_tensor(env_ids, device=self.qvel.device, dtype=torch.long)
        self.qvel[ids, 0:3] += torch.as_tensor(dv, device=self.qvel.device, dtype=self.qvel.dtype)

    def step(self, target, prev_target, kp, kd, delay) -> None:
        for k in range(self.decimation):
            tgt = torch.where((k < delay)[:, None], prev_target, target)
            q, dq = self.qpos[:, self.qadr], self.qvel[:, self.vadr]
            tau = pd_torque_torch(tgt, q, dq, kp, kd, self.effort)
            self.ctrl[:, self.act] = tau.to(self.ctrl.dtype)
            with self._scope():
                self.mjw.step(self.m, self.d)
        self.last_torque = tau
        with self._scope():  # body poses and contacts of the state just reached (as the CPU backend's)
            self.mjw.fwd_position(self.m, self.d)

    def read(self, device: str = "cuda:0", ids: np.ndarray | None = None) -> PhysicsState:
        """State of every world, or of worlds ``ids`` only (rows in that order)."""
        contact_flags = self._contact_flags()
        f = torch.float32
        rows = None if ids is None else torch.as_tensor(np.asarray(ids), device=self.qpos.device)

        def out(d: dict[str, torch.Tensor]) -> PhysicsState:
            return PhysicsState(**{k: (v if rows is None else v[rows]).to(device) for k, v in d.items()})

        o = self.origins
        return out(
            {
                "root_pos": (self.qpos[:, 0:3] - o).to(f),
                "root_quat": self.qpos[:, 3:7].to(f),
                "root_lin_vel_w": self.qvel[:, 0:3].to(f),
                "root_ang_vel_b": self.qvel[:, 3:6].to(f),
                "joint_pos": self.qpos[:, self.qadr].to(f),
                "joint_vel": self.qvel[:, self.vadr].to(f),
                "body_pos": (self.xpos[:, self.bodies] - o[:, None]).to(f),
                "body_quat": self.xquat[:, self.bodies].to(f),
                "foot_contact": torch.stack([(contact_flags & 1) > 0, (contact_flags & 2) > 0], dim=-1),
                "forbidden_contact": (contact_flags & 4) > 0,
                "torque": self.last_torque.to(f),
            }
        )

    def _contact_flags(self) -> torch.Tensor:
        """Per-world OR of the body flags of every active contact (contacts are stored flat with worldid)."""
        t = self.wp.to_torch
        n = int(t(self.d.nacon)[0])
        flags = torch.zeros(self.num_envs, dtype=torch.long, device=self.qpos.device)
        if n == 0:
            return flags
        geom = t(self.d.contact.geom)[:n].long()
        world = t(self.d.contact.worldid)[:n].long()
        fb = self.body_flags[self.geom_body[geom]]
        per = fb[:, 0] | fb[:, 1]
        for bit in (1, 2, 4):
            hit = torch.zeros(self.num_envs, dtype=torch.bool, device=flags.device)
            hit.index_fill_(0, world[(per & bit) > 0], True)
            flags |= hit.long() * bit
        return flags

    def set_model(self, i: int, model: mujoco.MjModel) -> None:
        self.models[i] = model
        self._copy_dynamics(np.array([i]))

    def close(self) -> None:
        pass
