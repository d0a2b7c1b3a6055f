"""rsl-rl glue: the runner configuration dict, checkpoints that carry the observation contract, a one-line
progress report per iteration, and the learning-curve plot saved with the run.

Stages: ``mpt`` and ``track`` and ``finetune`` use rsl-rl's ``OnPolicyRunner`` (PPO); ``distill`` uses its
``DistillationRunner`` (DAgger: the student acts, the teacher labels). ``track`` starts from the ``mpt``
weights with the heightmap gate unfrozen; ``finetune`` maps the distilled student into the PPO actor.
"""

from __future__ import annotations

import contextlib
import io
import json
import statistics
import time
from pathlib import Path
from typing import Any

import torch
from rsl_rl.runners import DistillationRunner, OnPolicyRunner
from tensordict import TensorDict

from hsi_kernel.atomic import atomic_path, write_bytes_atomic

from .config import TrainConfig
from .env import TrackingEnv
from .symmetry import symmetry_cfg

ACTOR = "hsi_offline.training.networks:TrackingActor"


def _actor_cfg(cfg: TrainConfig, env: TrackingEnv, heightmap_size: int) -> dict[str, Any]:
    p = cfg.policy
    return {
        "class_name": ACTOR,
        "hidden_dims": list(p.actor_hidden),
        "activation": p.activation,
        "obs_normalization": p.obs_normalization,
        "distribution_cfg": {"class_name": "GaussianDistribution", "init_std": p.init_std},
        "heightmap_size": heightmap_size,
        "gate_trainable": p.gate_trainable,
        "bounds_loss_coef": p.bounds_loss_coef,
        "action_clip": cfg.env.action_clip,
    }


def runner_config(cfg: TrainConfig, env: TrackingEnv) -> dict[str, Any]:
    """The ``train_cfg`` dict rsl-rl-lib 5.5.1's runners expect."""
    a, p = cfg.algorithm, cfg.policy
    hm = env.teacher_layout.heightmap_size
    base = {
        "num_steps_per_env": cfg.num_steps_per_env,
        "save_interval": cfg.save_interval,
        "logger": "tensorboard",
        "run_name": cfg.stage,
        "check_for_nan": True,
    }
    if cfg.stage == "distill":
        student = _actor_cfg(cfg, env, env.student_layout.heightmap_size)
        student["bounds_loss_coef"] = 0.0
        teacher = _actor_cfg(cfg, env, hm)
        return {
            **base,
            "obs_groups": {"student": ["student"], "teacher": ["teacher"]},
            "student": student,
            "teacher": teacher,
            "algorithm": {
                "class_name": "hsi_offline.training.distillation:StdMatchingDistillation",
                "num_learning_epochs": a.num_learning_epochs,
                "gradient_length": a.gradient_length,
                "learning_rate": a.learning_rate,
                "max_grad_norm": a.max_grad_norm,
                "loss_type": a.loss_type,
            },
        }
    actor_group = "student" if cfg.stage == "finetune" else "policy"
    actor = _actor_cfg(cfg, env, hm)
    return {
        **base,
        "obs_groups": {"actor": [actor_group], "critic": ["critic"]},
        "actor": actor,
        "critic": {
            "class_name": "MLPModel",
            "hidden_dims": list(p.critic_hidden),
            "activation": p.activation,
            "obs_normalization": p.obs_normalization,
        },
        "algorithm": {
            "class_name": "hsi_offline.training.symmetry:MirrorPPO" if a.symmetry else "PPO",
            **({"symmetry_cfg": symmetry_cfg()} if a.symmetry else {}),
            "learning_rate": a.learning_rate,
            "num_learning_epochs": a.num_learning_epochs,
            "num_mini_batches": a.num_mini_batches,
            "clip_param": a.clip_param,
            "gamma": a.gamma,
            "lam": a.lam,
            "value_loss_coef": a.value_loss_coef,
            "entropy_coef": a.entropy_coef,
            "max_grad_norm": a.max_grad_norm,
            "schedule": a.schedule,
            "desired_kl": a.desired_kl,
        },
    }


class ObservationGroups:
    """The environment as a runner sees it: only the observation groups the stage's networks read.

    Why: rsl-rl's rollout storage copies every group it is handed at every step and gathers every group for
    every PPO mini-batch; the tracking environment builds four (policy, teacher, student, critic) and a stage
    reads two. Everything but the observations is the environment's own (attributes read and written)."""

    def __init__(self, env: TrackingEnv, groups: list[str]):
        object.__setattr__(self, "env", env)
        object.__setattr__(self, "groups", groups)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.env, name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self.env, name, value)

    def get_observations(self) -> TensorDict:
        return self.env.get_observations().select(*self.groups)

    def step(self, actions: torch.Tensor) -> tuple[TensorDict, torch.Tensor, torch.Tensor, dict]:
        obs, rewards, dones, extras = self.env.step(actions)
        return obs.select(*self.groups), rewards, dones, extras


class _RunMixin:
    """Checkpoint metadata, progress line and learning curves shared by both runner kinds."""

    def _setup_run(self, cfg: TrainConfig, env: TrackingEnv, log_dir: str | None) -> None:
        self.run_cfg = cfg
        self.run_dir = Path(log_dir) if log_dir else None
        self.history: list[dict[str, float]] = []
        self._orig_log = self.logger.log
        self.logger.log = self._log  # type: ignore[method-assign]
        self._t0 = time.time()

    def checkpoint_infos(self) -> dict[str, Any]:
        return {
            "hsi_robot": {
                **self.env.metadata(),
                "stage": self.run_cfg.stage,
                "config": self.run_cfg.to_dict(),
                "history": self.history,
            }
        }

    def save(self, path: str, infos: dict | None = None) -> None:  # type: ignore[override]
        """Atomic checkpoint (temp file + os.replace) that always carries the observation contract."""
        merged = {**self.checkpoint_infos(), **(infos or {})}
        with atomic_path(path, ".tmp") as tmp:
            super().save(str(tmp), merged)  # type: ignore[misc]

    def _log(self, **kw: Any) -> None:
        with contextlib.redirect_stdout(io.StringIO()):
            self._orig_log(**kw)
        lg = self.logger
        row = {
            "iteration": kw["it"],
            "time_s": time.time() - self._t0,
            "mean_reward": statistics.mean(lg.rewbuffer) if lg.rewbuffer else float("nan"),
            "mean_episode_length": statistics.mean(lg.lenbuffer) if lg.lenbuffer else float("nan"),
            **{f"loss_{k}": float(v) for k, v in kw["loss_dict"].items()},
            "learning_rate": float(kw["learning_rate"]),
        }
        buf = getattr(self.env, "tracking_buffer", None)
        row["tracking_reward"] = statistics.mean(buf) if buf else float("nan")
        ok = getattr(self.env, "success_buffer", None)
        row["success_rate"] = statistics.mean(ok) if ok else float("nan")
        self.history.append(row)
        print(
            f"[{self.run_cfg.stage}] it {kw['it'] + 1}/{kw['total_it']}  reward {row['mean_reward']:8.2f}  "
            f"ep_len {row['mean_episode_length']:6.1f}  "
            + "  ".join(f"{k[5:]} {v:.4f}" for k, v in row.items() if k.startswith("loss_"))
            + f"  success {row['success_rate']:.2f}  lr {row['learning_rate']:.2e}  "
            f"{kw['collect_time'] + kw['learn_time']:.2f}s",
            flush=True,
        )

    def finish(self) -> Path | None:
        """Write history.json and learning_curves.png into the run folder."""
        if self.run_dir is None:
            return None
        self.run_dir.mkdir(parents=True, exist_ok=True)
        write_bytes_atomic(self.run_dir / "history.json", json.dumps(self.history, indent=1).encode())
        return plot_curves(self.history, self.run_dir / "learning_curves.png", self.run_cfg.stage)


def _stage_env(env: TrackingEnv, train_cfg: dict[str, Any]) -> ObservationGroups:
    groups = sorted({g for sets in train_cfg["obs_groups"].values() for g in sets})
    return ObservationGroups(env, groups)


class TrackingRunner(_RunMixin, OnPolicyRunner):
    def __init__(self, env: TrackingEnv, cfg: TrainConfig, log_dir: str | None = None, device: str = "cpu"):
        train_cfg = runner_config(cfg, env)
        super().__init__(_stage_env(env, train_cfg), train_cfg, log_dir, device)  # type: ignore[arg-type]
        self._setup_run(cfg, env, log_dir)


class TrackingDistillationRunner(_RunMixin, DistillationRunner):
    def __init__(self, env: TrackingEnv, cfg: TrainConfig, log_dir: str | None = None, device: str = "cpu"):
        train_cfg = runner_config(cfg, env)
        super().__init__(_stage_env(env, train_cfg), train_cfg, log_dir, device)  # type: ignore[arg-type]
        self._setup_run(cfg, env, log_dir)


def make_runner(env: TrackingEnv, cfg: TrainConfig, log_dir: str | None = None):
    cls = TrackingDistillationRunner if cfg.stage == "distill" else TrackingRunner
    return cls(env, cfg, log_dir, cfg.env.device)


def plot_curves(history: list[dict[str, float]], path: Path, title: str) -> Path:
    """Mean episode reward, episode length and losses against iteration, one PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = ["mean_reward", "tracking_reward", "mean_episode_length"]
    keys += ["success_rate"] if any("success_rate" in h for h in history) else []
    keys += sorted({k for h in history for k in h if k.startswith("loss_")})
    fig, axes = plt.subplots(len(keys), 1, figsize=(7, 2.2 * len(keys)), sharex=True)
    its = [h["iteration"] for h in history]
    for ax, k in zip(axes, keys):
        ax.plot(its, [h.get(k, float("nan")) for h in history])
        ax.set_ylabel(k.replace("_", " "), fontsize=8)
        ax.grid(alpha=0.3)
    axes[-1].set_xlabel("iteration")
    fig.suptitle(f"hsi_robot training: {title}")
    fig.tight_layout()
    with atomic_path(path, ".png", mode=0o644) as tmp:
        fig.savefig(tmp, dpi=90)
    plt.close(fig)
    return path


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint (or a run folder's last one) and check it carries the observation contract
    (one-line error otherwise)."""
    path = Path(path)
    if path.is_dir():  # a run folder: its last checkpoint (what the stage ended on)
        from .export import last_checkpoint

        path = last_checkpoint(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint '{path}' does not exist")
    ckpt = torch.load(path, weights_only=False, map_location="cpu")
    meta = (ckpt.get("infos") or {}).get("hsi_robot")
    if not meta or "observation_layout" not in meta:
        raise ValueError(
            f"checkpoint '{path}' has no hsi_robot observation layout (not written by hsi-offline train)"
        )
    return ckpt


def warmup_critic(
    runner: TrackingRunner, max_iterations: int, learning_rate: float, window: int = 10, settle: float = 0.1
) -> int:
    """Train only the (fresh) critic until its value loss settles, at most ``max_iterations``, while the
    actor, its std and its observation normaliser stay exactly as handed over. Returns the iterations run.

    Why: stage 4 starts from the distilled student; an untrained critic drives the first policy updates with
    meaningless advantages. Why its own learning rate: the stage's low actor rate (3e-5, the paper's) left a
    fresh critic's value loss near 3700 after 30 iterations on the CPU run, and the policy then degraded
    (episode length 263 -> 94). Settled: the mean value loss of the last ``window`` iterations is within
    ``settle`` (relative) of the window before."""
    if max_iterations <= 0:
        return 0
    alg = runner.alg
    actor = alg.actor
    flags = [(p, p.requires_grad) for p in actor.parameters()]
    norm = actor.obs_normalization
    lrs = [g["lr"] for g in alg.optimizer.param_groups]
    alg_lr = alg.learning_rate
    for p, _ in flags:
        p.requires_grad_(False)
    actor.obs_normalization = False  # no normaliser statistics update either
    for g in alg.optimizer.param_groups:
        g["lr"] = learning_rate
    alg.learning_rate = learning_rate
    done, previous = 0, None
    try:
        while done < max_iterations:
            n = min(window, max_iterations - done)
            if done:
                runner.current_learning_iteration += 1  # rsl-rl keeps the last finished iteration
            runner.learn(n)
            done += n
            current = statistics.mean(h["loss_value"] for h in runner.history[-n:])
            if previous is not None and abs(current - previous) <= settle * previous:
                break
            previous = current
    finally:
        for p, f in flags:
            p.requires_grad_(f)
        actor.obs_normalization = norm
        for g, lr in zip(alg.optimizer.param_groups, lrs):
            g["lr"] = lr
        alg.learning_rate = alg_lr
    runner.current_learning_iteration += 1
    print(
        f"[finetune] critic warm-up: {done} iterations, value loss {runner.history[-1]['loss_value']:.1f}",
        flush=True,
    )
    return done
