"""Networks and rsl-rl glue: the heightmap gate, the bounds loss, checkpoints and stage hand-overs."""

from __future__ import annotations

import torch
from tensordict import TensorDict

from hsi_kernel.observation import ObservationLayout
from hsi_offline.training.config import AlgorithmConfig, EnvConfig, PolicyConfig, TrainConfig
from hsi_offline.training.env import TrackingEnv
from hsi_offline.training.motion_lib import MotionLibrary
from hsi_offline.training.networks import TrackingActor, bounds_loss
from hsi_offline.training.procedural_clips import standing_clip
from hsi_offline.training.runner import load_checkpoint, make_runner


def _cfg(stage="mpt", iterations=2) -> TrainConfig:
    cfg = TrainConfig(
        stage=stage,
        iterations=iterations,
        num_steps_per_env=4,
        save_interval=1,
        env=EnvConfig(num_envs=4, threads=2, episode_length_s=1.0),
        policy=PolicyConfig(actor_hidden=[32, 16], critic_hidden=[32, 16]),
        algorithm=AlgorithmConfig(num_mini_batches=1, num_learning_epochs=1, gradient_length=4),
    )
    cfg.env.randomization.enabled = False
    return cfg


def test_gate_at_zero_ignores_heightmap_and_bounds_gradient_matches_loss():
    obs = TensorDict({"policy": torch.randn(6, 40)}, batch_size=[6])
    m = TrackingActor(
        obs,
        {"actor": ["policy"]},
        "actor",
        5,
        [16, 8],
        heightmap_size=12,
        distribution_cfg={"class_name": "GaussianDistribution", "init_std": 0.8},
        bounds_loss_coef=0.3,
        action_clip=0.01,
    )
    changed = obs.clone()
    changed["policy"][:, -12:] += 3.0
    assert torch.equal(m(obs), m(changed))
    with torch.no_grad():
        m.mlp.gate.fill_(0.5)
    assert not torch.allclose(m(obs), m(changed))
    m.train()
    m.mlp(obs["policy"]).sum().backward()
    g_inj = [p.grad.clone() for p in m.mlp.parameters() if p.grad is not None]
    m.zero_grad()
    m.eval()
    mu = m.mlp(obs["policy"])
    (mu.sum() + 0.3 * bounds_loss(mu, 0.01)).backward()
    g_ref = [p.grad.clone() for p in m.mlp.parameters() if p.grad is not None]
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(g_inj, g_ref))


def test_checkpoint_round_trip_and_stage_handover(tmp_path):
    lib = MotionLibrary([standing_clip(seconds=1.0)])
    cfg = _cfg()
    cfg.policy.gate_trainable = False
    env = TrackingEnv(cfg.env, lib)
    runner = make_runner(env, cfg, str(tmp_path / "mpt"))
    runner.learn(2)
    png = runner.finish()
    assert png.is_file() and (tmp_path / "mpt" / "history.json").is_file()
    ckpt_path = tmp_path / "mpt" / "model_1.pt"
    ckpt = load_checkpoint(ckpt_path)
    meta = ckpt["infos"]["hsi_robot"]
    assert ObservationLayout.from_dict(meta["observation_layout"]) == env.teacher_layout
    assert meta["stage"] == "mpt" and len(meta["joint_names"]) == 23
    assert float(ckpt["actor_state_dict"]["mlp.gate"]) == 0.0  # frozen in stage 1
    obs = env.get_observations()
    pol = runner.get_inference_policy()
    a1 = pol(obs).detach()
    # resume: a fresh runner loads weights, optimiser and iteration
    r2 = make_runner(env, cfg, None)
    r2.load(str(ckpt_path))
    assert r2.current_learning_iteration == 1
    assert torch.allclose(r2.get_inference_policy()(obs), a1)
    # stage 2 from stage-1 weights with the gate trainable: identical actions at the start
    cfg2 = _cfg("track")
    cfg2.policy.gate_trainable = True
    r3 = make_runner(env, cfg2, None)
    from hsi_offline.training.cli import init_weights

    init_weights(r3, "track", str(ckpt_path))
    assert r3.alg.actor.mlp.gate.requires_grad
    assert torch.allclose(r3.get_inference_policy()(obs), a1)
    # stage 3: the teacher comes from the tracking checkpoint, the student starts fresh
    cfg3 = _cfg("distill")
    r4 = make_runner(env, cfg3, str(tmp_path / "distill"))
    init_weights(r4, "distill", str(ckpt_path))
    assert torch.allclose(r4.alg.teacher(obs), a1)
    r4.learn(1)
    dpath = tmp_path / "distill" / "model_0.pt"
    # stage 4: the distilled student's weights map into the PPO actor unchanged
    r5 = make_runner(env, _cfg("finetune"), None)
    init_weights(r5, "finetune", str(dpath))
    a_student = r4.get_inference_policy()(obs).detach()
    assert torch.allclose(r5.get_inference_policy()(obs), a_student)
    # critic warm-up: the critic learns, the handed-over actor (weights, std, normaliser) does not move
    from hsi_offline.training.runner import warmup_critic

    critic0 = [p.clone() for p in r5.alg.critic.parameters()]
    lr0 = [g["lr"] for g in r5.alg.optimizer.param_groups]
    # window 1, any change counts as settled: it stops after the second window, not at the maximum
    assert warmup_critic(r5, 5, 1e-3, window=1, settle=float("inf")) == 2
    assert [h["learning_rate"] for h in r5.history] == [1e-3, 1e-3]  # its own rate, then the stage's again
    assert [g["lr"] for g in r5.alg.optimizer.param_groups] == lr0
    assert [h["iteration"] for h in r5.history] == [0, 1] and r5.current_learning_iteration == 2
    assert torch.allclose(r5.get_inference_policy()(obs), a_student)
    assert any(not torch.equal(a, b) for a, b in zip(critic0, r5.alg.critic.parameters()))
    assert all(p.requires_grad for p in r5.alg.actor.parameters() if p is not r5.alg.actor.mlp.gate)
    env.close()
