"""Stage 3 learning test: DAgger distillation reduces the student-teacher action error on held-out states."""

from __future__ import annotations

import torch

from hsi_offline.training.cli import init_weights
from hsi_offline.training.config import AlgorithmConfig, EnvConfig, PolicyConfig, TrainConfig
from hsi_offline.training.env import TrackingEnv
from hsi_offline.training.motion_lib import MotionLibrary
from hsi_offline.training.procedural_clips import sway_clip
from hsi_offline.training.runner import make_runner


def _cfg(stage: str, seed: int = 0) -> TrainConfig:
    cfg = TrainConfig(
        stage=stage,
        iterations=1,
        num_steps_per_env=12,
        save_interval=100,
        env=EnvConfig(num_envs=8, threads=2, episode_length_s=2.0, seed=seed),
        policy=PolicyConfig(actor_hidden=[64, 32], critic_hidden=[32], init_std=0.4),
        algorithm=AlgorithmConfig(
            learning_rate=3e-3, num_learning_epochs=2, gradient_length=12, num_mini_batches=1
        ),
    )
    cfg.env.randomization.enabled = False
    return cfg


def _held_out(lib: MotionLibrary, teacher, n_steps: int = 20):
    """States visited by the teacher itself in fresh environments (another seed): (student obs, labels)."""
    env = TrackingEnv(_cfg("distill", seed=123).env, lib)
    s_obs, labels = [], []
    obs = env.get_observations()
    with torch.no_grad():
        for _ in range(n_steps):
            a = teacher(obs)
            s_obs.append(obs["student"].clone())
            labels.append(a.clone())
            obs, *_ = env.step(a)
    env.close()
    return torch.cat(s_obs), torch.cat(labels)


def test_distillation_reduces_action_error_on_held_out_states(tmp_path):
    torch.manual_seed(0)
    lib = MotionLibrary([sway_clip(seconds=3.0)])
    # a teacher: a tracking policy checkpoint (PPO actor) with a non-trivial action map
    env = TrackingEnv(_cfg("mpt").env, lib)
    ppo = make_runner(env, _cfg("mpt"), None)
    with torch.no_grad():
        ppo.alg.actor.mlp.rest[-1].weight.mul_(8.0)
        ppo.alg.actor.distribution.std_param.fill_(0.2)
    teacher_path = tmp_path / "teacher.pt"
    ppo.save(str(teacher_path))
    runner = make_runner(env, _cfg("distill"), str(tmp_path / "distill"))
    init_weights(runner, "distill", str(teacher_path))
    teacher = runner.alg.teacher
    teacher.eval()
    obs_s, labels = _held_out(lib, teacher)

    def error() -> float:
        student = runner.alg.student
        student.eval()
        with torch.no_grad():
            from tensordict import TensorDict

            pred = student(TensorDict({"student": obs_s}, batch_size=[len(obs_s)]))
        return float(((pred - labels) ** 2).mean())

    before = error()
    std_before = float((runner.alg.student.distribution.std_param - 0.2).abs().mean())
    runner.learn(25)
    after = error()
    std_after = float((runner.alg.student.distribution.std_param - 0.2).abs().mean())
    env.close()
    assert labels.abs().mean() > 0.1  # the teacher really acts
    assert after < 0.35 * before, (before, after)
    assert std_after < 0.75 * std_before, (std_before, std_after)  # sigma_s moves towards sigma_t
