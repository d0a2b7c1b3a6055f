"""Bring G1 joint arrays from other tools into contract order, by name, for 23 or 29 DoF.

Why by name: published G1 motions use the 29-DoF order, some the contiguous 23-DoF one, some MuJoCo order;
trusting column positions silently scrambles joints. Missing joints that the target contract needs (e.g.
waist roll/pitch going 23 -> 29) are set to 0; joints the target does not have are dropped.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from hsi_kernel.contract import G1_29_JOINTS, get_contract

_KNOWN = {j.name for j in G1_29_JOINTS}


def to_contract_order(
    values: np.ndarray, names: Sequence[str], dof: int, source: str = "input"
) -> np.ndarray:
    """(T, len(names)) values with ``names`` -> (T, dof) in contract order; unknown names are an error."""
    values = np.asarray(values, dtype=np.float64)
    names = [str(n) for n in names]
    if values.ndim != 2 or values.shape[1] != len(names):
        raise ValueError(
            f"{source}: {values.shape[-1] if values.ndim else 0} joint columns for {len(names)} joint names"
        )
    unknown = [n for n in names if n not in _KNOWN]
    if unknown:
        raise ValueError(f"{source}: unknown G1 joint names {unknown[:3]}")
    if len(set(names)) != len(names):
        raise ValueError(f"{source}: duplicate joint names")
    contract = get_contract(dof)
    out = np.zeros((values.shape[0], contract.dof))
    for i, name in enumerate(contract.joint_names):
        if name in names:
            out[:, i] = values[:, names.index(name)]
    return out
