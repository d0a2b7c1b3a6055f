"""One scenario run as ground-truth time series: what both sides (deploy, training env) hand to the metrics.

Why one shape for both: the metrics and the report must not know where a number came from, so the gap between
training and deployment is the difference of the same function applied to two ``Rollout`` objects. Time is
seconds since the policy took over (the bridge entered RUN / the environment's first step).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

SIDES = ("deploy", "lockstep", "training_env")


@dataclass
class Rollout:
    """Ground truth sampled at 50 Hz while the policy was in control, plus what the policy was told."""

    side: str  # 'deploy' | 'lockstep' | 'training_env'
    scenario: str
    t: np.ndarray  # (N,) s since the policy took over
    xy: np.ndarray  # (N, 2) pelvis, world
    z: np.ndarray  # (N,) pelvis height, world
    height: np.ndarray  # (N,) pelvis height above the terrain below it
    tilt: np.ndarray  # (N,) rad between the pelvis z axis and vertical
    yaw: np.ndarray  # (N,) pelvis heading, rad
    tau_ratio: np.ndarray  # (N,) largest |tau| / effort limit over the joints
    tau_joint: np.ndarray  # (N,) int, contract index of that joint
    qlim_margin: np.ndarray  # (N,) smallest distance to a joint limit, rad (negative: beyond it)
    qlim_joint: np.ndarray  # (N,) int, contract index of that joint
    start_pose: np.ndarray  # (3,) pelvis x, y, yaw (world) when the policy took over: the path's origin
    requested_s: float  # the scenario's duration
    ended: str = "duration"  # 'duration' | 'safety: <bridge reason>' | 'diverged' | 'error: <why>'
    target_t: np.ndarray = field(default_factory=lambda: np.zeros(0))  # (M,) s, root targets received
    target: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))  # (M, 3) x, y, yaw (heading frame)
    policy_periods_ms: np.ndarray = field(default_factory=lambda: np.zeros(0))  # deploy: /policy/timing
    seed: int = 0
    notes: list[str] = field(default_factory=list)
    odometry_hz: float | None = None  # deploy: simulated LiDAR scans (each with its odometry) per second

    @property
    def ran(self) -> bool:
        return len(self.t) > 0

    @classmethod
    def empty(cls, side: str, scenario: str, requested_s: float, ended: str, seed: int = 0) -> Rollout:
        """A run that produced no data (the stack refused, the simulator did not start, ...)."""
        z = np.zeros(0)
        return cls(
            side,
            scenario,
            z,
            np.zeros((0, 2)),
            z,
            z,
            z,
            z,
            z,
            z.astype(int),
            z,
            z.astype(int),
            np.zeros(3),
            requested_s,
            ended,
            seed=seed,
        )


def rollout_from_rows(
    side: str, scenario: str, columns: list[str], rows: np.ndarray, t0: float, requested_s: float, **kw
) -> Rollout:
    """Build a rollout from a table with the simulator trace's column names, time shifted by ``t0``."""
    rows = np.asarray(rows, dtype=np.float64).reshape(-1, len(columns))
    col = {c: rows[:, i] for i, c in enumerate(columns)}
    start = np.array([col["x"][0], col["y"][0], col["yaw"][0]]) if len(rows) else np.zeros(3)
    return Rollout(
        side,
        scenario,
        col["t"] - t0,
        np.column_stack([col["x"], col["y"]]),
        col["z"],
        col["height"],
        col["tilt"],
        col["yaw"],
        col["tau_ratio"],
        col["tau_joint"].astype(int),
        col["qlim_margin"],
        col["qlim_joint"].astype(int),
        start,
        requested_s,
        **kw,
    )


_ARRAYS = (
    "t",
    "xy",
    "z",
    "height",
    "tilt",
    "yaw",
    "tau_ratio",
    "tau_joint",
    "qlim_margin",
    "qlim_joint",
    "start_pose",
    "target_t",
    "target",
    "policy_periods_ms",
)


def save_rollout(r: Rollout, path: str | Path) -> Path:
    """Write a rollout to ``.npz`` (atomic): how a deploy run in its own process hands its data back."""
    from hsi_kernel.atomic import atomic_path

    meta = {
        "side": r.side,
        "scenario": r.scenario,
        "requested_s": r.requested_s,
        "ended": r.ended,
        "seed": r.seed,
        "notes": r.notes,
        "odometry_hz": r.odometry_hz,
    }
    with atomic_path(path, suffix=".npz") as tmp:
        np.savez(tmp, meta=json.dumps(meta), **{k: getattr(r, k) for k in _ARRAYS})
    return Path(path)


def load_rollout(path: str | Path) -> Rollout:
    with np.load(path, allow_pickle=False) as f:
        meta = json.loads(str(f["meta"]))
        arrays = {k: f[k] for k in _ARRAYS}
    return Rollout(**meta, **arrays)
