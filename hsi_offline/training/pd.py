"""The motor-driver PD law for batched torch tensors (the GPU backend's hot path).

It must be the law ``hsi_sim.robot_sim.pd_torque`` runs for the simulated robot (and the
real motor driver runs): ``clip(tau_ff + kp (q* - q) + kd (dq* - dq), -effort, effort)`` for enabled
motors. The CPU backend calls that numpy function itself; this twin exists only because the GPU
backend's state lives in torch/warp arrays, and ``tests/test_training_env.py`` checks the two agree.
"""

from __future__ import annotations

import torch


def pd_torque_torch(
    q_target: torch.Tensor,
    q: torch.Tensor,
    dq: torch.Tensor,
    kp: torch.Tensor,
    kd: torch.Tensor,
    effort: torch.Tensor,
    dq_target: torch.Tensor | float = 0.0,
    tau_ff: torch.Tensor | float = 0.0,
) -> torch.Tensor:
    tau = tau_ff + kp * (q_target - q) + kd * (dq_target - dq)
    return torch.maximum(torch.minimum(tau, effort), -effort)
