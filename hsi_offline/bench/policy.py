"""Benchmark of one policy cycle (observation build + onnxruntime + PD targets), without ROS.

    hsi-offline bench policy [--policy P.onnx] [--cycles 3000] [--json PATH]

Without ``--policy`` it exports, through the real exporter, a network of VideoMimic's size (MLP
1024-512-256-128, ELU, heightmap-conditioned student observation of 499 values) with random weights, and
times that: the figure that matters for the 20 ms budget of the 50 Hz loop. Prints p50/p99/max in ms.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

from hsi_kernel.atomic import write_json_atomic
from hsi_kernel.contract import get_contract

HIDDEN = (1024, 512, 256, 128)


def videomimic_sized_policy(path: Path, dof: int = 23) -> tuple[Path, float, float]:
    """Export a random VideoMimic-sized heightmap policy; returns (path, export seconds, golden max diff)."""
    import torch

    from hsi_kernel.heightmap.sampler import HeightmapSpec
    from hsi_kernel.observation import make_layout
    from hsi_kernel.policy_file import PolicyMetadata
    from hsi_offline.export import export_policy

    c = get_contract(dof)
    layout = make_layout(dof, "student", heightmap=True)
    torch.manual_seed(0)
    dims = (layout.dim, *HIDDEN)
    layers: list = []
    for a, b in zip(dims[:-1], dims[1:]):
        layers += [torch.nn.Linear(a, b), torch.nn.ELU()]
    actor = torch.nn.Sequential(*layers, torch.nn.Linear(HIDDEN[-1], dof))
    t0 = time.perf_counter()
    metadata = PolicyMetadata.for_contract(
        dof,
        layout,
        0.25,
        8.0,
        c.kp,
        c.kd,
        c.default_q,
        HeightmapSpec(),
        {"kind": "benchmark", "trained": False},
    )
    res = export_policy(actor, None, metadata, path)
    return res.path, time.perf_counter() - t0, res.max_abs_diff


def bench(policy: Path, cycles: int, seed: int = 0) -> dict:
    from hsi_kernel.policy_file import load_metadata
    from hsi_robot_nodes.policy.runner import PolicyRunner

    md = load_metadata(policy)
    slot = "terrain" if md.layout.heightmap_size else "blind"
    runner = PolicyRunner({slot: policy}, md.dof)
    rng = np.random.default_rng(seed)
    c = runner.contract
    obs, inf, comp = [], [], []
    for _ in range(cycles):
        now = time.monotonic_ns()
        runner.update_joint_state(c.default_q + rng.normal(0, 0.05, c.dof), rng.normal(0, 0.5, c.dof), now)
        runner.update_imu((1.0, 0.0, 0.0, 0.0), rng.normal(0, 0.1, 3), now)
        if md.layout.heightmap_size:
            runner.update_heightmap(rng.uniform(0.6, 0.9, md.layout.heightmap_size), now)
        res = runner.step(now)
        if res.targets is None or res.active == "hold":
            continue  # warm-up cycles while the heightmap hysteresis fills
        obs.append(res.timing.obs_ms)
        inf.append(res.timing.infer_ms)
        comp.append(res.timing.compute_ms)

    def stats(v: list[float]) -> dict:
        a = np.asarray(v)
        return {"p50": float(np.median(a)), "p99": float(np.percentile(a, 99)), "max": float(a.max())}

    return {
        "policy": str(policy),
        "obs_dim": md.layout.dim,
        "cycles": len(comp),
        "obs_ms": stats(obs),
        "infer_ms": stats(inf),
        "compute_ms": stats(comp),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
    }


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--policy", type=Path, default=None, help="ONNX policy (default: a VideoMimic-sized one)")
    p.add_argument("--cycles", type=int, default=3000)
    p.add_argument("--json", type=Path, default=None)


def run(args: argparse.Namespace) -> int:
    if args.cycles < 10:
        raise ValueError("--cycles must be at least 10")
    with tempfile.TemporaryDirectory() as tmp:
        extra = {}
        policy = args.policy
        if policy is None:
            policy, secs, diff = videomimic_sized_policy(Path(tmp) / "videomimic_sized.onnx")
            extra = {"export_s": secs, "golden_max_abs_diff": diff}
        out = {**bench(policy, args.cycles), **extra}
    print(
        f"policy cycle ({out['obs_dim']} obs, {out['cycles']} cycles): "
        + ", ".join(
            f"{k} p50 {out[k]['p50']:.3f} / p99 {out[k]['p99']:.3f} / max {out[k]['max']:.3f} ms"
            for k in ("obs_ms", "infer_ms", "compute_ms")
        )
    )
    if extra:
        print(
            f"export (VideoMimic-sized, incl. golden check): {extra['export_s']:.2f} s, "
            f"golden max abs diff {extra['golden_max_abs_diff']:.2e}"
        )
    if args.json:
        write_json_atomic(args.json, out, indent=2)
    return 0
