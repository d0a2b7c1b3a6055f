"""Read a training checkpoint into (actor, normaliser, export arguments).

Two formats are accepted by ``hsi-offline export``:
1. What ``hsi-offline train`` writes (rsl-rl runner save; ``infos['hsi_robot']`` = the env's metadata, stage
   and config): the actor is rebuilt with the training code's ``TrackingActor`` and exported as its mean
   action (distill: ``student_state_dict``; other stages: ``actor_state_dict``).
2. A generic rsl-rl-style ``torch.save`` dict:
- ``actor_state_dict``: rsl-rl 5.x MLPModel weights (``mlp.<i>.weight/bias``; optional
  ``obs_normalizer._mean``
  / ``_std``); ``model_state_dict`` with ``actor.<i>.*`` (older rsl-rl ActorCritic) is read as well;
- ``hsi_meta``: ``{"layout": ObservationLayout.to_dict(), "dof", "action_scale", "action_clip", "kp", "kd",
  "default_q" (optional: the contract's), "heightmap_spec" (HeightmapSpec.to_dict() or null), "activation"
  (default "elu"), "obs_normalizer_eps" (default 0.01, rsl-rl's), "provenance" (dict)}``;
- optional ``recorded_obs`` (N, dim): observations recorded in training for the golden check.
The actor is rebuilt as Linear layers with the activation between them (VideoMimic's MLP); a checkpoint
whose network is not a plain MLP needs the training code's own builder and is refused with one line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hsi_kernel.observation import ObservationLayout
from hsi_kernel.policy_file import PolicyMetadata

ACTIVATIONS = ("elu", "relu", "tanh", "selu", "lrelu", "silu")
_LAYER = re.compile(r"^(mlp|actor)\.(\d+)\.(weight|bias)$")


@dataclass
class CheckpointPolicy:
    """What ``export_policy`` needs from a checkpoint: the network, its normaliser and the policy file's
    metadata (checked against the contract by the exporter)."""

    actor: Any
    normalizer: Any
    metadata: PolicyMetadata
    recorded_obs: np.ndarray | None


def _activation(name: str):
    import torch

    table = {
        "elu": torch.nn.ELU,
        "relu": torch.nn.ReLU,
        "tanh": torch.nn.Tanh,
        "selu": torch.nn.SELU,
        "lrelu": torch.nn.LeakyReLU,
        "silu": torch.nn.SiLU,
    }
    if name not in table:
        raise ValueError(f"unsupported activation '{name}' (use {', '.join(ACTIVATIONS)})")
    return table[name]()


def mlp_from_state_dict(sd: dict[str, Any], activation: str = "elu"):
    """Sequential(Linear, act, ..., Linear) rebuilt from ``mlp.<i>.*`` / ``actor.<i>.*`` weights."""
    import torch

    layers: dict[int, dict[str, Any]] = {}
    for k, v in sd.items():
        m = _LAYER.match(k)
        if m:
            layers.setdefault(int(m.group(2)), {})[m.group(3)] = v
    if not layers or any(set(d) != {"weight", "bias"} or d["weight"].dim() != 2 for d in layers.values()):
        raise ValueError("checkpoint actor is not a plain MLP (expected mlp.<i>.weight/bias Linear layers)")
    mods: list[Any] = []
    idx = sorted(layers)
    for j, i in enumerate(idx):
        w = layers[i]["weight"]
        lin = torch.nn.Linear(w.shape[1], w.shape[0])
        with torch.no_grad():
            lin.weight.copy_(w)
            lin.bias.copy_(layers[i]["bias"])
        mods.append(lin)
        if j < len(idx) - 1:
            mods.append(_activation(activation))
    return torch.nn.Sequential(*mods)


def _normalizer(sd: dict[str, Any], eps: float):
    import torch

    mean, std = sd.get("obs_normalizer._mean"), sd.get("obs_normalizer._std")
    if mean is None or std is None:
        return None

    class Normalizer(torch.nn.Module):
        """rsl-rl's EmpiricalNormalization forward: (x - mean) / (std + eps), frozen."""

        def __init__(self):
            super().__init__()
            self.register_buffer("mean", mean.reshape(1, -1).float().clone())
            self.register_buffer("std", std.reshape(1, -1).float().clone())
            self.eps = float(eps)

        def forward(self, x):
            return (x - self.mean) / (self.std + self.eps)

    return Normalizer()


def _mean_actor(model: Any):
    """The export view of an rsl-rl model: normalised obs -> the distribution's mean action."""
    import torch

    class MeanAction(torch.nn.Module):
        def __init__(self, mlp: torch.nn.Module, dist: Any):
            super().__init__()
            self.mlp, self.dist = mlp, dist

        def forward(self, x):
            out = self.mlp(x)
            return self.dist.deterministic_output(out) if self.dist is not None else out

    return MeanAction(model.mlp, model.distribution)


def _from_training_run(ckpt: dict[str, Any], path: Path) -> CheckpointPolicy:
    """A checkpoint written by ``hsi-offline train`` (rsl-rl runner save with ``infos['hsi_robot']``).

    The network is rebuilt with the training code's own ``TrackingActor`` (gated heightmap MLP) and loaded
    strictly; which observation layout it reads (teacher or student) follows from its first-layer shapes.
    """
    import torch
    from tensordict import TensorDict

    from hsi_offline.training.networks import TrackingActor

    meta = ckpt["infos"]["hsi_robot"]
    stage = meta.get("stage", "")
    sd = ckpt.get("student_state_dict") if stage == "distill" else ckpt.get("actor_state_dict")
    if not isinstance(sd, dict) or "mlp.first.weight" not in sd:
        raise ValueError(
            f"checkpoint {path} ({stage or 'unknown stage'}) has no gated actor weights to export"
        )
    pol = (meta.get("config") or {}).get("policy") or {}
    hm = int(sd["mlp.embed.weight"].shape[1]) if "mlp.embed.weight" in sd else 0
    in_dim = int(sd["mlp.first.weight"].shape[1]) + hm
    keys = ("student_observation_layout", "observation_layout")
    layouts = [ObservationLayout.from_dict(meta[k]) for k in keys if k in meta]
    layout = next((lay for lay in layouts if lay.dim == in_dim and lay.heightmap_size == hm), None)
    if layout is None:
        raise ValueError(
            f"checkpoint {path}: the actor reads {in_dim} values, which matches none of its "
            "observation layouts"
        )
    dof = int(meta["dof"])
    dist = (
        {"class_name": "GaussianDistribution", "init_std": float(pol.get("init_std", 1.0))}
        if any(k.startswith("distribution.") for k in sd)
        else None
    )
    obs = TensorDict({"obs": torch.zeros(1, layout.dim)}, batch_size=[1])
    model = TrackingActor(
        obs,
        {"actor": ["obs"]},
        "actor",
        dof,
        hidden_dims=list(pol.get("actor_hidden")),
        activation=pol.get("activation", "elu"),
        obs_normalization=any(k.startswith("obs_normalizer.") for k in sd),
        distribution_cfg=dist,
        heightmap_size=hm,
        action_clip=float(meta["action_clip"]),
    )
    try:
        model.load_state_dict(sd, strict=True)
    except RuntimeError as e:
        raise ValueError(
            f"checkpoint {path}: actor weights do not fit the configured network ({str(e).splitlines()[0]})"
        ) from None
    model.eval()
    norm = model.obs_normalizer if isinstance(model.obs_normalizer, torch.nn.Module) else None
    metadata = PolicyMetadata.for_contract(
        dof,
        layout,
        action_scale=meta["action_scale"],
        action_clip=meta["action_clip"],
        kp=meta["kp"],
        kd=meta["kd"],
        default_q=meta["default_q"],
        heightmap_spec=meta.get("heightmap_spec"),
        provenance={
            "stage": stage,
            "iteration": ckpt.get("iter"),
            "checkpoint": path.name,
            "config": meta.get("config"),
        },
    )
    return CheckpointPolicy(_mean_actor(model), norm, metadata, recorded_obs=None)


def load_checkpoint_policy(path: str | Path) -> CheckpointPolicy:
    """The exportable policy in a checkpoint file of either format (module docstring); one-line ValueError
    when the file is missing, unreadable or lacks what an export needs. (``training.runner.load_checkpoint``
    is the trainer's: it returns the raw dict a run resumes from.)"""
    import torch

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"checkpoint {path} does not exist")
    try:
        ckpt = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as e:  # pickle/zip errors of many kinds
        raise ValueError(f"checkpoint {path} is not a readable torch file ({type(e).__name__})") from None
    if isinstance(ckpt, dict) and isinstance(ckpt.get("infos"), dict) and "hsi_robot" in ckpt["infos"]:
        try:
            return _from_training_run(ckpt, path)
        except KeyError as e:
            raise ValueError(f"checkpoint {path}: hsi_robot metadata is missing {e}") from None
    if not isinstance(ckpt, dict) or "hsi_meta" not in ckpt:
        raise ValueError(
            f"checkpoint {path} has no 'hsi_meta' dict: save it with the training CLI "
            "(see docs/export.md for the format)"
        )
    meta = ckpt["hsi_meta"]
    sd = ckpt.get("actor_state_dict") or ckpt.get("model_state_dict")
    if not isinstance(sd, dict):
        raise ValueError(f"checkpoint {path} has no actor_state_dict")
    try:
        layout = ObservationLayout.from_dict(meta["layout"])
        dof = int(meta["dof"])
        actor = mlp_from_state_dict(sd, meta.get("activation", "elu"))
        normalizer = _normalizer(sd, meta.get("obs_normalizer_eps", 0.01))
        metadata = PolicyMetadata.for_contract(
            dof,
            layout,
            action_scale=meta["action_scale"],
            action_clip=meta["action_clip"],
            kp=meta["kp"],
            kd=meta["kd"],
            default_q=meta.get("default_q"),
            heightmap_spec=meta.get("heightmap_spec"),
            provenance=meta.get("provenance"),
        )
    except KeyError as e:
        raise ValueError(f"checkpoint hsi_meta is missing {e}") from None
    metadata.provenance.setdefault("checkpoint", path.name)
    rec = ckpt.get("recorded_obs")
    if rec is not None:
        rec = np.asarray(rec.numpy() if hasattr(rec, "numpy") else rec, dtype=np.float32)
    return CheckpointPolicy(actor, normalizer, metadata, rec)
