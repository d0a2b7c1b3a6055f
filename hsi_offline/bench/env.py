"""``hsi-offline bench env [--backend cpu|warp] [--json PATH]``: environment steps/s vs bare physics.

What is compared (CPU backend), for each environment count N:

- **one env-step** = ``TrackingEnv.step``: ``decimation`` (4) physics steps per world with the motor PD
  every physics step, then observations (shared builders, heightmap, privileged critic state), rewards,
  terminations and the resets they trigger, called under ``torch.inference_mode()`` as rsl-rl's runners
  call it. Zero actions on a swaying reference clip, randomisation on (the training default), so episodes
  end and reset during the measurement as they do in training.
- **bare rate** = the SAME physics steps without the environment: while the environment runs, a recorder
  keeps each world's full physics state and solver warm start at the start of every env-step and the torques
  of every physics step; ``mujoco.rollout`` then replays them (open loop, the same per-world models, the
  same number of worlds and threads: ``mj_step`` in C, no Python between steps). The replay visits exactly
  the states the environment visited (``tests/test_training_env.py`` checks the replay ends bit-equal to the
  environment's worlds), so contacts and solver work are the same on both sides. The recorder's own cost
  (one ``mj_getState`` per world and env-step) is charged to the environment.
- **overhead** = 1 - env_rate / bare_rate (target <= 25%), with env_rate = N * steps / wall time. Each
  repeat times the environment and then its replay; the figures are medians over ``--repeats``. The same
  ratio in process CPU time is reported too (``overhead_cpu``): on a shared machine it is not inflated by
  the time other jobs hold the cores, which wall time is.

The per-phase split of an env-step (physics incl. PD and state copies / everything after it) is reported
too, so that what remains of the overhead can be attributed.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import mujoco
import numpy as np
import torch

from hsi_kernel.atomic import write_json_atomic


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--backend", choices=("cpu", "warp"), default="cpu")
    p.add_argument(
        "--envs", type=int, nargs="*", default=None, help="environment counts (default 1 4 16 64 128 256)"
    )
    p.add_argument("--steps", type=int, default=50, help="environment steps per measurement")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", type=int, default=0, help="CPU worker threads (0 = all cores)")
    p.add_argument("--json", default=None, help="write the figures to this JSON file")


def replay_rate(backend, recorder, threads: int) -> tuple[float, np.ndarray, float]:
    """Env-steps/s of ``mujoco.rollout`` replaying the recorded physics; also returns the final states
    (``mjSTATE_FULLPHYSICS``, shape (steps, worlds, nstate)) and the replay's process CPU seconds."""
    from mujoco import rollout

    steps, n = recorder.raw.shape[:2]
    state0, warm, ctrl = recorder.rollout_inputs(backend.models[0])
    models = [backend.models[i] for _ in range(steps) for i in range(n)]
    nthread = threads if threads > 1 else 0
    datas = [mujoco.MjData(backend.models[0]) for _ in range(max(1, nthread))]
    with rollout.Rollout(nthread=nthread) as r:
        t, c = time.perf_counter(), time.process_time()
        state, _ = r.rollout(
            models, datas, state0, ctrl, control_spec=mujoco.mjtState.mjSTATE_CTRL, initial_warmstart=warm
        )
        dt, cpu = time.perf_counter() - t, time.process_time() - c
    return steps * n / dt, state[:, -1].reshape(steps, n, -1), cpu


def _cpu_row(env, n: int, args: argparse.Namespace, threads: int) -> dict:
    from hsi_offline.training.backends.cpu import StepRecorder

    b = env.backend
    actions = torch.zeros(n, env.num_actions)
    with torch.inference_mode():
        for _ in range(3):  # warm-up: first touches of every world's buffers
            env.step(actions)
    inner = b.step
    phys: list[float] = []

    def timed_step(*a, **k):
        t = time.perf_counter()
        inner(*a, **k)
        phys.append(time.perf_counter() - t)

    b.step = timed_step
    env_rates, bare_rates, phys_ms, rest_ms, env_cpu, bare_cpu = [], [], [], [], [], []
    for _ in range(args.repeats):
        rec = StepRecorder(b, args.steps)
        b.recorder = rec
        phys.clear()
        t, c = time.perf_counter(), time.process_time()
        with torch.inference_mode():  # as rsl-rl's runners step the environment
            for s in range(args.steps):
                rec.t = s
                env.step(actions)
        wall = time.perf_counter() - t
        env_cpu.append(1e3 * (time.process_time() - c) / args.steps)
        b.recorder = None
        env_rates.append(n * args.steps / wall)
        phys_ms.append(1e3 * sum(phys) / args.steps)
        rest_ms.append(1e3 * (wall - sum(phys)) / args.steps)
        rate, _, cpu = replay_rate(b, rec, threads)
        bare_rates.append(rate)
        bare_cpu.append(1e3 * cpu / args.steps)
    b.step = inner
    env_rate, bare_rate = statistics.median(env_rates), statistics.median(bare_rates)
    return {
        "envs": n,
        "env_steps_per_s": env_rate,
        "bare_env_steps_per_s": bare_rate,
        "overhead": 1.0 - env_rate / bare_rate,
        "env_step_ms": 1e3 * n / env_rate,
        "bare_ms": 1e3 * n / bare_rate,
        "physics_ms": statistics.median(phys_ms),
        "after_physics_ms": statistics.median(rest_ms),
        "env_cpu_ms": statistics.median(env_cpu),
        "bare_cpu_ms": statistics.median(bare_cpu),
        "overhead_cpu": 1.0 - statistics.median(bare_cpu) / statistics.median(env_cpu),
        "overheads": [1.0 - e / r for e, r in zip(env_rates, bare_rates)],
    }


def _warp_row(env, n: int, args: argparse.Namespace) -> dict:
    actions = torch.zeros(n, env.num_actions, device=env.device)
    rates = []
    for _ in range(args.repeats):
        t = time.perf_counter()
        with torch.inference_mode():
            for _ in range(args.steps):
                env.step(actions)
        torch.cuda.synchronize()
        rates.append(n * args.steps / (time.perf_counter() - t))
    return {"envs": n, "env_steps_per_s": statistics.median(rates)}


def run(args: argparse.Namespace) -> int:
    from hsi_offline.training.config import EnvConfig
    from hsi_offline.training.env import TrackingEnv
    from hsi_offline.training.motion_lib import MotionLibrary
    from hsi_offline.training.procedural_clips import sway_clip

    if args.backend == "warp":
        from hsi_offline.training.backends.warp import require_warp

        require_warp("cuda:0")
    if args.steps < 1 or args.repeats < 1:
        raise SystemExit("--steps and --repeats must be >= 1")
    threads = args.threads or os.cpu_count() or 1
    if args.backend == "cpu":
        torch.set_num_threads(1)  # as `hsi-offline train`: intra-op threads only fight the physics threads
    counts = args.envs or ([1, 4, 16, 64, 128, 256] if args.backend == "cpu" else [4096, 8192])
    device = "cuda:0" if args.backend == "warp" else "cpu"
    lib = MotionLibrary([sway_clip(seconds=20.0)], device=device)
    rows = []
    for n in counts:
        env = TrackingEnv(EnvConfig(num_envs=n, threads=threads, backend=args.backend, device=device), lib)
        row = _cpu_row(env, n, args, threads) if args.backend == "cpu" else _warp_row(env, n, args)
        env.close()
        rows.append(row)
        extra = ""
        if "overhead" in row:
            extra = (
                f"  bare {row['bare_env_steps_per_s']:8.0f}/s  overhead {100 * row['overhead']:5.1f}%"
                f" (CPU time {100 * row['overhead_cpu']:5.1f}%)  per env-step: physics "
                f"{row['physics_ms']:.2f} ms, after it {row['after_physics_ms']:.2f} ms, bare "
                f"{row['bare_ms']:.2f} ms"
            )
        print(f"{args.backend} envs {n:5d}  env {row['env_steps_per_s']:8.0f} steps/s{extra}", flush=True)
    result = {
        "backend": args.backend,
        "threads": threads,
        "decimation": 4,
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "steps": args.steps,
        "repeats": args.repeats,
        "rows": rows,
    }
    if args.json:
        write_json_atomic(args.json, result, indent=1)
    return 0
