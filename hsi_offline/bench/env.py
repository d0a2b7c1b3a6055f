"""``hsi-offline bench env [--backend cpu|warp] [--json PATH]``: environment steps/s vs bare physics.

For each environment count the same model is stepped twice: bare ``mj_step`` (the physics rate alone, same
number of worlds and threads, the decimation's 4 steps per environment step) and the full tracking
environment (PD every physics step, observations with the shared builders, heightmap, rewards, terminations,
resets). Overhead = 1 - env_rate / bare_rate; the target is <= 25%. Figures are medians of ``--repeats``.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from concurrent.futures import ThreadPoolExecutor

import mujoco
import numpy as np
import torch

from hsi_robot_nodes.atomic import write_json_atomic


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--backend", choices=("cpu", "warp"), default="cpu")
    p.add_argument("--envs", type=int, nargs="*", default=None,
                   help="environment counts (default 1 4 16 64 128)")
    p.add_argument("--steps", type=int, default=50, help="environment steps per measurement")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=0, help="CPU worker threads (0 = all cores)")
    p.add_argument("--json", default=None, help="write the figures to this JSON file")


def _bare_rate(model: mujoco.MjModel, n: int, steps: int, decimation: int, threads: int,
               qpos: np.ndarray) -> float:
    datas = [mujoco.MjData(model) for _ in range(n)]
    for d in datas:
        d.qpos[:] = qpos
        mujoco.mj_forward(model, d)
    chunks = [c for c in np.array_split(np.arange(n), max(1, min(threads, n))) if len(c)]

    def run(idx):
        for _ in range(steps * decimation):
            for i in idx:
                mujoco.mj_step(model, datas[i])

    t = time.perf_counter()
    if len(chunks) == 1:
        run(chunks[0])
    else:
        with ThreadPoolExecutor(len(chunks)) as ex:
            list(ex.map(run, chunks))
    return n * steps / (time.perf_counter() - t)


def run(args: argparse.Namespace) -> int:
    from hsi_offline.training.config import EnvConfig
    from hsi_offline.training.env import TrackingEnv
    from hsi_offline.training.motion_lib import MotionLibrary
    from hsi_offline.training.synthetic import sway_clip

    if args.backend == "warp":
        from hsi_offline.training.backends.warp import require_warp

        require_warp("cuda:0")
    threads = args.threads or os.cpu_count() or 1
    if args.backend == "cpu":
        torch.set_num_threads(1)  # see TrackingEnv: torch intra-op threads fight the physics threads
    counts = args.envs or ([1, 4, 16, 64, 128] if args.backend == "cpu" else [4096, 8192])
    lib = MotionLibrary([sway_clip(seconds=20.0)], device="cuda:0" if args.backend == "warp" else "cpu")
    rows = []
    for n in counts:
        cfg = EnvConfig(num_envs=n, threads=threads, backend=args.backend,
                        device="cuda:0" if args.backend == "warp" else "cpu")
        env = TrackingEnv(cfg, lib)
        actions = torch.zeros(n, cfg.dof, device=cfg.device)
        env_rates, bare_rates = [], []
        qpos = env.backend.qpos[0].copy() if args.backend == "cpu" else env.base_models[0].qpos0
        for _ in range(args.repeats):
            t = time.perf_counter()
            for _ in range(args.steps):
                env.step(actions)
            if args.backend == "warp":
                torch.cuda.synchronize()
            env_rates.append(n * args.steps / (time.perf_counter() - t))
            if args.backend == "cpu":
                bare_rates.append(_bare_rate(env.base_models[0], n, args.steps, cfg.decimation, threads,
                                             qpos))
        env.close()
        row = {"envs": n, "env_steps_per_s": statistics.median(env_rates)}
        if bare_rates:
            row["bare_env_steps_per_s"] = statistics.median(bare_rates)
            row["overhead"] = 1.0 - row["env_steps_per_s"] / row["bare_env_steps_per_s"]
        rows.append(row)
        extra = (f"  bare {row['bare_env_steps_per_s']:9.0f}/s  overhead {100 * row['overhead']:5.1f}%"
                 if bare_rates else "")
        print(f"{args.backend} envs {n:5d}  env {row['env_steps_per_s']:9.0f} steps/s{extra}", flush=True)
    result = {"backend": args.backend, "threads": threads, "decimation": 4, "cpu": platform.processor() or
              platform.machine(), "cores": os.cpu_count(), "steps": args.steps, "repeats": args.repeats,
              "rows": rows}
    if args.json:
        write_json_atomic(args.json, result, indent=1)
    return 0
