"""Stage-1 learning test on walking: PPO on a retargeted walking clip, with the walking config's tools
(Unitree's leg gains, the termination-distance curriculum, mirrored clip), makes the tracking reward and the
episode length rise.

The clip is the project's procedural human walk (four 0.4 m steps) retargeted to the G1 by the real solver,
so the test needs no captured data. A fresh policy tracking a walk loses the swing foot within a few policy
steps; the episodes only grow if the policy learns to step. Thresholds leave a margin below the rise seen when
it was written (episode length 38.8 -> 48.3, tracking reward 30.2 -> 37.8 over 60 iterations)."""

from __future__ import annotations

import statistics

import pytest
import torch

from hsi_offline.motion.variants import mirror
from hsi_offline.retarget.pipeline import retarget_clip
from hsi_offline.retarget.synthetic_human import flat_walk
from hsi_offline.training.config import load_config
from hsi_offline.training.env import TrackingEnv
from hsi_offline.training.motion_lib import MotionLibrary
from hsi_offline.training.runner import make_runner


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_ppo_learns_to_track_a_walking_clip(tmp_path):
    clip, _, quality = retarget_clip(flat_walk(n_steps=4))
    assert clip.root_pos[-1, 0] - clip.root_pos[0, 0] > 1.0  # it really walks
    torch.manual_seed(0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        over = {
            "iterations": 60,
            "save_interval": 1000,
            "env": {"num_envs": 96, "threads": 1, "seed": 0, "randomization": {"enabled": False}},
            "policy": {"actor_hidden": [128, 128], "critic_hidden": [128, 128]},
            "algorithm": {"learning_rate": 1.0e-3},
        }
        cfg = load_config("config/training/cpu/walk_mpt.yaml", over)
        lib = MotionLibrary([clip, mirror(clip)], 1.0 / cfg.env.policy_dt)
        env = TrackingEnv(cfg.env, lib)
        runner = make_runner(env, cfg, str(tmp_path / "run"))
        runner.learn(cfg.iterations)
        env.close()
    finally:
        torch.set_num_threads(threads)
    h = runner.history

    def avg(key: str, rows: list[dict]) -> float:
        return statistics.mean(r[key] for r in rows)

    first, last = h[1:6], h[-5:]
    len0, len1 = avg("mean_episode_length", first), avg("mean_episode_length", last)
    trk0, trk1 = avg("tracking_reward", first), avg("tracking_reward", last)
    print(f"episode length {len0:.1f} -> {len1:.1f}, tracking reward {trk0:.2f} -> {trk1:.2f}")
    assert len1 > 1.12 * len0, (len0, len1)
    assert trk1 > 1.12 * trk0, (trk0, trk1)
