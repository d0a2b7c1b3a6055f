"""How well a training checkpoint tracks each of its clips: ``hsi-offline tracking CHECKPOINT --clips DIR``.

Why: the training log's episode length and success rate mix every clip, every random start and the
randomisation, so they cannot say whether stage 1 has learnt a clip, nor where it loses it. This check rolls
the checkpoint's actor out deterministically in the training environment (its own configuration, the
randomisation off) from a few evenly spaced frames of every clip to the clip's end, and reports per clip
how much of it was tracked, the link error on the way, and why each run ended (the tracking distance, a
forbidden contact, or the clip's end).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
from pathlib import Path
from typing import Any

import numpy as np


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("checkpoint", type=Path, help="training checkpoint (model_<it>.pt) or run folder")
    p.add_argument(
        "--clips", nargs="+", default=None, help="motion clip files or folders (default: the run's own)"
    )
    p.add_argument("--starts", type=int, default=4, help="start frames per clip, evenly spaced (default 4)")
    p.add_argument(
        "--distance",
        type=float,
        default=None,
        help="tracking distance (m) that ends a run (default: the checkpoint's curriculum distance)",
    )
    p.add_argument("--json", type=Path, default=None, help="write the per-clip figures here")
    p.add_argument("--png", type=Path, default=None, help="write a bar chart of the tracked share here")


def track_clips(
    checkpoint: Path, clips: list[str] | None = None, starts: int = 4, distance: float | None = None
) -> dict[str, Any]:
    """Per-clip tracking figures of ``checkpoint``'s actor (stages mpt, track and finetune: the policy
    that reads the reference) on ``clips``."""
    import torch

    from hsi_offline.training.config import config_from_dict
    from hsi_offline.training.env import TrackingEnv
    from hsi_offline.training.runner import load_checkpoint, make_runner
    from hsi_offline.training.terminations import END_CAUSES

    if starts < 1:
        raise ValueError(f"--starts must be at least 1, got {starts}")
    ckpt = load_checkpoint(checkpoint)
    meta = ckpt["infos"]["hsi_robot"]
    if meta.get("stage") == "distill":
        raise ValueError(
            f"'{checkpoint}' is a distillation checkpoint: export it and use hsi-offline evaluate"
        )
    data = dict(meta["config"])
    env_cfg = dict(data["env"])
    if clips is not None:  # the run's clip_weights belong to the run's clip list
        env_cfg["clip_weights"] = []
    d = float(
        distance
        if distance is not None
        else meta.get("termination_distance_now", env_cfg.get("termination_distance", 0.3))
    )
    if not (np.isfinite(d) and d > 0):
        raise ValueError(f"--distance must be a positive number of metres, got {d}")
    env_cfg.update(
        clips=list(clips or env_cfg.get("clips") or []),
        termination_distance=d,
        termination_start=d,
        threads=1,
    )
    env_cfg["randomization"] = {**env_cfg.get("randomization", {}), "enabled": False}
    probe = config_from_dict({**data, "env": {**env_cfg, "num_envs": 1}}, f"checkpoint '{checkpoint}'")
    from hsi_offline.training.motion_lib import MotionLibrary

    lib = MotionLibrary.from_paths(probe.env.clips, 1.0 / probe.env.policy_dt, "cpu")
    n_clips = lib.num_clips
    env_cfg["num_envs"] = n_clips * starts
    cfg = config_from_dict({**data, "env": env_cfg}, f"checkpoint '{checkpoint}'")
    torch.set_num_threads(1)
    env = TrackingEnv(cfg.env, motion=lib)
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # rsl-rl prints the networks
            runner = make_runner(env, cfg, None)
        runner.load(str(checkpoint if Path(checkpoint).is_file() else _last(checkpoint)))
        policy = runner.get_inference_policy()
        clip_ids = torch.arange(n_clips).repeat_interleave(starts)
        length = lib.clip_length[clip_ids]
        k = torch.arange(starts).repeat(n_clips)
        offsets = (k * (length - 1) // starts).long()
        obs = env.start_at(clip_ids, offsets)
        N = env.num_envs
        alive = torch.ones(N, dtype=torch.bool)
        steps = torch.zeros(N, dtype=torch.long)
        err_sum = torch.zeros(N)
        ended = ["running"] * N
        end_err = np.zeros(N)
        max_steps = int((length - offsets).max())
        with torch.inference_mode():
            for _ in range(max_steps):
                obs, _, dones, extras = env.step(policy(obs))
                err = env.last_link_error
                err_sum += torch.where(alive, err, torch.zeros_like(err))
                steps += alive.long()
                for i in (dones & alive).nonzero().flatten().tolist():
                    ended[i] = END_CAUSES[int(env.end_cause[i])]
                    end_err[i] = float(err[i])
                alive &= ~dones
                if not alive.any():
                    break
    finally:
        env.close()
    want = (length - 1 - offsets).clamp(min=1)
    share = (steps.float() / want.float()).clamp(max=1.0)
    rows = []
    for c, entry in enumerate(lib.entries):
        sel = (clip_ids == c).nonzero().flatten().tolist()
        rows.append(
            {
                "clip": entry.name,
                "frames": int(entry.length),
                "starts": [int(offsets[i]) for i in sel],
                "tracked_share": float(np.mean([float(share[i]) for i in sel])),
                "completed": sum(ended[i] == "clip_end" for i in sel),
                "runs": len(sel),
                "mean_link_error_m": float(np.mean([float(err_sum[i] / max(int(steps[i]), 1)) for i in sel])),
                "ends": {
                    cause: sum(ended[i] == cause for i in sel) for cause in sorted({ended[i] for i in sel})
                },
            }
        )
    return {
        "checkpoint": str(checkpoint),
        "iteration": int(ckpt.get("iter", -1)),
        "stage": meta.get("stage"),
        "termination_distance_m": d,
        "clips": rows,
        "tracked_share": float(np.mean([r["tracked_share"] for r in rows])),
        "completed": sum(r["completed"] for r in rows),
        "runs": sum(r["runs"] for r in rows),
    }


def _last(folder: Path) -> Path:
    from hsi_offline.training.export import last_checkpoint

    return last_checkpoint(folder)


def plot(result: dict[str, Any], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from hsi_kernel.atomic import atomic_path

    rows = result["clips"]
    fig, ax = plt.subplots(figsize=(8, 0.35 * len(rows) + 1.2))
    ax.barh([r["clip"] for r in rows], [r["tracked_share"] for r in rows], color="tab:blue")
    ax.set_xlim(0, 1)
    ax.invert_yaxis()
    ax.set_xlabel(f"share of the clip tracked from {rows[0]['runs'] if rows else 0} start frames")
    ax.set_title(
        f"{Path(result['checkpoint']).name} (it {result['iteration']}), "
        f"distance {result['termination_distance_m']:.2f} m: "
        f"{result['completed']}/{result['runs']} completed",
        fontsize=9,
    )
    ax.tick_params(axis="y", labelsize=7)
    fig.tight_layout()
    with atomic_path(path, ".png", mode=0o644) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)
    return path


def run(args: argparse.Namespace) -> int:
    from hsi_kernel.atomic import write_bytes_atomic
    from hsi_offline.outputs import check_output_file

    for out in (args.json, args.png):
        if out is not None:
            check_output_file(out, "output file")
    result = track_clips(args.checkpoint, args.clips, args.starts, args.distance)
    print(
        f"{result['checkpoint']} (stage {result['stage']}, iteration {result['iteration']}), "
        f"tracking distance {result['termination_distance_m']:.2f} m, "
        f"{result['runs'] // max(len(result['clips']), 1)} start(s) per clip"
    )
    print(f"{'clip':40s} {'tracked':>8s} {'completed':>10s} {'link err':>9s}  ends")
    for r in result["clips"]:
        ends = ", ".join(f"{k} {v}" for k, v in r["ends"].items())
        print(
            f"{r['clip'][:40]:40s} {r['tracked_share']:8.0%} {r['completed']:>4d}/{r['runs']:<5d} "
            f"{r['mean_link_error_m']:8.3f}m  {ends}"
        )
    print(
        f"all clips: {result['tracked_share']:.0%} tracked, {result['completed']}/{result['runs']} completed"
    )
    if args.json is not None:
        write_bytes_atomic(args.json, json.dumps(result, indent=1).encode())
    if args.png is not None:
        plot(result, args.png)
    return 0
