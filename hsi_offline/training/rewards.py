"""Reward terms: small pure functions of batched torch tensors (one value per environment).

VideoMimic's data-driven tracking rewards are exponential kernels ``exp(-sigma * error)`` that equal 1
when the
robot matches its reference exactly, so a perfect tracker earns the sum of the weights; penalties are
non-positive. ``compute_rewards`` applies the weights and the policy dt and returns the per-term values too,
for logging.
"""

from __future__ import annotations

import torch

from .config import RewardConfig
from .torch_math import quat_angle


def joint_pos(q: torch.Tensor, q_ref: torch.Tensor, sigma: float) -> torch.Tensor:
    return torch.exp(-sigma * ((q - q_ref) ** 2).sum(-1))


def joint_vel(dq: torch.Tensor, dq_ref: torch.Tensor, sigma: float) -> torch.Tensor:
    return torch.exp(-sigma * ((dq - dq_ref) ** 2).sum(-1))


def orientation(quat: torch.Tensor, quat_ref: torch.Tensor, sigma: float) -> torch.Tensor:
    return torch.exp(-sigma * quat_angle(quat, quat_ref))


def position(p: torch.Tensor, p_ref: torch.Tensor, sigma: float) -> torch.Tensor:
    return torch.exp(-sigma * ((p - p_ref) ** 2).sum(-1))


def link_pos(pos: torch.Tensor, pos_ref: torch.Tensor, sigma: float) -> torch.Tensor:
    """Mean squared link-position error over the tracked links (N, L, 3) inside one kernel."""
    return torch.exp(-sigma * ((pos - pos_ref) ** 2).sum(-1).mean(-1))


def link_vel(vel: torch.Tensor, vel_ref: torch.Tensor, sigma: float) -> torch.Tensor:
    return torch.exp(-sigma * ((vel - vel_ref) ** 2).sum(-1).mean(-1))


def feet_contact(contact: torch.Tensor, contact_ref: torch.Tensor) -> torch.Tensor:
    """Fraction of feet whose contact state matches the reference's."""
    return (contact == contact_ref).float().mean(-1)


def action_rate(action: torch.Tensor, last_action: torch.Tensor) -> torch.Tensor:
    return ((action - last_action) ** 2).sum(-1)


def ankle_action(action: torch.Tensor, ankle_idx: torch.Tensor) -> torch.Tensor:
    return (action[:, ankle_idx] ** 2).sum(-1)


def joint_limit(q: torch.Tensor, lower: torch.Tensor, upper: torch.Tensor, fraction: float) -> torch.Tensor:
    """Radians beyond the central ``fraction`` of each joint's range, summed over joints."""
    mid, half = (upper + lower) / 2, (upper - lower) / 2 * fraction
    return ((q - (mid + half)).clamp(min=0) + ((mid - half) - q).clamp(min=0)).sum(-1)


def compute_rewards(
    cfg: RewardConfig,
    dt: float,
    s: dict[str, torch.Tensor],
    ref: dict[str, torch.Tensor],
    action: torch.Tensor,
    last_action: torch.Tensor,
    terminated: torch.Tensor,
    lower: torch.Tensor,
    upper: torch.Tensor,
    ankle_idx: torch.Tensor,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Total reward (N,) and the weighted, dt-scaled terms. ``s``: robot state, ``ref``: reference frame."""
    terms = {
        "joint_pos": cfg.joint_pos * joint_pos(s["joint_pos"], ref["joint_pos"], cfg.joint_pos_sigma),
        "joint_vel": cfg.joint_vel * joint_vel(s["joint_vel"], ref["joint_vel"], cfg.joint_vel_sigma),
        "root_ori": cfg.root_ori * orientation(s["root_quat"], ref["root_quat"], cfg.root_ori_sigma),
        "torso_pos": cfg.torso_pos * position(s["torso_pos"], ref["torso_pos"], cfg.torso_pos_sigma),
        "torso_ori": cfg.torso_ori * orientation(s["torso_quat"], ref["torso_quat"], cfg.torso_ori_sigma),
        "link_pos": cfg.link_pos * link_pos(s["link_pos"], ref["link_pos"], cfg.link_pos_sigma),
        "link_vel": cfg.link_vel * link_vel(s["link_vel"], ref["link_vel"], cfg.link_vel_sigma),
        "feet_contact": cfg.feet_contact * feet_contact(s["foot_contact"], ref["contacts"]),
        "action_rate": cfg.action_rate * action_rate(action, last_action),
        "ankle_action": cfg.ankle_action * ankle_action(action, ankle_idx),
        "joint_limit": cfg.joint_limit * joint_limit(s["joint_pos"], lower, upper, cfg.joint_limit_fraction),
        "termination": cfg.termination * terminated.float(),
        "alive": cfg.alive * (~terminated).float(),
    }
    terms = {k: v * dt for k, v in terms.items()}
    return torch.stack(list(terms.values())).sum(0), terms


TRACKING_TERMS = (
    "joint_pos",
    "joint_vel",
    "root_ori",
    "torso_pos",
    "torso_ori",
    "link_pos",
    "link_vel",
    "feet_contact",
)
"""The terms that are 1 x weight for a perfect tracker (their sum x dt is the maximal tracking reward)."""


def max_tracking_reward(cfg: RewardConfig, dt: float) -> float:
    return dt * sum(getattr(cfg, k) for k in TRACKING_TERMS)
