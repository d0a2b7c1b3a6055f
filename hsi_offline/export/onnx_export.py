"""Export a trained actor to the ONNX file the robot runs, with its deploy metadata inside.

The file has ONE flat input ``obs`` (batch, layout.dim) and ONE output ``actions`` (batch, dof); the
observation normaliser is part of the graph, so the robot never needs the training code's statistics. The
metadata (``hsi_kernel.policy_file``) is checked against the robot contract BEFORE anything is
written, and the written graph must reproduce torch on recorded observations (the golden check) before it
replaces the target file atomically: a failed export leaves no half-written or wrong policy behind.
"""

from __future__ import annotations

import copy
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hsi_kernel.atomic import atomic_path
from hsi_kernel.observation import ObservationLayout
from hsi_kernel.policy_file import INPUT_NAME, METADATA_KEY, OUTPUT_NAME, PolicyMetadata

DEFAULT_TOL = 1e-4
"""Max abs action difference allowed between torch and onnxruntime (float32 MLPs agree to ~1e-6)."""
OPSET = 17


@dataclass(frozen=True)
class ExportResult:
    path: Path
    metadata: PolicyMetadata
    max_abs_diff: float  # golden check: onnxruntime vs torch on the recorded observations
    num_golden: int  # how many observations the golden check ran


def _deploy_module(actor: Any, obs_normalizer: Any):
    """normaliser -> actor as one eval-mode module (copies: the caller's modules are left untouched)."""
    import torch

    class DeployPolicy(torch.nn.Module):
        def __init__(self, norm: torch.nn.Module, net: torch.nn.Module):
            super().__init__()
            self.norm, self.net = norm, net

        def forward(self, obs: torch.Tensor) -> torch.Tensor:
            return self.net(self.norm(obs))

    norm = copy.deepcopy(obs_normalizer) if obs_normalizer is not None else torch.nn.Identity()
    return DeployPolicy(norm, copy.deepcopy(actor)).float().eval()


def synthetic_observations(layout: ObservationLayout, default_q, n: int = 64, seed: int = 0) -> np.ndarray:
    """Plausible observations built with the shared builder (near-upright base, joints near the default pose).

    Used for the golden check when the caller has no recorded observations: the values cover the ranges a
    deployed policy sees, which is what the float32 agreement has to hold over.
    """
    from hsi_kernel.observation import ObservationBuilder

    rng = np.random.default_rng(seed)
    default_q = np.asarray(default_q, dtype=np.float64)
    builder = ObservationBuilder(layout, default_q)
    out = []
    for _ in range(n):
        axis = rng.normal(size=3)
        angle = rng.uniform(0, 0.3)
        quat = np.concatenate([[np.cos(angle / 2)], np.sin(angle / 2) * axis / np.linalg.norm(axis)])
        extras = {
            "target_xy": rng.uniform(-0.5, 0.5, 2),
            "target_yaw": rng.uniform(-0.3, 0.3, 1),
            "ref_joint_pos": default_q + rng.normal(0, 0.2, layout.dof),
            "ref_root_roll_pitch": rng.normal(0, 0.1, 2),
        }
        hm = rng.uniform(0.5, 1.0, layout.heightmap_size) if layout.heightmap_size else None
        out.append(
            builder(
                rng.normal(0, 0.5, 3),
                quat,
                default_q + rng.normal(0, 0.2, layout.dof),
                rng.normal(0, 2.0, layout.dof),
                rng.uniform(-1, 1, layout.dof),
                extras,
                hm,
            )
        )
    return np.asarray(out, dtype=np.float32)


def golden_check(onnx_path: str | Path, module: Any, obs: np.ndarray) -> float:
    """Max abs difference between onnxruntime (the robot's runtime) and torch on ``obs`` (N, dim)."""
    import onnxruntime as ort
    import torch

    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    obs = np.asarray(obs, dtype=np.float32)
    (ort_out,) = sess.run([OUTPUT_NAME], {INPUT_NAME: obs})
    with torch.no_grad():
        torch_out = module(torch.from_numpy(obs)).numpy()
    return float(np.max(np.abs(ort_out.astype(np.float64) - torch_out.astype(np.float64))))


def export_policy(
    actor: Any,
    obs_normalizer: Any,
    metadata: PolicyMetadata,
    path: str | Path,
    recorded_obs: np.ndarray | None = None,
    tol: float = DEFAULT_TOL,
) -> ExportResult:
    """Write ``path`` (ONNX: ``obs`` -> ``actions``, normaliser inside, ``metadata`` in ``metadata_props``).

    ``actor(obs_tensor) -> actions (batch, dof)``; ``obs_normalizer`` is a module applied first (e.g.
    rsl-rl's EmpiricalNormalization) or None; ``metadata`` is usually ``PolicyMetadata.for_contract(...)``.
    ``recorded_obs`` (N, layout.dim) are observations recorded in training for the golden check; without
    them plausible synthetic ones are used. Raises ValueError (one line) when the metadata disagrees with the
    contract, the network's shapes disagree with the layout, or onnxruntime and torch differ by more than
    ``tol``; the target file is then left as it was.
    """
    import onnx
    import torch

    md = metadata.validate()
    layout, dof = md.layout, md.dof
    module = _deploy_module(actor, obs_normalizer)
    probe = torch.zeros(1, layout.dim)
    try:
        with torch.no_grad():
            out = module(probe)
    except RuntimeError as e:
        raise ValueError(
            f"the actor does not accept a {layout.dim}-value observation ({str(e).splitlines()[0]})"
        ) from None
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != (1, dof):
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ValueError(f"the actor must return (batch, {dof}) actions, got {shape}")
    if recorded_obs is None:
        recorded_obs = synthetic_observations(layout, md.default_q)
    recorded_obs = np.asarray(recorded_obs, dtype=np.float32)
    if recorded_obs.ndim != 2 or recorded_obs.shape[1] != layout.dim or len(recorded_obs) == 0:
        raise ValueError(
            f"recorded observations must be (N, {layout.dim}) with N >= 1, got {recorded_obs.shape}"
        )

    path = Path(path)
    # mode 0o644: mkstemp makes 0600; a shipped model must be readable by the node's user
    with atomic_path(path, ".tmp", mode=0o644) as tmp_path:
        tmp = str(tmp_path)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                module,
                (probe,),
                tmp,
                input_names=[INPUT_NAME],
                output_names=[OUTPUT_NAME],
                dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
                opset_version=OPSET,
                dynamo=False,
            )
        model = onnx.load(tmp)
        del model.metadata_props[:]
        entry = model.metadata_props.add()
        entry.key, entry.value = METADATA_KEY, md.to_json()
        model.producer_name = "hsi_robot"
        onnx.checker.check_model(model)
        onnx.save(model, tmp)
        diff = golden_check(tmp, module, recorded_obs)
        if not diff <= tol:
            raise ValueError(f"golden check failed: onnxruntime and torch differ by {diff:.3g} (> {tol:g})")
    return ExportResult(path, md, diff, len(recorded_obs))
