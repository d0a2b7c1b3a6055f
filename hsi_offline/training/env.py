"""The G1 motion-tracking environment: one definition for both physics backends, an rsl-rl ``VecEnv``.

Physics at 200 Hz with decimation 4 (policy at 50 Hz); PD actuation exactly as the simulated robot and the
motor driver do it, from ``q* = q_default + action_scale * clip(a, +-action_clip)`` clamped inside the joint
limits exactly as the bridge clamps it (``contract.target_bounds``). Observations are built
with the shared observation contract (``hsi_kernel.observation``) and the shared heightmap sampler
(``hsi_kernel.heightmap.sampler``), so the onboard policy node computes the same vector. Groups:

- ``policy``: the tracking (teacher-layout) observation, the actor input for stages 1, 2 and the
teacher's in 3;
- ``teacher``: the same tensor, under the name the Distillation runner expects;
- ``student``: the deployable layout (no reference joints, no reference roll/pitch);
- ``critic``: the policy observation plus privileged state (velocities, heights, link errors, contacts).

Every environment tracks a reference clip from the motion library; it starts at a random frame of it
(reference state initialisation) and ends on tracking loss, forbidden contact, the clip's end or the episode
limit (the last two are time-outs, which PPO bootstraps).
"""

from __future__ import annotations

import copy
from collections import deque
from collections.abc import Callable

import numpy as np
import torch
from rsl_rl.env import VecEnv
from tensordict import TensorDict

from hsi_kernel.contract import TRACKED_LINKS, get_contract, policy_gains
from hsi_kernel.heightmap.sampler import DEFAULT_SPEC, grid_offsets, sample_heightmap, terrain_height_fn
from hsi_kernel.observation import (
    assemble,
    make_layout,
    proprio_frame,
    push_history,
    reset_history,
)
from hsi_kernel.terrain import make_scene_terrain
from hsi_sim.scene import build_scene, build_tiled_model

from . import randomisation as rnd
from . import terminations
from .backends import make_backend
from .backends.model_index import add_contact_sensors
from .backends.state import EnvState
from .config import EnvConfig
from .motion_lib import MotionLibrary
from .rewards import compute_rewards
from .torch_math import quat_rotate_inverse, roll_pitch_of, rotate_yaw_inverse, wrap_angle, yaw_of


class TrackingEnv(VecEnv):
    def __init__(self, cfg: EnvConfig, motion: MotionLibrary | None = None):
        if cfg.backend == "warp":
            from .backends.warp import require_warp

            require_warp(cfg.device)  # one-line error before anything touches a device
        self.cfg = cfg
        self.device = cfg.device
        self.num_envs = cfg.num_envs
        self.contract = get_contract(cfg.dof)
        self.num_actions = cfg.dof
        self.max_episode_length = cfg.max_episode_length
        self.dt = cfg.policy_dt
        self.gen = torch.Generator(device=self.device).manual_seed(cfg.seed)
        self.rng = np.random.default_rng(cfg.seed)
        self.motion = motion or MotionLibrary.from_paths(
            cfg.clips, 1.0 / self.dt, self.device, cfg.fail_weight_range, cfg.clip_weights or None
        )
        if abs(self.motion.fps * self.dt - 1.0) > 1e-6:
            raise ValueError(
                f"motion library is at {self.motion.fps} fps but the policy runs at {1 / self.dt} Hz"
            )
        if self.motion.dof != cfg.dof:
            raise ValueError(f"clips are {self.motion.dof}-DoF but env.dof is {cfg.dof}")
        self.teacher_layout = make_layout(cfg.dof, "teacher", heightmap=cfg.heightmap)
        self.student_layout = make_layout(cfg.dof, "student", heightmap=cfg.heightmap)
        self.hm_spec = DEFAULT_SPEC
        self._build_worlds()
        dev, N, dof = self.device, self.num_envs, cfg.dof
        f32 = dict(device=dev, dtype=torch.float32)
        self.default_q = torch.as_tensor(self.contract.default_q, **f32)
        kp, kd = policy_gains(self.contract, cfg.gains)
        self.kp = torch.as_tensor(kp, **f32)
        self.kd = torch.as_tensor(kd, **f32)
        self.lower = torch.as_tensor(self.contract.lower, **f32)
        self.upper = torch.as_tensor(self.contract.upper, **f32)
        # the bridge clamps every target to these before the motors; the PD here must see the same targets
        lo, hi = self.contract.target_bounds()
        self.target_lo, self.target_hi = torch.as_tensor(lo, **f32), torch.as_tensor(hi, **f32)
        self.ankle_idx = torch.tensor(
            [i for i, n in enumerate(self.contract.joint_names) if "ankle" in n], device=dev
        )
        self.episode_length_buf = torch.zeros(N, dtype=torch.long, device=dev)
        self.frame = torch.zeros(N, dtype=torch.long, device=dev)
        self.clip_id = torch.zeros(N, dtype=torch.long, device=dev)
        self.actions = torch.zeros(N, dof, **f32)
        self.last_action = torch.zeros(N, dof, **f32)
        self.prev_target = self.default_q.repeat(N, 1)
        self.link_vel = torch.zeros(N, len(TRACKED_LINKS), 3, **f32)
        self.history = torch.zeros(N, self.teacher_layout.history, self.teacher_layout.frame_dim, **f32)
        self.odom = torch.zeros(N, 3, **f32)
        self.odom_age = torch.zeros(N, dtype=torch.long, device=dev)
        self.hm = torch.full((N, self.hm_spec.num_cells), self.hm_spec.fill, **f32)
        self.hm_age = torch.zeros(N, dtype=torch.long, device=dev)
        max_delay = cfg.randomization.heightmap_delay_steps[1] if cfg.randomization.enabled else 0
        self.hm_hist = torch.full((max_delay + 1, N, self.hm_spec.num_cells), self.hm_spec.fill, **f32)
        self.hm_head = 0  # the slot of hm_hist holding the newest map (a ring: slot head + d is d steps old)
        self.hm_offsets = torch.as_tensor(grid_offsets(self.hm_spec), **f32)
        self.push_interval = max(1, int(round(cfg.randomization.push_interval_s / self.dt)))
        self.params = rnd.sample_episode_params(
            cfg.randomization, N, dof, cfg.sim_dt, cfg.decimation, self.gen, dev
        )
        self.termination = terminations.TerminationCurriculum(
            cfg.termination_start or cfg.termination_distance, cfg.termination_distance
        )
        self.ep_return = torch.zeros(N, **f32)
        self.ep_tracking = torch.zeros(N, **f32)
        self.tracking_buffer: deque[float] = deque(maxlen=100)  # tracking return of finished episodes
        # 1 per finished episode that tracked its clip to the end (or the episode limit), 0 per termination:
        # issue 5's "tracking success rate" over the last 100 episodes
        self.success_buffer: deque[float] = deque(maxlen=100)
        all_ids = torch.arange(N, device=dev)
        self._reset_idx(all_ids)
        self.obs = self._observations(all_ids)

    # -- construction -------------------------------------------------------------------------------------
    def _build_worlds(self) -> None:
        """One scene per distinct terrain; environment i belongs to terrain group ``i % groups``."""
        keys: list[int] = []
        terrains = []
        for e in self.motion.entries:
            key = id(e.terrain) if e.terrain is not None else 0
            if key not in keys:
                keys.append(key)
                terrains.append(e.terrain if e.terrain is not None else make_scene_terrain("flat"))
        self.terrains = terrains
        self.scenes = [
            build_scene(t, self.cfg.dof, timestep=self.cfg.sim_dt, edit=add_contact_sensors) for t in terrains
        ]
        G = len(self.scenes)
        self.group = torch.arange(self.num_envs, device=self.device) % G
        self.group_rows = [(self.group == g).nonzero().flatten() for g in range(G)]
        clip_group = [keys.index(id(e.terrain) if e.terrain is not None else 0) for e in self.motion.entries]
        self.allowed = torch.tensor([[cg == g for cg in clip_group] for g in range(G)], device=self.device)
        self.height_fns = [terrain_height_fn(t) for t in terrains]
        base = [s.model for s in self.scenes]
        randomize = self.cfg.randomization.enabled
        self.models = [copy.copy(base[i % G]) if randomize else base[i % G] for i in range(self.num_envs)]
        self.base_models = base
        if self.cfg.backend == "warp":  # one model for all worlds: the terrains side by side (tiles)
            world, offsets = build_tiled_model(terrains, self.cfg.dof, timestep=self.cfg.sim_dt)
            origins = offsets[self.group.cpu().numpy()]
            self.backend = make_backend(
                "warp",
                self.models,
                self.cfg.dof,
                self.cfg.decimation,
                device=self.device,
                world_model=world,
                origins=origins,
            )
        else:
            self.backend = make_backend(
                self.cfg.backend,
                self.models,
                self.cfg.dof,
                self.cfg.decimation,
                self.cfg.threads,
                self.device,
            )
        self.qpos0 = np.asarray(base[0].qpos0, dtype=np.float64)

    # -- rsl-rl VecEnv ------------------------------------------------------------------------------------
    def get_observations(self) -> TensorDict:
        return self.obs

    def step(self, actions: torch.Tensor) -> tuple[TensorDict, torch.Tensor, torch.Tensor, dict]:
        a = actions.to(self.device).clamp(-self.cfg.action_clip, self.cfg.action_clip)
        target = torch.clamp(self.default_q + self.cfg.action_scale * a, self.target_lo, self.target_hi)
        kp = self.kp * self.params.kp_scale
        kd = self.kd * self.params.kd_scale
        self.backend.step(target, self.prev_target, kp, kd, self.params.delay_steps)
        self.prev_target = target
        self._push()
        return self._post_step(a)

    def replay_step(self) -> tuple[TensorDict, torch.Tensor, torch.Tensor, dict]:
        """Advance by putting every robot exactly on its reference (kinematic replay, no physics)."""
        ids = torch.arange(self.num_envs, device=self.device)
        nxt = torch.minimum(self.frame + 1, self.motion.last_frame(self.clip_id))
        qpos, qvel, _ = self._reference_qpos(nxt)
        self.backend.set_state(ids.cpu().numpy(), qpos, qvel)  # _post_step advances self.frame to nxt
        return self._post_step(torch.zeros_like(self.actions))

    # -- internals ----------------------------------------------------------------------------------------
    def _push(self) -> None:
        r = self.cfg.randomization
        if not r.enabled:
            return
        due = (self.episode_length_buf + 1) % self.push_interval == 0
        ids = due.nonzero().flatten()
        if len(ids):
            dv = rnd.push_velocity(r, len(ids), self.gen, self.device)
            self.backend.add_root_velocity(ids.cpu().numpy(), dv.cpu().numpy())

    def _state(self, ids: torch.Tensor | None = None) -> EnvState:
        """Every world's state, or only worlds ``ids``' (rows in the order of ``ids``)."""
        s = self.backend.read(self.device, None if ids is None else ids.cpu().numpy())
        s["link_pos"] = s["body_pos"][:, :-1]
        s["torso_pos"] = s["body_pos"][:, -1]
        s["torso_quat"] = s["body_quat"][:, -1]
        return s

    def _post_step(self, a: torch.Tensor):
        prev_link = self.state["link_pos"]
        self.state = s = self._state()
        self.link_vel = (s["link_pos"] - prev_link) / self.dt
        s["link_vel"] = self.link_vel
        self.episode_length_buf += 1
        last = self.motion.last_frame(self.clip_id)
        self.frame = torch.minimum(self.frame + 1, last)
        ref = self.motion.get(self.frame)
        finite = torch.isfinite(s["root_pos"]).all(-1) & torch.isfinite(s["joint_vel"]).all(-1)
        link_err = terminations.link_error(s["link_pos"], ref["link_pos"])
        err = link_err
        drifted = torch.zeros_like(finite)
        if self.cfg.termination_frame == "root":
            err = terminations.relative_link_error(
                s["link_pos"],
                s["root_pos"],
                yaw_of(s["root_quat"]),
                ref["link_pos"],
                ref["root_pos"],
                yaw_of(ref["root_quat"]),
            )
            drift = torch.linalg.norm(s["root_pos"][:, :2] - ref["root_pos"][:, :2], dim=-1)
            drifted = drift > self.cfg.root_drift_distance
        term = terminations.terminated(
            s["link_pos"],
            ref["link_pos"],
            self.termination.value,
            s["forbidden_contact"],
            self.cfg.forbidden_contacts,
            finite,
            err,
        )
        term = term | drifted
        tout = (
            terminations.timed_out(self.episode_length_buf, self.max_episode_length, self.frame, last) & ~term
        )
        self.last_link_error = link_err
        self.end_cause = terminations.end_cause(
            term,
            tout,
            (err > self.termination.value) | drifted,
            s["forbidden_contact"] if self.cfg.forbidden_contacts else torch.zeros_like(term),
            finite,
            self.frame >= last,
        )
        reward, terms = compute_rewards(
            self.cfg.rewards,
            self.dt,
            s,
            ref,
            a,
            self.last_action,
            term,
            self.lower,
            self.upper,
            self.ankle_idx,
        )
        reward = torch.nan_to_num(reward, nan=0.0, posinf=0.0, neginf=0.0)
        self.last_reward_terms = terms
        self.last_action = a
        self.actions = a
        tracking = sum(terms[k] for k in ("joint_pos", "link_pos", "root_ori", "torso_pos"))
        self.ep_return += reward
        self.ep_tracking += tracking
        dones = term | tout
        done_ids = dones.nonzero().flatten()
        log = {f"Episode_Reward/{k}": v.mean() for k, v in terms.items()}
        log["Metrics/link_error_max"] = link_err.mean()
        if len(done_ids):
            self.motion.record(self.clip_id[done_ids], term[done_ids])
            log["Metrics/episode_tracking_reward"] = self.ep_tracking[done_ids].mean()
            self.tracking_buffer.extend(self.ep_tracking[done_ids].tolist())
            self.success_buffer.extend((~term[done_ids]).float().tolist())
            # the curriculum counts an episode as earned when it timed out or lasted CURRICULUM_SURVIVE_S
            lasted = self.episode_length_buf[done_ids] * self.dt >= terminations.CURRICULUM_SURVIVE_S
            self.termination.record((~term[done_ids] | lasted).float().tolist())
            log["Metrics/termination_distance"] = torch.tensor(self.termination.value)
            log["Metrics/terminated_fraction"] = term[done_ids].float().mean()
            log["Metrics/clip_success_rate"] = self.motion.success_rate().mean()
            self._reset_idx(done_ids)
        self.obs = self._observations(done_ids)
        extras = {"time_outs": tout, "log": log}
        return self.obs, reward, dones, extras

    def _reference_qpos(self, frames: torch.Tensor) -> tuple[np.ndarray, np.ndarray, dict]:
        ref = self.motion.get(frames)
        n = len(frames)
        qpos = np.repeat(self.qpos0[None], n, axis=0)
        qvel = np.zeros((n, self.base_models[0].nv))
        ix = self.backend.ix
        qpos[:, 0:3] = ref["root_pos"].cpu().numpy()
        qpos[:, 3:7] = ref["root_quat"].cpu().numpy()
        qpos[:, ix.qadr] = ref["joint_pos"].cpu().numpy()
        qvel[:, 0:3] = ref["root_lin_vel"].cpu().numpy()
        qvel[:, 3:6] = ref["root_ang_vel"].cpu().numpy()
        qvel[:, ix.vadr] = ref["joint_vel"].cpu().numpy()
        return qpos, qvel, ref

    def _set_reference_state(self, ids: torch.Tensor, frames: torch.Tensor) -> dict[str, torch.Tensor]:
        """Place worlds ``ids`` on the reference at ``frames``; returns that reference."""
        qpos, qvel, ref = self._reference_qpos(frames)
        self.backend.set_state(ids.cpu().numpy(), qpos, qvel)
        self.frame[ids] = frames
        return ref

    def start_at(self, clip_ids: torch.Tensor, frames: torch.Tensor) -> TensorDict:
        """Restart every environment on the given clips at the given frames (clip-local numbers), instead
        of at random ones: what a per-clip tracking check needs. Returns the new observations."""
        ids = torch.arange(self.num_envs, device=self.device)
        starts = self.motion.clip_start[clip_ids.to(self.device)] + frames.to(self.device)
        self._reset_idx(ids, (clip_ids.to(self.device), starts))
        self.obs = self._observations(ids)
        return self.obs

    def _reset_idx(self, ids: torch.Tensor, starts: tuple[torch.Tensor, torch.Tensor] | None = None) -> None:
        n = len(ids)
        clip_ids, frames = starts if starts is not None else self._sample_starts(ids)
        r = self.cfg.randomization
        if r.enabled:
            for i in ids.tolist():
                rnd.randomize_model(
                    self.models[i],
                    self.base_models[int(self.group[i])],
                    r,
                    self.rng,
                    self.backend.ix.root_body,
                )
        self.clip_id[ids] = clip_ids
        ref = self._set_reference_state(ids, frames)
        self.episode_length_buf[ids] = 0
        self.last_action[ids] = 0.0
        self.prev_target[ids] = ref["joint_pos"]
        self.link_vel[ids] = ref["link_vel"]
        self.odom_age[ids] = 10**6
        self.hm_age[ids] = 10**6
        self.ep_return[ids] = 0.0
        self.ep_tracking[ids] = 0.0
        p = rnd.sample_episode_params(
            r, n, self.cfg.dof, self.cfg.sim_dt, self.cfg.decimation, self.gen, self.device
        )
        for name in vars(p):
            getattr(self.params, name)[ids] = getattr(p, name)
        if hasattr(self, "state"):  # only the reset worlds are read back
            for k, v in self._state(ids).items():
                self.state[k][ids] = v
        else:
            self.state = self._state()
        self.state["link_vel"] = self.link_vel

    def _sample_starts(self, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        clip_ids = torch.empty(len(ids), dtype=torch.long, device=self.device)
        frames = torch.empty(len(ids), dtype=torch.long, device=self.device)
        groups = self.group[ids]
        for g in range(len(self.scenes)):
            sel = (groups == g).nonzero().flatten()
            if len(sel):
                c, f = self.motion.sample(len(sel), generator=self.gen, allowed=self.allowed[g])
                clip_ids[sel], frames[sel] = c, f
        return clip_ids, frames

    def _heightmap(self, s: dict[str, torch.Tensor]) -> torch.Tensor:
        """The policy heightmap from the shared sampler, with the heightmap randomisation applied."""
        r = self.cfg.randomization
        yaw = yaw_of(s["torso_quat"])
        if r.enabled:
            yaw = yaw + rnd.uniform(
                -r.heightmap_yaw, r.heightmap_yaw, (self.num_envs,), self.gen, self.device
            )
        spec, fns = self.hm_spec, self.height_fns
        values = self._per_group(
            lambda g, pos, y: sample_heightmap(fns[g], pos, y, spec)[0].float(), s["torso_pos"], yaw
        )
        if r.enabled:
            values = rnd.heightmap_tilt(values, self.params.hm_tilt, self.hm_offsets)
        values = rnd.heightmap_noise(r, values + self.params.hm_offset, spec.fill, self.gen)
        # latency: a ring of past maps; a freshly reset environment has no past, so it sees the current map
        slots = len(self.hm_hist)
        self.hm_head = (self.hm_head - 1) % slots
        self.hm_hist[self.hm_head] = values
        new = self.hm_age >= 10**6
        if new.any():
            self.hm_hist[:, new] = values[new]
        # environments due for a refresh take the map of hm_delay steps ago; the others keep theirs
        due = (self.hm_age >= self.params.hm_refresh).nonzero().flatten()
        self.hm[due] = self.hm_hist[(self.hm_head + self.params.hm_delay[due]) % slots, due]
        self.hm_age += 1
        self.hm_age[due] = 0
        return self.hm

    def _per_group(self, fn: Callable[..., torch.Tensor], *per_env: torch.Tensor) -> torch.Tensor:
        """``fn(g, *rows)`` on each terrain group g's rows of the ``per_env`` tensors, put back together in
        environment order; one call on all environments when there is one terrain."""
        if len(self.group_rows) == 1:
            return fn(0, *per_env)
        parts = [fn(g, *(t[rows] for t in per_env)) for g, rows in enumerate(self.group_rows)]
        out = parts[0].new_empty((self.num_envs, *parts[0].shape[1:]))
        for rows, part in zip(self.group_rows, parts):
            out[rows] = part
        return out

    def _observations(self, reset_ids: torch.Tensor) -> TensorDict:
        s, r, N = self.state, self.cfg.randomization, self.num_envs
        noise = rnd.proprio_noise(r, N, self.cfg.dof, self.gen, self.device)
        lay = self.teacher_layout
        frame = proprio_frame(
            lay,
            s["root_ang_vel_b"] + noise["ang_vel"],
            s["root_quat"],
            s["joint_pos"] + self.params.joint_pos_bias + noise["joint_pos"],
            s["joint_vel"] + noise["joint_vel"],
            self.last_action,
            self.default_q,
        )
        g0 = lay.proprio[0].size
        grav = lay.proprio[1]
        frame[:, g0 : g0 + 3] += (noise["gravity"] + self.params.gravity_bias) * grav.scale
        self.history = push_history(self.history, frame)
        if len(reset_ids):
            self.history[reset_ids] = reset_history(lay, frame[reset_ids])
        # odometry: the root pose as the robot estimates it, noisy and refreshed every few steps
        yaw = yaw_of(s["root_quat"])
        meas = torch.cat([s["root_pos"][:, :2], yaw[:, None]], dim=-1)
        if r.enabled:
            meas = meas + torch.cat(
                [
                    rnd.uniform(-r.noise_odom_xy, r.noise_odom_xy, (N, 2), self.gen, self.device),
                    rnd.uniform(-r.noise_odom_yaw, r.noise_odom_yaw, (N, 1), self.gen, self.device),
                ],
                dim=-1,
            )
        fresh = self.odom_age >= self.params.odom_hold
        self.odom = torch.where(fresh[:, None], meas, self.odom)
        self.odom_age = torch.where(fresh, torch.zeros_like(self.odom_age), self.odom_age + 1)
        nxt = torch.minimum(self.frame + 1, self.motion.last_frame(self.clip_id))
        tgt = self.motion.get(nxt, ("root_pos", "root_quat", "joint_pos", "link_pos", "contacts"))
        target_xy = rotate_yaw_inverse(self.odom[:, 2], tgt["root_pos"][:, :2] - self.odom[:, :2])
        target_yaw = wrap_angle(yaw_of(tgt["root_quat"]) - self.odom[:, 2])[:, None]
        extras = {
            "target_xy": target_xy,
            "target_yaw": target_yaw,
            "ref_joint_pos": tgt["joint_pos"],
            "ref_root_roll_pitch": roll_pitch_of(tgt["root_quat"]),
        }
        hm = self._heightmap(s) if self.cfg.heightmap else None
        teacher = assemble(lay, self.history, extras, hm)
        student = assemble(self.student_layout, self.history, extras, hm)
        critic = torch.cat([teacher, self._privileged(s, tgt, yaw)], dim=-1)
        return TensorDict(
            {"policy": teacher, "teacher": teacher, "student": student, "critic": critic},
            batch_size=[N],
            device=self.device,
        )

    def _privileged(
        self, s: dict[str, torch.Tensor], tgt: dict[str, torch.Tensor], yaw: torch.Tensor
    ) -> torch.Tensor:
        """Critic-only state: true velocities, height, link layout and errors, contacts (``yaw``: the
        root's true yaw)."""
        N = self.num_envs
        heading = yaw[:, None].expand(N, len(TRACKED_LINKS))
        rel = s["link_pos"] - s["root_pos"][:, None]
        rel_h = torch.cat([rotate_yaw_inverse(heading, rel[..., :2]), rel[..., 2:]], dim=-1)
        err = tgt["link_pos"] - s["link_pos"]
        err_h = torch.cat([rotate_yaw_inverse(heading, err[..., :2]), err[..., 2:]], dim=-1)
        terrains = self.terrains
        ground = self._per_group(
            lambda g, xy: torch.as_tensor(terrains[g].height_at(xy), dtype=torch.float32, device=self.device),
            s["root_pos"][:, :2],
        )
        return torch.cat(
            [
                quat_rotate_inverse(s["root_quat"], s["root_lin_vel_w"]),
                (s["root_pos"][:, 2] - ground)[:, None],
                roll_pitch_of(s["root_quat"]),
                rel_h.flatten(1),
                err_h.flatten(1),
                0.1 * self.link_vel.flatten(1),
                s["foot_contact"].float(),
                tgt["contacts"].float(),
            ],
            dim=-1,
        )

    def metadata(self) -> dict:
        """What a checkpoint must carry so the policy can be deployed and checked against the contract."""
        return {
            "observation_layout": self.teacher_layout.to_dict(),
            "student_observation_layout": self.student_layout.to_dict(),
            "heightmap_spec": self.hm_spec.to_dict(),
            "dof": self.cfg.dof,
            "joint_names": list(self.contract.joint_names),
            "default_q": self.contract.default_q.tolist(),
            "kp": self.kp.tolist(),
            "kd": self.kd.tolist(),
            "action_scale": self.cfg.action_scale,
            "action_clip": self.cfg.action_clip,
            "policy_dt": self.dt,
            "sim_dt": self.cfg.sim_dt,
            "decimation": self.cfg.decimation,
            "termination_distance_now": self.termination.value,  # the curriculum's state, for --resume
        }

    def close(self) -> None:
        self.backend.close()
