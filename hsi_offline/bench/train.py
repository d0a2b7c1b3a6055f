"""``hsi-offline bench train [--iterations N] [--config YAML] [--set K=V] [--json F]``: training vs physics.

Runs the CPU training config (default ``config/training/cpu/walk_mpt.yaml``: what the walking skill trains
with) for N PPO iterations on a procedural clip (no data needed) and reports, from the same process:

- ``env_steps_per_s``: environment steps per second of training, PPO updates included (wall time of the
  iterations after a warm-up one);
- ``bare_env_steps_per_s``: the bare physics of the full deploy model (``models/g1_<dof>dof.xml``, every
  collision geom, the simulated robot's solver settings) at the training decimation, as many worlds, on the
  same threads: ``mujoco.rollout`` stepping in C with the model's PD done by MuJoCo position actuators
  holding the reference poses (no Python between physics steps). This is the rate a training loop would
  reach if everything but the deploy model's physics were free;
- the time split of an iteration: physics (the backend's step), observations + rewards + resets (the rest of
  ``env.step``), policy inference (the rest of the rollout) and the PPO update;
- ``ratio`` = env_steps_per_s / bare_env_steps_per_s (target >= 1);
- the same two rates per process CPU-second (``cpu_env_steps_per_s``, ``bare_cpu_env_steps_per_s``,
  ``cpu_ratio``): the work each costs, which other processes on a shared machine disturb far less than the
  wall figures (a loaded machine can starve the short bare rollout and make the wall ratio meaningless). On an
  idle machine the wall ratio is the lower of the two, since the update runs on one core.

Why a procedural clip: the figure must not depend on which motion a user has; the sway clip keeps the robot
on its feet for the whole measurement, as a trained policy does. It is a benchmark, not a test.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from pathlib import Path

import mujoco
import numpy as np
import torch
import yaml

from hsi_kernel.atomic import write_json_atomic

DEFAULT_CONFIG = "config/training/cpu/walk_mpt.yaml"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", default=DEFAULT_CONFIG, help="training stage YAML (default: %(default)s)")
    p.add_argument("--iterations", type=int, default=12, help="PPO iterations timed (after one warm-up)")
    p.add_argument("--num-envs", type=int, default=None, help="override the config's env.num_envs")
    p.add_argument("--threads", type=int, default=0, help="physics worker threads (0 = all cores)")
    p.add_argument("--bare-steps", type=int, default=40, help="env-steps of the bare-physics rollout")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config field, dotted, YAML value (algorithm.symmetry=true); repeatable",
    )
    p.add_argument("--json", type=Path, default=None, help="write the figures to this JSON file")


def parse_overrides(items: list[str]) -> dict:
    """``["algorithm.num_learning_epochs=3"]`` -> ``{"algorithm": {"num_learning_epochs": 3}}`` (values as
    YAML reads them; the config loader then checks keys and types)."""
    out: dict = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--set needs KEY=VALUE, got '{item}'")
        *parents, leaf = key.split(".")
        node = out
        for k in parents:
            node = node.setdefault(k, {})
        node[leaf] = yaml.safe_load(value)
    return out


class _Timer:
    """Wraps ``obj.name`` so that each call's wall time is added to ``total``."""

    def __init__(self, obj: object, name: str):
        self.obj, self.name, self.total = obj, name, 0.0
        self.inner = getattr(obj, name)

        def timed(*a, **k):
            t = time.perf_counter()
            try:
                return self.inner(*a, **k)
            finally:
                self.total += time.perf_counter() - t

        setattr(obj, name, timed)

    def restore(self) -> None:
        setattr(self.obj, self.name, self.inner)


def bare_rate(
    dof: int,
    sim_dt: float,
    decimation: int,
    worlds: int,
    steps: int,
    threads: int,
    clip,
    cpu: list | None = None,
) -> float:
    """Env-steps/s of the full deploy model's physics alone (see the module docstring); the rollout's
    process CPU seconds are appended to ``cpu`` when given."""
    from mujoco import rollout

    from hsi_kernel.contract import get_contract, policy_gains
    from hsi_sim.scene import build_scene

    model = build_scene("flat", dof, timestep=sim_dt).model
    c = get_contract(dof)
    kp, kd = policy_gains(c)
    # the motors as position servos: MuJoCo evaluates the PD law inside mj_step, so nothing runs in Python
    aid = mujoco.mjtObj.mjOBJ_ACTUATOR
    act = [mujoco.mj_name2id(model, aid, n.removesuffix("_joint")) for n in c.joint_names]
    model.actuator_gaintype[act] = mujoco.mjtGain.mjGAIN_FIXED
    model.actuator_biastype[act] = mujoco.mjtBias.mjBIAS_AFFINE
    model.actuator_gainprm[act, 0] = kp
    model.actuator_biasprm[act, 0:3] = np.stack([np.zeros_like(kp), -kp, -kd], axis=1)
    model.actuator_ctrlrange[act] = np.stack([c.lower, c.upper], axis=1)
    d = mujoco.MjData(model)
    jq = [model.jnt_qposadr[mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_JOINT, n)] for n in c.joint_names]
    full = mujoco.mjtState.mjSTATE_FULLPHYSICS
    state0 = np.zeros((worlds, mujoco.mj_stateSize(model, full)))
    rng = np.random.default_rng(0)
    frames = rng.integers(0, clip.num_frames - steps - 1, worlds)
    for w in range(worlds):
        mujoco.mj_resetData(model, d)
        d.qpos[jq] = clip.joint_pos[frames[w]]
        d.qpos[2] = clip.root_pos[frames[w], 2]
        mujoco.mj_forward(model, d)
        mujoco.mj_getState(model, d, state0[w], full)
    n_phys = steps * decimation
    ctrl = np.zeros((worlds, n_phys, model.nu))
    hold = np.arange(n_phys) // decimation  # one reference frame per env-step, held for its physics steps
    for w in range(worlds):
        ctrl[w][:, act] = clip.joint_pos[frames[w] + hold]
    nthread = threads if threads > 1 else 0
    datas = [mujoco.MjData(model) for _ in range(max(1, nthread))]
    with rollout.Rollout(nthread=nthread) as r:
        t, c = time.perf_counter(), time.process_time()
        r.rollout(model, datas, state0, ctrl)
        wall = time.perf_counter() - t
        if cpu is not None:
            cpu.append(time.process_time() - c)
    return worlds * steps / wall


def run(args: argparse.Namespace) -> int:
    from hsi_offline.training.config import load_config, merge_settings
    from hsi_offline.training.env import TrackingEnv
    from hsi_offline.training.motion_lib import MotionLibrary
    from hsi_offline.training.procedural_clips import sway_clip
    from hsi_offline.training.runner import make_runner

    if args.iterations < 1 or args.bare_steps < 1:
        raise ValueError("--iterations and --bare-steps must be >= 1")
    threads = args.threads or os.cpu_count() or 1
    over: dict = {"env": {"threads": threads, "backend": "cpu", "device": "cpu"}, "save_interval": 10**6}
    if args.num_envs:
        over["env"]["num_envs"] = args.num_envs
    cfg = load_config(args.config, merge_settings(parse_overrides(args.set), over))
    torch.set_num_threads(1)  # as `hsi-offline train` on the CPU
    clip = sway_clip(dof=cfg.env.dof, seconds=30.0)
    lib = MotionLibrary([clip], 1.0 / cfg.env.policy_dt, "cpu")
    env = TrackingEnv(cfg.env, lib)
    runner = make_runner(env, cfg, None)
    n, steps = cfg.env.num_envs, cfg.num_steps_per_env
    runner.learn(1)  # warm-up: first touches of every buffer, the optimiser's state
    runner.current_learning_iteration += 1
    t_env = _Timer(env, "step")
    t_phys = _Timer(env.backend, "step")
    t_update = _Timer(runner.alg, "update")
    iter_walls: list[float] = []
    hist0 = len(runner.history)
    t0, c0 = time.perf_counter(), time.process_time()
    runner.learn(args.iterations)
    wall, train_cpu = time.perf_counter() - t0, time.process_time() - c0
    for t in (t_env, t_phys, t_update):
        t.restore()
    times = [h["time_s"] for h in runner.history[hist0:]]
    iter_walls = [b - a for a, b in zip(times[:-1], times[1:])]
    env_steps = n * steps * args.iterations
    env_rate = env_steps / wall
    split = {
        "physics_s": t_phys.total,
        "observations_rewards_resets_s": t_env.total - t_phys.total,
        "policy_inference_and_rollout_s": wall - t_env.total - t_update.total,
        "ppo_update_s": t_update.total,
    }
    split_frac = {k.removesuffix("_s"): v / wall for k, v in split.items()}
    env.close()
    bare_cpu: list[float] = []
    bare = bare_rate(
        cfg.env.dof, cfg.env.sim_dt, cfg.env.decimation, n, args.bare_steps, threads, clip, bare_cpu
    )
    cpu_rate, bare_cpu_rate = env_steps / train_cpu, n * args.bare_steps / bare_cpu[0]
    result = {
        "config": args.config,
        "overrides": args.set,
        "num_envs": n,
        "num_steps_per_env": steps,
        "iterations": args.iterations,
        "threads": threads,
        "decimation": cfg.env.decimation,
        "env_steps_per_s": env_rate,
        "bare_env_steps_per_s": bare,
        "ratio": env_rate / bare,
        "cpu_env_steps_per_s": cpu_rate,
        "bare_cpu_env_steps_per_s": bare_cpu_rate,
        "cpu_ratio": cpu_rate / bare_cpu_rate,
        "iteration_s_median": statistics.median(iter_walls) if iter_walls else wall / args.iterations,
        "time_split_s": split,
        "time_split_fraction": split_frac,
        "process_cpu_s": time.process_time(),
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "load_average_1min": os.getloadavg()[0],
    }
    print(
        f"training {env_rate:7.0f} env-steps/s ({n} envs x {steps} steps, {args.iterations} iterations, "
        f"PPO included)  bare physics (deploy model) {bare:7.0f} env-steps/s  ratio {env_rate / bare:.2f}"
    )
    print("  split: " + ", ".join(f"{k} {100 * v:.0f}%" for k, v in split_frac.items()))
    print(
        f"  per CPU-second (all threads): training {cpu_rate:.0f}, bare physics {bare_cpu_rate:.0f} "
        f"env-steps, ratio {cpu_rate / bare_cpu_rate:.2f}; load average {os.getloadavg()[0]:.1f}"
    )
    if args.json:
        write_json_atomic(args.json, result, indent=1)
    return 0
