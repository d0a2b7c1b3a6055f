"""Domain randomisation (VideoMimic's table): model dynamics, per-episode biases, noise, delays, pushes.

Dynamics terms (friction, DoF friction, base mass) change a per-environment copy of the MuJoCo model, which
the CPU backend supports directly (every environment is its own ``MjData`` world). Gains, control delay,
biases and noise are tensors the environment applies itself, so they work identically on both backends.
All samplers draw from a ``torch.Generator`` / ``numpy`` RNG the caller owns, so runs are reproducible.
"""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np
import torch

from .config import RandomizationConfig


def uniform(
    lo: float, hi: float, shape: tuple[int, ...], gen: torch.Generator | None, device: str = "cpu"
) -> torch.Tensor:
    return lo + (hi - lo) * torch.rand(shape, generator=gen, device=device)


def randomize_model(
    model: mujoco.MjModel,
    base: mujoco.MjModel,
    cfg: RandomizationConfig,
    rng: np.random.Generator,
    root_body: int,
) -> dict[str, float]:
    """Re-draw friction, DoF friction and root mass of ``model`` around the unmodified ``base``."""
    if not cfg.enabled:
        return {}
    friction = float(rng.uniform(*cfg.friction))
    model.geom_friction[:, 0] = friction
    model.dof_frictionloss[6:] = rng.uniform(*cfg.dof_friction, size=model.nv - 6)
    dm = float(rng.uniform(*cfg.base_mass_delta))
    model.body_mass[root_body] = base.body_mass[root_body] + dm
    return {"friction": friction, "base_mass_delta": dm}


@dataclass
class EpisodeParams:
    """Per-environment values drawn at every reset."""

    kp_scale: torch.Tensor  # (N, 1)
    kd_scale: torch.Tensor  # (N, 1)
    delay_steps: torch.Tensor  # (N,) physics steps before a new target applies
    gravity_bias: torch.Tensor  # (N, 3)
    joint_pos_bias: torch.Tensor  # (N, dof)
    odom_hold: torch.Tensor  # (N,) policy steps an odometry reading is held
    hm_refresh: torch.Tensor  # (N,) policy steps between heightmap refreshes
    hm_offset: torch.Tensor  # (N, 1)
    hm_tilt: torch.Tensor  # (N, 2) roll, pitch of the grid plane
    hm_delay: torch.Tensor  # (N,) policy frames of heightmap latency


def sample_episode_params(
    cfg: RandomizationConfig,
    n: int,
    dof: int,
    sim_dt: float,
    decimation: int,
    gen: torch.Generator | None,
    device: str = "cpu",
) -> EpisodeParams:
    if not cfg.enabled:
        z = torch.zeros(n, device=device)
        return EpisodeParams(
            torch.ones(n, 1, device=device),
            torch.ones(n, 1, device=device),
            z.long(),
            torch.zeros(n, 3, device=device),
            torch.zeros(n, dof, device=device),
            torch.ones(n, dtype=torch.long, device=device),
            torch.ones(n, dtype=torch.long, device=device),
            torch.zeros(n, 1, device=device),
            torch.zeros(n, 2, device=device),
            z.long(),
        )
    s = cfg.gain_scale
    max_delay = min(int(round(cfg.control_delay_s[1] / sim_dt)), decimation)
    min_delay = int(round(cfg.control_delay_s[0] / sim_dt))
    return EpisodeParams(
        kp_scale=uniform(1 - s, 1 + s, (n, 1), gen, device),
        kd_scale=uniform(1 - s, 1 + s, (n, 1), gen, device),
        delay_steps=torch.randint(min_delay, max_delay + 1, (n,), generator=gen, device=device),
        gravity_bias=uniform(-cfg.gravity_bias, cfg.gravity_bias, (n, 3), gen, device),
        joint_pos_bias=uniform(-cfg.joint_pos_bias, cfg.joint_pos_bias, (n, dof), gen, device),
        odom_hold=torch.randint(
            cfg.odom_hold_steps[0], cfg.odom_hold_steps[1] + 1, (n,), generator=gen, device=device
        ),
        hm_refresh=torch.randint(
            cfg.heightmap_refresh_steps[0],
            cfg.heightmap_refresh_steps[1] + 1,
            (n,),
            generator=gen,
            device=device,
        ),
        hm_offset=uniform(-cfg.heightmap_offset, cfg.heightmap_offset, (n, 1), gen, device),
        hm_tilt=uniform(-cfg.heightmap_tilt, cfg.heightmap_tilt, (n, 2), gen, device),
        hm_delay=torch.randint(
            cfg.heightmap_delay_steps[0], cfg.heightmap_delay_steps[1] + 1, (n,), generator=gen, device=device
        ),
    )


def proprio_noise(
    cfg: RandomizationConfig, n: int, dof: int, gen: torch.Generator | None, device: str = "cpu"
) -> dict[str, torch.Tensor]:
    """White noise on the proprioceptive inputs, in their physical units (before observation scales)."""
    if not cfg.enabled:
        return {
            k: torch.zeros(n, d, device=device)
            for k, d in (("ang_vel", 3), ("gravity", 3), ("joint_pos", dof), ("joint_vel", dof))
        }
    return {
        "ang_vel": uniform(-cfg.noise_ang_vel, cfg.noise_ang_vel, (n, 3), gen, device),
        "gravity": uniform(-cfg.noise_gravity, cfg.noise_gravity, (n, 3), gen, device),
        "joint_pos": uniform(-cfg.noise_joint_pos, cfg.noise_joint_pos, (n, dof), gen, device),
        "joint_vel": uniform(-cfg.noise_joint_vel, cfg.noise_joint_vel, (n, dof), gen, device),
    }


def heightmap_noise(
    cfg: RandomizationConfig, values: torch.Tensor, fill: float, gen: torch.Generator | None
) -> torch.Tensor:
    """Per-cell white noise and a fraction of bad cells (reported as the unknown-fill value)."""
    if not cfg.enabled:
        return values
    noisy = values + uniform(
        -cfg.heightmap_noise, cfg.heightmap_noise, tuple(values.shape), gen, str(values.device)
    )
    bad = torch.rand(tuple(values.shape), generator=gen, device=values.device) < cfg.heightmap_bad_cells
    return torch.where(bad, torch.full_like(noisy, fill), noisy)


def heightmap_tilt(values: torch.Tensor, tilt: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
    """Heights seen through a grid plane rolled/pitched by ``tilt`` (N, 2).

    A linear ramp over the cells' forward/left offsets (C, 2): what a misaligned elevation map does to
    torso-minus-ground values.
    """
    ramp = offsets[None, :, 0] * torch.tan(tilt[:, 1:2]) - offsets[None, :, 1] * torch.tan(tilt[:, 0:1])
    return values + ramp


def push_velocity(
    cfg: RandomizationConfig, n: int, gen: torch.Generator | None, device: str = "cpu"
) -> torch.Tensor:
    """(n, 3) root linear-velocity kicks: xy in +-push_xy, z in +-push_z (m/s)."""
    xy = uniform(-cfg.push_xy, cfg.push_xy, (n, 2), gen, device)
    z = uniform(-cfg.push_z, cfg.push_z, (n, 1), gen, device)
    return torch.cat([xy, z], dim=-1)
