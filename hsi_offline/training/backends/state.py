"""What a physics backend hands the environment each step, and what the environment adds: typed, so that
both backends and every reward and observation agree on the names and shapes."""

from __future__ import annotations

from typing import TypedDict

import torch


class PhysicsState(TypedDict):
    """Every world's state after a step, float32 tensors on the environment's device (N worlds)."""

    root_pos: torch.Tensor  # (N, 3) world
    root_quat: torch.Tensor  # (N, 4) w, x, y, z
    root_lin_vel_w: torch.Tensor  # (N, 3) world frame
    root_ang_vel_b: torch.Tensor  # (N, 3) body frame
    joint_pos: torch.Tensor  # (N, dof) contract order
    joint_vel: torch.Tensor  # (N, dof)
    body_pos: torch.Tensor  # (N, len(BODY_LINKS), 3): the tracked links, then the torso
    body_quat: torch.Tensor  # (N, len(BODY_LINKS), 4)
    foot_contact: torch.Tensor  # (N, 2) bool: left, right foot touches the terrain
    forbidden_contact: torch.Tensor  # (N,) bool: a forbidden-contact body touches it
    torque: torch.Tensor  # (N, dof) the last physics step's motor torques


class EnvState(PhysicsState, total=False):
    """The backend's state plus the views and rates the environment derives from it."""

    link_pos: torch.Tensor  # (N, tracked links, 3)
    torso_pos: torch.Tensor  # (N, 3)
    torso_quat: torch.Tensor  # (N, 4)
    link_vel: torch.Tensor  # (N, tracked links, 3) finite difference over one policy step
