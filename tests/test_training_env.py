"""The tracking environment on the CPU backend: shapes, PD law, rewards, replay, heightmap, terminations,
randomisation ranges."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from hsi_kernel.contract import TARGET_LIMIT_MARGIN, TORSO_LINK, TRACKED_LINKS, get_contract
from hsi_kernel.heightmap.sampler import DEFAULT_SPEC, sample_heightmap, terrain_height_fn
from hsi_kernel.motor import MotorCommand, pd_torque
from hsi_kernel.observation import make_layout
from hsi_kernel.terrain import make_scene_terrain
from hsi_offline.training import rewards as R  # noqa: N812
from hsi_offline.training.config import EnvConfig, RandomizationConfig, RewardConfig, load_config
from hsi_offline.training.env import TrackingEnv
from hsi_offline.training.motion_lib import MotionLibrary
from hsi_offline.training.pd import pd_torque_torch
from hsi_offline.training.procedural_clips import standing_clip, sway_clip
from hsi_offline.training.randomisation import randomize_model, sample_episode_params


@pytest.fixture(scope="module")
def lib():
    return MotionLibrary([standing_clip(seconds=2.0), sway_clip(seconds=2.0)])


def _env(lib, n=4, randomize=False, **kw) -> TrackingEnv:
    cfg = EnvConfig(num_envs=n, threads=2, **kw)
    cfg.randomization.enabled = randomize
    return TrackingEnv(cfg, lib)


def test_reset_and_step_shapes_and_values(lib):
    env = _env(lib, n=3)
    obs = env.get_observations()
    t, s = make_layout(23, "teacher"), make_layout(23, "student")
    assert obs["policy"].shape == (3, t.dim) and obs["student"].shape == (3, s.dim)
    assert obs["critic"].shape[1] > t.dim
    # at reset the robot sits exactly on its reference: joint_pos term of the history is ref - default
    sl = t.slices()["proprio_history"]
    frame0 = obs["policy"][:, sl][:, : t.frame_dim]
    ref = lib.get(env.frame)
    q_off = frame0[:, 6 : 6 + 23]
    assert torch.allclose(q_off, ref["joint_pos"] - env.default_q, atol=1e-5)
    obs, rew, done, extras = env.step(torch.zeros(3, 23))
    assert rew.shape == (3,) and done.shape == (3,) and extras["time_outs"].shape == (3,)
    assert torch.isfinite(rew).all() and (env.episode_length_buf == 1).all()
    # newest-first history: the second frame of the new history is the previous first frame
    assert torch.allclose(obs["policy"][:, t.frame_dim : 2 * t.frame_dim], frame0)
    env.close()


def test_pd_is_the_simulated_robots_law():
    c = get_contract(23)
    rng = np.random.default_rng(1)
    q, dq, tgt = rng.normal(size=(3, 5, 23))
    kp, kd = c.kp * rng.uniform(0.97, 1.03, (5, 1)), c.kd * rng.uniform(0.97, 1.03, (5, 1))
    ones, z = np.ones((5, 23), np.uint8), np.zeros((5, 23))
    ref = pd_torque(MotorCommand(ones, tgt * 3, z, z, kp, kd), q, dq * 50, c.effort)
    got = pd_torque_torch(*(torch.as_tensor(x) for x in (tgt * 3, q, dq * 50, kp, kd, c.effort)))
    assert np.array_equal(ref, got.numpy())
    assert np.abs(ref).max() == pytest.approx(c.effort.max()) or np.all(np.abs(ref) <= c.effort)


def test_cpu_backend_applies_pd_every_physics_step(lib):
    env = _env(lib, n=2)
    b = env.backend
    q0, dq0 = b.qpos[:, b.ix.qadr].copy(), b.qvel[:, b.ix.vadr].copy()
    # 0.3 rad above the default pose: beyond the ankle roll's and a hip roll's limit, so the clamp matters
    c = get_contract(23)
    lo, hi = c.target_bounds()
    target = np.clip(c.default_q + 0.3, lo, hi)
    assert (target < c.default_q + 0.3).sum() >= 2
    env.step(torch.full((2, 23), 0.3 / env.cfg.action_scale))
    # the last physics step's torque is the PD law on the state before that step: recompute it from a twin
    import mujoco

    m, d = env.models[0], mujoco.MjData(env.models[0])
    d.qpos[:], d.qvel[:] = env.backend.qpos[0] * 0, 0
    qpos, qvel, _ = env._reference_qpos(env.frame[:1] - 1)
    d.qpos[:], d.qvel[:] = qpos[0], qvel[0]
    mujoco.mj_forward(m, d)
    # the same target the bridge would send: clamped inside the joint limits with the bridge's margin
    from hsi_robot_nodes.bridge.safety import SafetyConfig

    assert SafetyConfig().joint_limit_margin == TARGET_LIMIT_MARGIN
    cmd = MotorCommand(
        np.ones(23, np.uint8),
        np.asarray(target, np.float32).astype(np.float64),
        np.zeros(23),
        np.zeros(23),
        c.kp,
        c.kd,
    )
    for _ in range(4):
        d.ctrl[b.ix.act] = pd_torque(cmd, d.qpos[b.ix.qadr], d.qvel[b.ix.vadr], c.effort)
        mujoco.mj_step(m, d)
    assert np.allclose(d.qpos, b.qpos[0], atol=1e-9)
    assert np.allclose(d.ctrl[b.ix.act], b.last_torque[0], atol=1e-9)
    assert not np.allclose(q0, b.qpos[:, b.ix.qadr]) and dq0.shape == (2, 23)
    env.close()


def test_reward_terms_against_hand_computed_values():
    q, q_ref = torch.tensor([[0.1, -0.2]]), torch.tensor([[0.0, 0.0]])
    assert R.joint_pos(q, q_ref, 2.0).item() == pytest.approx(np.exp(-2 * 0.05))
    assert R.joint_vel(q * 10, q_ref, 0.01).item() == pytest.approx(np.exp(-0.01 * 5.0))
    yaw = 0.2
    qa = torch.tensor([[1.0, 0, 0, 0]])
    qb = torch.tensor([[np.cos(yaw / 2), 0, 0, np.sin(yaw / 2)]], dtype=torch.float32)
    assert R.orientation(qa, qb, 3.0).item() == pytest.approx(np.exp(-3 * yaw), rel=1e-5)
    p = torch.zeros(1, 3)
    assert R.position(p, p + torch.tensor([0.1, 0, 0]), 50.0).item() == pytest.approx(np.exp(-0.5))
    links = torch.zeros(1, 2, 3)
    ref = links.clone()
    ref[0, 0, 2] = 0.2
    assert R.link_pos(links, ref, 5.0).item() == pytest.approx(np.exp(-5 * 0.02))
    assert R.feet_contact(torch.tensor([[True, False]]), torch.tensor([[True, True]])).item() == 0.5
    assert R.action_rate(torch.tensor([[1.0, 2.0]]), torch.tensor([[0.0, 0.0]])).item() == 5.0
    lo, hi = torch.tensor([-1.0]), torch.tensor([1.0])
    assert R.joint_limit(torch.tensor([[0.99]]), lo, hi, 0.98).item() == pytest.approx(0.01, abs=1e-6)
    assert R.joint_limit(torch.tensor([[0.5]]), lo, hi, 0.98).item() == 0.0


def test_kinematic_replay_has_zero_error_and_maximal_tracking_reward(lib):
    env = _env(lib, n=4)
    cfg = env.cfg.rewards
    for _ in range(10):
        obs, rew, done, _ = env.replay_step()
        ref = lib.get(env.frame)
        s = env.state
        assert torch.allclose(s["link_pos"], ref["link_pos"], atol=1e-5)
        assert torch.allclose(s["joint_pos"], ref["joint_pos"], atol=1e-6)
        for k in R.TRACKING_TERMS:
            assert env.last_reward_terms[k] == pytest.approx(getattr(cfg, k) * env.dt, rel=1e-4), k
        assert not done.any()
    assert rew == pytest.approx(R.max_tracking_reward(cfg, env.dt), rel=1e-4)
    env.close()


def test_heightmap_observation_equals_onboard_sampler():
    stairs = make_scene_terrain("stairs")
    clip = standing_clip(seconds=1.0, xy=(0.6, -0.2), yaw=0.4)  # just before the first step (x = 1 m)
    lib = MotionLibrary([clip], terrains=[stairs])
    env = _env(lib, n=2)
    obs = env.get_observations()
    lay = env.teacher_layout
    got = obs["policy"][:, lay.slices()["heightmap"]].numpy()
    tpos = env.backend.body_pos[:, -1]
    tq = env.backend.body_quat[:, -1]
    yaw = np.arctan2(2 * (tq[:, 0] * tq[:, 3] + tq[:, 1] * tq[:, 2]), 1 - 2 * (tq[:, 2] ** 2 + tq[:, 3] ** 2))
    want, _ = sample_heightmap(terrain_height_fn(stairs), tpos, yaw, DEFAULT_SPEC)
    assert np.abs(want).max() > 0 and np.ptp(want) > 0.05  # the grid really sees the stairs
    assert np.allclose(got, want, atol=1e-5)
    env.close()


def test_terminations_fire_on_tracking_loss_and_forbidden_contact(lib):
    env = _env(lib, n=2, termination_distance=0.3)
    qpos, qvel, _ = env._reference_qpos(env.frame)
    qpos[0, 2] -= 0.5  # sink robot 0 half a metre: links far from reference, pelvis/knees in the ground
    env.backend.set_state(np.arange(2), qpos, qvel)
    env.frame -= 1
    _, rew, done, extras = env._post_step(torch.zeros(2, 23))
    assert done.tolist() == [True, False] and not extras["time_outs"].any()
    assert env.last_reward_terms["termination"][0] == pytest.approx(env.cfg.rewards.termination * env.dt)
    assert env.episode_length_buf[0] == 0  # reset happened
    assert list(env.success_buffer) == [0.0]  # a termination is a failed episode
    env.close()


def test_root_frame_terminations_tell_pose_error_from_drift(lib):
    """termination_frame root: a robot moved 0.5 m and turned 1 rad off its reference in one piece keeps its
    episode (its pose is right); past root_drift_distance it ends; a wrong pose ends it at the distance."""
    from hsi_offline.training.terminations import END_CAUSES

    env = _env(lib, n=3, termination_distance=0.3, termination_frame="root", root_drift_distance=0.8)
    qpos, qvel, _ = env._reference_qpos(env.frame)
    half = np.array([np.cos(0.5), 0.0, 0.0, np.sin(0.5)])  # 1 rad of yaw
    w, x, y, z = qpos[0, 3:7]
    hw, _, _, hz = half
    qpos[0, 3:7] = [hw * w - hz * z, hw * x - hz * y, hw * y + hz * x, hw * z + hz * w]
    qpos[0, 0] += 0.5  # moved and turned as a whole: world link error > 0.3 m, pose error 0
    qpos[1, 0] += 1.0  # drifted past 0.8 m
    qpos[2, 2] -= 0.5  # sunk: pose error (links relative to the root still fine) but forbidden contacts
    env.backend.set_state(np.arange(3), qpos, qvel)
    env.frame -= 1
    _, _, done, _ = env._post_step(torch.zeros(3, 23))
    assert done.tolist() == [False, True, True]
    assert [END_CAUSES[int(c)] for c in env.end_cause] == ["running", "distance", "contact"]
    env.close()


def test_clip_end_is_a_time_out():
    lib = MotionLibrary([standing_clip(seconds=0.1)])  # 6 frames
    env = _env(lib, n=1)
    outs = [env.replay_step()[3]["time_outs"].item() for _ in range(6)]
    assert any(outs)
    assert list(env.success_buffer) == [1.0] * sum(outs)  # tracked to the clip's end: a success
    env.close()


def test_randomisation_ranges_respected(lib):
    cfg = RandomizationConfig()
    gen = torch.Generator().manual_seed(0)
    p = sample_episode_params(cfg, 2000, 23, 0.005, 4, gen)
    assert p.kp_scale.min() >= 0.97 and p.kp_scale.max() <= 1.03 and p.kd_scale.min() >= 0.97
    assert p.delay_steps.min() == 0 and p.delay_steps.max() == 4  # 0..25 ms at 5 ms, capped by decimation
    assert p.gravity_bias.abs().max() <= 0.01 and p.joint_pos_bias.abs().max() <= 0.005
    assert p.odom_hold.min() == 2 and p.odom_hold.max() == 6
    assert p.hm_refresh.min() == 1 and p.hm_refresh.max() == 5
    assert p.hm_tilt.abs().max() <= 0.04 and p.hm_delay.min() == 0 and p.hm_delay.max() == 3
    env = _env(lib, n=3, randomize=True)
    base = env.base_models[0]
    rng = np.random.default_rng(0)
    import copy

    for _ in range(50):
        m = copy.copy(base)
        info = randomize_model(m, base, cfg, rng, env.backend.ix.root_body)
        assert 0.1 <= info["friction"] <= 1.25 and -1.0 <= info["base_mass_delta"] <= 3.0
        assert m.dof_frictionloss[6:].min() >= 0 and m.dof_frictionloss[6:].max() <= 0.02
    assert base.geom_friction[0, 0] != env.models[0].geom_friction[0, 0] or env.models[0] is not base
    # heightmap right after reset (flat ground): bad cells read the fill value, the rest stay within
    # white 0.02 + offset 0.02 + tilt tan(0.04) * 0.71 m of the exact torso height, and noise is present
    hm = env.get_observations()["policy"][:, env.teacher_layout.slices()["heightmap"]]
    exact = torch.as_tensor(env.backend.body_pos[:, -1, 2], dtype=torch.float32)[:, None].expand_as(hm)
    err = (hm - exact).abs()
    is_fill = hm == env.hm_spec.fill
    assert (err[~is_fill] <= 0.02 + 0.02 + np.tan(0.04) * 0.71 + 1e-5).all() and err.max() > 1e-3
    obs, *_ = env.step(torch.zeros(3, 23))
    assert torch.isfinite(obs["policy"]).all()
    env.close()


def test_config_files_load_and_bad_keys_fail(tmp_path):
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "config" / "training"
    for stage in ("mpt", "track", "distill", "finetune"):
        assert load_config(root / f"{stage}.yaml").stage == stage
    bad = tmp_path / "bad.yaml"
    bad.write_text("env:\n  num_env: 3\n")
    with pytest.raises(ValueError, match="unknown keys"):
        load_config(bad)
    assert RewardConfig().termination == -500.0 and len(TRACKED_LINKS) == 13 and TORSO_LINK


def test_clip_mix_weights_and_failure_weighting(tmp_path):
    a = standing_clip(seconds=0.5).save(tmp_path / "video" / "a.npz")
    standing_clip(seconds=0.5, xy=(1.0, 0.0)).save(tmp_path / "video" / "b.npz")
    standing_clip(seconds=0.5, xy=(2.0, 0.0)).save(tmp_path / "walk" / "c.npz")
    lib = MotionLibrary.from_paths([str(tmp_path / "video"), str(tmp_path / "walk")], path_weights=[0.9, 0.1])
    assert lib.weights().tolist() == pytest.approx([0.45, 0.45, 0.1])
    gen = torch.Generator().manual_seed(0)
    ids, _ = lib.sample(20000, generator=gen)
    share = torch.bincount(ids, minlength=3).float() / 20000
    assert share.tolist() == pytest.approx([0.45, 0.45, 0.1], abs=0.015)
    # a clip that always fails gets up to 3x its share, one that never fails down to 1/3
    lib.record(torch.tensor([0, 1, 2] * 10), torch.tensor([True, False, True] * 10))
    w = lib.weights() / lib.base_weights
    assert w[0] > 1 and w[1] == pytest.approx(1 / 3) and w[0] <= 3
    with pytest.raises(ValueError, match="one positive weight per clips entry"):
        MotionLibrary.from_paths([str(a)], path_weights=[0.5, 0.5])


# -- a recorded trajectory: what the environment computes must not change when its code is made faster -----
TRAJECTORY = Path(__file__).resolve().parent / "data" / "training_env_trajectory.npz"
"""Recorded by ``python tests/test_training_env.py --write-trajectory``; rewrite it only when what the
environment computes changes on purpose (and say so in the commit)."""


def _run_trajectory(steps: int = 60, n: int = 13) -> dict[str, np.ndarray]:
    """A fixed-seed run on two terrains (flat, rough) with randomisation on and random actions, so pushes,
    terminations, time-outs and resets all happen: rewards, dones, time-outs, a projection of every
    observation group at every step (one number per environment) and the last critic observation."""
    torch.set_num_threads(1)
    rough = make_scene_terrain("rough")
    lib = MotionLibrary(
        [sway_clip(seconds=2.0), standing_clip(seconds=1.5), sway_clip(seconds=3.0)],
        terrains=[None, rough, rough],
    )
    env = TrackingEnv(EnvConfig(num_envs=n, threads=1, seed=5), lib)
    gen = torch.Generator().manual_seed(3)
    groups = ("policy", "teacher", "student", "critic")
    w = {
        g: np.random.default_rng(k).standard_normal(env.get_observations()[g].shape[1])
        for k, g in enumerate(groups)
    }
    rec: dict[str, list[np.ndarray]] = {k: [] for k in ("reward", "done", "time_out") + groups}
    with torch.inference_mode():
        for _ in range(steps):
            obs, rew, done, extras = env.step(torch.randn(n, 23, generator=gen) * 0.6)
            rec["reward"].append(rew.numpy().copy())
            rec["done"].append(done.numpy().copy())
            rec["time_out"].append(extras["time_outs"].numpy().copy())
            for g in groups:
                rec[g].append(obs[g].numpy().astype(np.float64) @ w[g])
    out = {k: np.stack(v) for k, v in rec.items()}
    out["last_critic"] = obs["critic"].numpy().copy()
    env.close()
    return out


def test_environment_reproduces_the_recorded_trajectory():
    import mujoco

    want = np.load(TRAJECTORY)
    versions = (mujoco.__version__, torch.__version__.split("+")[0])
    # the pins changed: check the new versions' trajectory by other means, then re-record it (see __main__)
    assert tuple(str(v) for v in want["versions"]) == versions, (
        f"trajectory recorded with mujoco/torch {tuple(want['versions'])}, running {versions}: "
        "re-record with `python tests/test_training_env.py --write-trajectory` after checking the change"
    )
    got = _run_trajectory()
    assert want["done"].sum() >= 10 and want["time_out"].any()  # resets of both kinds are exercised
    for k in ("done", "time_out"):
        assert np.array_equal(got[k], want[k]), k
    for k in ("reward", "policy", "teacher", "student", "critic", "last_critic"):
        # recorded bit for bit; a tolerance only for other CPUs' vectorised math
        np.testing.assert_allclose(got[k], want[k], rtol=1e-6, atol=1e-6, err_msg=k)


if __name__ == "__main__":
    import sys

    if sys.argv[1:] != ["--write-trajectory"]:
        raise SystemExit("usage: python tests/test_training_env.py --write-trajectory")
    import mujoco

    TRAJECTORY.parent.mkdir(exist_ok=True)
    np.savez_compressed(
        TRAJECTORY,
        versions=np.array([mujoco.__version__, torch.__version__.split("+")[0]]),
        **_run_trajectory(),
    )
    print(f"wrote {TRAJECTORY}")
