"""The "hold default pose" policy shipped in ``models/`` before any trained policy exists.

It is NOT a controller: a one-layer network whose weights are all zero, so its action is always 0 and its
target is the default pose. Its metadata carries the stiff stand gains (``contract.stand_gains``: legs Kp 350,
waist 200) rather than VideoMimic's soft policy gains, because a constant target only stands with stiff
ankles; a trained policy balances actively and ships its own (VideoMimic) gains. It exists so the whole
deploy path (exporter, metadata, policy node, bridge) runs end to end before training lands, through exactly
the code a trained policy goes through. Regenerate with ``hsi-offline export --hold-default`` (or
``python -m`` this module).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from hsi_kernel.contract import get_contract, stand_gains
from hsi_kernel.observation import make_layout
from hsi_kernel.policy_file import PolicyMetadata
from hsi_offline.export.onnx_export import ExportResult, export_policy

ACTION_SCALE, ACTION_CLIP = 0.25, 8.0
"""VideoMimic's action semantics: q = default + 0.25 * clip(a, -8, 8)."""


def default_path(dof: int) -> Path:
    from hsi_kernel.paths import models_dir

    return models_dir() / f"hold_default_{dof}dof.onnx"


def zero_actor(obs_dim: int, dof: int):
    """Linear(obs_dim -> dof) with zero weights and bias: actions are exactly 0 for every observation."""
    import torch

    net = torch.nn.Linear(obs_dim, dof)
    torch.nn.init.zeros_(net.weight)
    torch.nn.init.zeros_(net.bias)
    return net


def export_hold_default(dof: int = 23, path: str | Path | None = None) -> ExportResult:
    """Export the hold-default-pose policy (blind student layout, contract default pose, stand gains)."""
    contract = get_contract(dof)
    kp, kd = stand_gains(contract)
    layout = make_layout(dof, role="student", heightmap=False)
    provenance = {
        "kind": "hold_default_pose",
        "trained": False,
        "note": "zero-action placeholder: holds the default pose; not a balancing controller",
        "generator": "hsi_offline.export.hold_default",
    }
    metadata = PolicyMetadata.for_contract(
        dof, layout, ACTION_SCALE, ACTION_CLIP, kp, kd, contract.default_q, provenance=provenance
    )
    return export_policy(zero_actor(layout.dim, dof), None, metadata, path or default_path(dof))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dof", type=int, default=23, choices=(23, 29))
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args(argv)
    res = export_hold_default(args.dof, args.out)
    print(f"wrote {res.path} (golden max abs diff {res.max_abs_diff:.2e} on {res.num_golden} observations)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
