"""Training -> export -> robot: the onboard runner builds the training env's observation and acts the same.

A distillation checkpoint written by the real training runner (tiny network) is exported with
``hsi-offline export``; the policy runner is then fed the simulator state the training env sees, step by
step, and must (1) build the identical student observation (within float32 rounding) and (2) command the
same joint targets the env applies, with the env driven by the runner's actions.
"""

from __future__ import annotations

import time

import numpy as np
import torch

from hsi_kernel.policy_file import load_metadata
from hsi_offline import cli
from hsi_offline.training.config import AlgorithmConfig, EnvConfig, PolicyConfig, TrainConfig
from hsi_offline.training.env import TrackingEnv
from hsi_offline.training.motion_lib import MotionLibrary
from hsi_offline.training.procedural_clips import standing_clip
from hsi_offline.training.runner import make_runner
from hsi_robot_nodes.policy.runner import PolicyRunner, RunnerConfig


def test_exported_student_matches_training_env_step_by_step(tmp_path):
    cfg = TrainConfig(
        stage="distill",
        iterations=1,
        num_steps_per_env=4,
        save_interval=1,
        env=EnvConfig(num_envs=1, threads=1, episode_length_s=2.0),
        policy=PolicyConfig(actor_hidden=[32, 16], critic_hidden=[32, 16]),
        algorithm=AlgorithmConfig(num_mini_batches=1, num_learning_epochs=1, gradient_length=4),
    )
    cfg.env.randomization.enabled = False
    env = TrackingEnv(cfg.env, MotionLibrary([standing_clip(seconds=2.0)]))
    try:
        runner = make_runner(env, cfg, None)
        with torch.no_grad():  # a student with a non-trivial heightmap path and normaliser
            runner.alg.student.mlp.gate.fill_(0.7)
        ckpt = tmp_path / "distill.pt"
        runner.save(str(ckpt))
        out = tmp_path / "student.onnx"
        assert cli.main(["export", str(ckpt), "--out", str(out)]) == 0
        md = load_metadata(out)
        assert md.layout == env.student_layout and md.layout.heightmap_size == 121
        pr = PolicyRunner({"terrain": out}, config=RunnerConfig(resume_cycles=1))
        sl = env.student_layout.slices()
        compared = 0
        for _ in range(15):
            s, obs_env = env.state, env.get_observations()["student"][0].numpy()
            now = time.monotonic_ns()
            pr.update_joint_state(s["joint_pos"][0].numpy(), s["joint_vel"][0].numpy(), now)
            pr.update_imu(s["root_quat"][0].numpy(), s["root_ang_vel_b"][0].numpy(), now)
            pr.update_heightmap(env.hm[0].numpy(), now)
            pr.update_root_target(*obs_env[sl["target_xy"]], *obs_env[sl["target_yaw"]])
            res = pr.step(now)
            assert res.active == "terrain"
            np.testing.assert_allclose(res.obs, obs_env, atol=2e-6)  # same observation as training
            with torch.no_grad():
                a_train = runner.get_inference_policy()(env.get_observations())[0].numpy()
            q_train = md.default_q + 0.25 * np.clip(a_train, -8, 8)
            np.testing.assert_allclose(res.targets.q, q_train, atol=1e-4)
            compared += 1
            action = torch.as_tensor(pr.policies["terrain"].last_action, dtype=torch.float32)[None]
            _, _, dones, _ = env.step(action)
            if bool(dones[0]):
                break  # the env reset its history: the robot would have fallen, nothing more to compare
        assert compared >= 5
    finally:
        env.close()
