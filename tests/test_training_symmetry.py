"""The left-right mirror of the tracking task (``hsi_offline/training/symmetry.py``, ``algorithm.symmetry``).

Checks that mirroring twice is the identity, that the robot contract the mirror relies on is itself
mirror-symmetric, and, on the real environment, that the mirrored observation of a state equals the
observation the environment builds for the mirrored state (the same clip mirrored by ``variants.mirror``,
the same frame), for every observation group, at the reset and after a physics step with mirrored actions;
and that PPO with ``algorithm.symmetry`` trains on the mirrored samples.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from tensordict import TensorDict

from hsi_kernel.contract import get_contract, policy_gains
from hsi_kernel.heightmap.sampler import DEFAULT_SPEC, grid_offsets
from hsi_kernel.observation import make_layout
from hsi_offline.motion.clip import make_clip
from hsi_offline.motion.variants import mirror, mirror_joint_map
from hsi_offline.training.config import load_config
from hsi_offline.training.env import TrackingEnv
from hsi_offline.training.motion_lib import MotionLibrary
from hsi_offline.training.procedural_clips import sway_clip
from hsi_offline.training.runner import make_runner
from hsi_offline.training.symmetry import MirrorPPO, TaskMirror, heightmap_mirror, mirror_augmentation


def _mirror(dof: int) -> TaskMirror:
    return TaskMirror.for_layouts(make_layout(dof, "teacher"), make_layout(dof, "student"), DEFAULT_SPEC)


@pytest.mark.parametrize("dof", [23, 29])
def test_mirroring_twice_is_identity(dof: int) -> None:
    m = _mirror(dof)
    g = torch.Generator().manual_seed(dof)
    for name, vm in m.groups.items():
        x = torch.randn(7, len(vm), generator=g)
        assert torch.equal(vm(vm(x)), x), name
        assert not torch.equal(vm(x), x), name  # it does mirror something
    a = torch.randn(7, dof, generator=g)
    assert torch.equal(m.actions(m.actions(a)), a)


def test_contract_is_mirror_symmetric() -> None:
    """The mirror assumes the default pose, the gains and the target bounds map onto themselves."""
    for dof in (23, 29):
        c = get_contract(dof)
        src, sign = mirror_joint_map(dof)
        np.testing.assert_allclose(sign * c.default_q[src], c.default_q, atol=1e-9)
        for gains in ("videomimic", "unitree"):
            kp, kd = policy_gains(c, gains)
            np.testing.assert_allclose(kp[src], kp)
            np.testing.assert_allclose(kd[src], kd)
        lo, hi = c.target_bounds()
        m_lo = np.where(sign > 0, lo[src], -hi[src])
        m_hi = np.where(sign > 0, hi[src], -lo[src])
        np.testing.assert_allclose(m_lo, lo, atol=1e-4)
        np.testing.assert_allclose(m_hi, hi, atol=1e-4)


def test_heightmap_mirror_swaps_lateral_offsets() -> None:
    off = grid_offsets(DEFAULT_SPEC)
    src = heightmap_mirror(DEFAULT_SPEC)
    np.testing.assert_allclose(off[src], off * np.array([1.0, -1.0]), atol=1e-12)
    assert np.array_equal(src[src], np.arange(len(src)))


def test_augmentation_appends_mirrored_samples() -> None:
    m = _mirror(23)
    g = torch.Generator().manual_seed(0)
    obs = TensorDict(
        {k: torch.randn(5, len(m.groups[k]), generator=g) for k in ("policy", "critic")}, batch_size=[5]
    )
    actions = torch.randn(5, 23, generator=g)

    class _Env:
        task_mirror = m

    aug_obs, aug_actions = mirror_augmentation(_Env(), obs, actions)
    assert aug_obs is not None and aug_actions is not None
    assert aug_obs.batch_size[0] == 10 and aug_actions.shape == (10, 23)
    assert torch.equal(aug_obs["policy"][:5], obs["policy"])
    assert torch.equal(aug_obs["critic"][5:], m.groups["critic"](obs["critic"]))
    assert torch.equal(aug_actions[5:], m.actions(actions))
    assert mirror_augmentation(_Env(), None, actions)[0] is None


def _asymmetric_clip():
    """A flat clip that leans, turns and drifts sideways while the joints move unevenly: nothing in it is
    its own mirror image."""
    base = sway_clip(dof=23, seconds=3.0)
    T = base.num_frames
    t = np.arange(T) / base.fps
    rng = np.random.default_rng(3)
    joints = np.asarray(base.joint_pos) + 0.15 * np.sin(2.0 * t[:, None] + rng.uniform(0, 6, 23)[None])
    yaw, roll = 0.3 * t, 0.05 * np.sin(t)
    quat = np.stack(
        [
            np.cos(yaw / 2) * np.cos(roll / 2),
            np.cos(yaw / 2) * np.sin(roll / 2),
            np.sin(yaw / 2) * np.sin(roll / 2),
            np.sin(yaw / 2) * np.cos(roll / 2),
        ],
        axis=1,
    )
    root = np.asarray(base.root_pos) + np.stack([0.2 * t, 0.1 * t, 0 * t], axis=1)
    return make_clip(base.fps, root, quat, joints, 23)


def test_mirrored_observation_of_a_state_is_the_observation_of_the_mirrored_state() -> None:
    clip = _asymmetric_clip()
    over = {
        "env": {"num_envs": 2, "threads": 1, "randomization": {"enabled": False}},
        "policy": {"actor_hidden": [32], "critic_hidden": [32]},
    }
    cfg = load_config("config/training/cpu/walk_mpt.yaml", over)
    env = TrackingEnv(cfg.env, MotionLibrary([clip, mirror(clip)], 1.0 / cfg.env.policy_dt))
    try:
        m = TaskMirror.for_layouts(env.teacher_layout, env.student_layout, env.hm_spec)
        ids = torch.arange(2)
        env.clip_id[:] = ids
        ref = env._set_reference_state(ids, env.motion.clip_start + 40)
        env.state = env._state()
        env.link_vel[:] = ref["link_vel"]
        env.state["link_vel"] = env.link_vel
        env.last_action[:] = 0.0
        env.odom_age[:] = 10**6
        env.hm_age[:] = 10**6

        def check(obs: TensorDict, atol: float) -> None:
            for name in ("policy", "teacher", "student", "critic"):
                x, y = obs[name][0:1], obs[name][1:2]
                assert not torch.allclose(x, y, atol=1e-3), name  # the two states really differ
                err = (m.groups[name](x) - y).abs()
                assert err.max() < atol, (name, int(err.argmax()), float(err.max()))

        check(env._observations(ids), 1e-4)
        a = torch.randn(1, 23, generator=torch.Generator().manual_seed(1))
        obs, _, dones, _ = env.step(torch.cat([a, m.actions(a)]))
        assert not dones.any()
        check(obs, 2e-3)  # one step of physics of each: mirror images to solver precision
    finally:
        env.close()


def test_ppo_with_symmetry_trains_on_mirrored_samples(tmp_path) -> None:
    """``algorithm.symmetry: true`` runs rsl-rl's PPO with the mirror appended to every mini-batch; the logged
    symmetry loss (how far the policy is from mirror-symmetric) is finite."""
    over = {
        "iterations": 2,
        "num_steps_per_env": 4,
        "env": {"num_envs": 4, "threads": 1, "randomization": {"enabled": False}},
        "policy": {"actor_hidden": [32], "critic_hidden": [32]},
        "algorithm": {"symmetry": True, "num_learning_epochs": 1, "num_mini_batches": 2},
    }
    cfg = load_config("config/training/cpu/walk_mpt.yaml", over)
    clip = _asymmetric_clip()
    env = TrackingEnv(cfg.env, MotionLibrary([clip, mirror(clip)], 1.0 / cfg.env.policy_dt))
    try:
        runner = make_runner(env, cfg, str(tmp_path / "run"))
        assert isinstance(runner.alg, MirrorPPO)
        sizes: list[int] = []
        inner = runner.alg.actor.forward

        def forward(obs, *a, **k):
            sizes.append(obs.batch_size[0])
            return inner(obs, *a, **k)

        runner.alg.actor.forward = forward
        runner.learn(cfg.iterations)
    finally:
        env.close()
    assert 16 in sizes  # a mini-batch of 8 samples and their 8 mirror images
    assert all(np.isfinite(h["loss_symmetry"]) for h in runner.history)
