"""The scenarios in the training environment: the same ONNX policy, terrain and root path, no deploy stack.

Why: this is the policy's home ground (200 Hz physics, decimation 4, exact proprioception and heightmap, the
observation built by ``TrackingEnv`` itself). Running the scenario here and through the onboard nodes
(``deploy``) and scoring both with the same metrics turns the sim-to-sim gap into numbers.

How the root command gets in: ``TrackingEnv`` builds the policy's root target from a reference motion, as
in training: target = (reference root at the next frame) - (robot's odometry), in the heading frame. Its
closest honest equivalent of "the scripted root path" is therefore a reference clip whose root follows the
scenario's path ``p(t)`` (joints at the default pose, pelvis at standing height over the terrain), started at
its first frame. Only the student (deployable) observation is fed to the policy, so the reference joints the
teacher would see do not leak in. Episodes never terminate on tracking distance or contacts here (falls are
scored from the ground truth instead), and the PD gains are the policy's own metadata gains, as on the robot.

Deterministic: MuJoCo, onnxruntime (one thread) and the environment's torch generator (seeded from the
scenario seed, used only when ``randomise`` turns the training randomisation on) make one seed give
bit-identical results.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from hsi_kernel.contract import get_contract
from hsi_kernel.heightmap.sampler import HeightmapSpec
from hsi_kernel.terrain import Terrain, make_scene_terrain
from hsi_offline.evaluation.rollout import Rollout, rollout_from_rows
from hsi_offline.evaluation.scenarios import Scenario
from hsi_offline.motion.clip import MotionClip, make_clip
from hsi_offline.training.config import EnvConfig
from hsi_offline.training.env import TrackingEnv
from hsi_offline.training.motion_lib import MotionLibrary
from hsi_offline.training.procedural_clips import STAND_ROOT_HEIGHT
from hsi_robot_nodes.policy.runner import LoadedPolicy
from hsi_sim.runner import TRACE_COLUMNS


class ScenarioEnv(TrackingEnv):
    """``TrackingEnv`` whose episodes always start at the first frame of the (single) scenario clip.

    Reference State Initialisation would start at a random point of the path; a scenario starts at its
    beginning.
    """

    def _sample_starts(self, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        clip = torch.zeros(len(ids), dtype=torch.long, device=self.device)
        return clip, self.motion.clip_start[clip]


def reference_clip(scenario: Scenario, terrain: Terrain, dof: int, fps: float, frames: int) -> MotionClip:
    """The scenario's root path as a motion clip: default pose, pelvis at standing height over the terrain."""
    t = np.arange(frames) / fps
    p = scenario.path_at(t)
    ground = terrain.height_at(p[:, :2])
    root_pos = np.column_stack([p[:, 0], p[:, 1], ground + STAND_ROOT_HEIGHT])
    zero = np.zeros(frames)
    root_quat = np.column_stack([np.cos(p[:, 2] / 2), zero, zero, np.sin(p[:, 2] / 2)])
    joints = np.tile(get_contract(dof).default_q, (frames, 1))
    return make_clip(
        fps,
        root_pos,
        root_quat,
        joints,
        dof,
        np.ones((frames, 2), bool),
        provenance={"source": f"evaluation scenario {scenario.name}"},
    )


def _row(env: TrackingEnv, terrain: Terrain, t: float) -> list[float]:
    """One row in the simulator trace's columns (``TRACE_COLUMNS``) from the environment's state."""
    s, c = env.state, env.contract
    pos = s["root_pos"][0].double().numpy()
    w, x, y, z = s["root_quat"][0].double().numpy()
    tilt = math.acos(max(-1.0, min(1.0, 1.0 - 2.0 * (x * x + y * y))))
    yaw = math.atan2(2.0 * (w * z + x * y), 1.0 - 2.0 * (y * y + z * z))
    ratio = np.abs(s["torque"][0].double().numpy()) / c.effort
    q = s["joint_pos"][0].double().numpy()
    margin = np.minimum(q - c.lower, c.upper - q)
    i_tau, i_q = int(np.argmax(ratio)), int(np.argmin(margin))
    return [
        t,
        pos[0],
        pos[1],
        pos[2],
        float(pos[2] - terrain.height_at(pos[:2])),
        tilt,
        yaw,
        float(ratio[i_tau]),
        i_tau,
        float(margin[i_q]),
        i_q,
    ]


def run_training_env(
    scenario: Scenario, policy_path: str | Path, seed: int, randomise: bool = False
) -> Rollout:
    """Run ``scenario`` in the training environment with the exported policy; ground truth every step."""
    policy = load_policy(policy_path)
    meta = policy.meta
    terrain = make_scene_terrain(scenario.scene)
    cfg = EnvConfig(
        dof=meta.dof,
        num_envs=1,
        threads=1,
        episode_length_s=scenario.duration_s + 1.0,
        action_scale=meta.action_scale,
        action_clip=meta.action_clip,
        termination_distance=1e6,
        forbidden_contacts=False,
        heightmap=bool(meta.layout.heightmap_size),
        seed=seed,
    )
    cfg.randomization.enabled = randomise
    dt = cfg.policy_dt
    steps = int(round(scenario.duration_s / dt))
    clip = reference_clip(scenario, terrain, meta.dof, 1.0 / dt, steps + 3)
    env = ScenarioEnv(cfg, MotionLibrary([clip], 1.0 / dt, names=[scenario.name], terrains=[terrain]))
    try:
        if env.student_layout != meta.layout:
            raise ValueError(
                f"the policy's observation layout ({meta.layout.dim} values) is not the "
                f"training environment's student layout ({env.student_layout.dim}): cannot "
                "evaluate it in the training environment"
            )
        if meta.layout.heightmap_size and HeightmapSpec.from_dict(meta.heightmap_spec) != env.hm_spec:
            raise ValueError("the policy's heightmap_spec differs from the training environment's")
        env.kp = torch.as_tensor(meta.kp, dtype=torch.float32)
        env.kd = torch.as_tensor(meta.kd, dtype=torch.float32)
        sl = meta.layout.slices()
        rows, targets, ended = [_row(env, terrain, 0.0)], [], "duration"
        for k in range(steps):
            obs = env.get_observations()["student"][0].numpy()
            targets.append([k * dt, *obs[sl["target_xy"]], *obs[sl["target_yaw"]]])
            action = policy.infer(obs)
            if not np.all(np.isfinite(action)):
                ended = "policy produced a non-finite action"
                break
            _, _, dones, _ = env.step(torch.as_tensor(action, dtype=torch.float32)[None])
            if bool(dones[0]):  # only a non-finite simulation ends an episode here
                ended = "diverged"
                break
            rows.append(_row(env, terrain, (k + 1) * dt))
    finally:
        env.close()
    tg = np.asarray(targets, dtype=np.float64).reshape(-1, 4)
    return rollout_from_rows(
        "training_env",
        scenario.name,
        list(TRACE_COLUMNS),
        np.asarray(rows),
        0.0,
        scenario.duration_s,
        ended=ended,
        target_t=tg[:, 0],
        target=tg[:, 1:],
        seed=seed,
        notes=[
            f"physics {1 / cfg.sim_dt:.0f} Hz, decimation {cfg.decimation}; "
            f"randomisation {'on' if randomise else 'off'}; scenario seed {seed}"
        ],
    )


def load_policy(policy_path: str | Path) -> LoadedPolicy:
    """The exported policy as the onboard runner loads it (same checks, same onnxruntime settings)."""
    from hsi_kernel.policy_file import load_metadata

    meta = load_metadata(policy_path)
    slot = "terrain" if meta.layout.heightmap_size else "blind"
    return LoadedPolicy(slot, policy_path, get_contract(meta.dof), heightmap_available=True)
