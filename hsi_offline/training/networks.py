"""Actor network: VideoMimic's MLP with the heightmap entering through a zero-initialised gate.

``h1 = W x_proprio+targets + b + gate * E(heightmap)``, then ELU and the rest of the MLP. With ``gate = 0``
the heightmap has no effect at all, so a stage-2 policy that starts from stage-1 weights (where the gate was
frozen at zero) behaves exactly as stage 1 did until the gate learns to open.
In training, a gate frozen at zero (stage 1) skips the embedding altogether: its term and its gradient are
exactly zero, and at CPU scale it is a sixth of the actor's arithmetic in every rollout and PPO pass.

The action bounds loss (VideoMimic: ``coef * |clip(mu) - mu|``) is added through autograd: an identity on the
forward pass whose backward adds the loss's gradient, so rsl-rl's PPO update optimises it without a fork of
its update loop. It is active only in training mode with gradients enabled (never in rollouts or export).
"""

from __future__ import annotations

import torch
import torch.nn as nn
from rsl_rl.models import MLPModel
from rsl_rl.modules import MLP
from rsl_rl.utils import resolve_nn_activation
from tensordict import TensorDict


class _BoundsLoss(torch.autograd.Function):
    @staticmethod
    def forward(ctx, mu: torch.Tensor, coef: float, bound: float) -> torch.Tensor:  # noqa: D102
        ctx.save_for_backward(mu)
        ctx.coef, ctx.bound = coef, bound
        return mu.view_as(mu)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # noqa: D102
        (mu,) = ctx.saved_tensors
        rows = max(1, mu.numel() // mu.shape[-1])
        outside = (mu.abs() > ctx.bound).to(grad.dtype)
        return grad + ctx.coef * torch.sign(mu) * outside / rows, None, None


def bounds_loss(mu: torch.Tensor, bound: float) -> torch.Tensor:
    """The loss whose gradient ``_BoundsLoss`` injects: mean over samples of sum |clip(mu) - mu|."""
    return (mu - mu.clamp(-bound, bound)).abs().sum(-1).mean()


class GatedHeightmapMLP(nn.Module):
    """MLP whose first hidden layer also receives a gated linear embedding of the heightmap slice."""

    def __init__(
        self,
        input_dim: int,
        output_dim: int,
        hidden_dims: list[int],
        activation: str,
        hm_start: int,
        hm_size: int,
        gate_trainable: bool = True,
        bounds_coef: float = 0.0,
        bound: float = 8.0,
    ):
        super().__init__()
        if hm_size and not (hm_start >= 0 and hm_start + hm_size <= input_dim):
            raise ValueError(
                f"heightmap slice [{hm_start}, {hm_start + hm_size}) is outside the input ({input_dim})"
            )
        self.hm_start, self.hm_size = hm_start, hm_size
        self.first = nn.Linear(input_dim - hm_size, hidden_dims[0])
        self.embed = nn.Linear(hm_size, hidden_dims[0]) if hm_size else None
        self.gate = nn.Parameter(torch.zeros(1), requires_grad=gate_trainable)
        self.act = resolve_nn_activation(activation)
        self.rest = (
            MLP(hidden_dims[0], output_dim, hidden_dims[1:], activation)
            if len(hidden_dims) > 1
            else nn.Linear(hidden_dims[0], output_dim)
        )
        self.bounds_coef, self.bound = bounds_coef, bound

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.embed is None:
            h = self.first(x)
        else:
            a, b = self.hm_start, self.hm_start + self.hm_size
            # the contract puts the heightmap last: the rest is then a view, not a copy
            base = x[..., :a] if b == x.shape[-1] else torch.cat([x[..., :a], x[..., b:]], dim=-1)
            h = self.first(base)
            # in training only: export traces the eval-mode graph, which must not hinge on the gate's value
            shut = self.training and not self.gate.requires_grad and self.gate.item() == 0.0
            if not shut:
                h = h + self.gate * self.embed(x[..., a:b])
        out = self.rest(self.act(h))
        if self.training and self.bounds_coef > 0 and torch.is_grad_enabled():
            out = _BoundsLoss.apply(out, self.bounds_coef, self.bound)
        return out


class TrackingActor(MLPModel):
    """rsl-rl ``MLPModel`` with the gated heightmap MLP; the heightmap is the LAST ``heightmap_size`` entries
    of the observation set (the observation contract puts it last)."""

    def __init__(
        self,
        obs: TensorDict,
        obs_groups: dict[str, list[str]],
        obs_set: str,
        output_dim: int,
        hidden_dims: tuple[int, ...] | list[int] = (1024, 512, 256, 128),
        activation: str = "elu",
        obs_normalization: bool = False,
        distribution_cfg: dict | None = None,
        heightmap_size: int = 121,
        gate_trainable: bool = True,
        bounds_loss_coef: float = 0.0,
        action_clip: float = 8.0,
    ) -> None:
        super().__init__(
            obs, obs_groups, obs_set, output_dim, hidden_dims, activation, obs_normalization, distribution_cfg
        )
        out_dim = self.distribution.input_dim if self.distribution is not None else output_dim
        self.mlp = GatedHeightmapMLP(
            self.obs_dim,
            out_dim,
            list(hidden_dims),
            activation,
            self.obs_dim - heightmap_size,
            heightmap_size,
            gate_trainable,
            bounds_loss_coef,
            action_clip,
        )
