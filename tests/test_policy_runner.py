"""The policy runner: same actions as torch, action semantics, staleness, fallback and safe switching."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hsi_kernel.contract import get_contract, stand_gains
from hsi_kernel.heightmap.sampler import HeightmapSpec
from hsi_kernel.observation import make_layout, projected_gravity
from hsi_kernel.policy_file import PolicyMetadata
from hsi_offline.export import export_policy
from hsi_robot_nodes.policy.runner import HOLD, PolicyRunner, RunnerConfig
from tests.conftest import write_broken_policy

C = get_contract(23)
MS = 1_000_000
BLIND, TERRAIN = make_layout(23, "student", heightmap=False), make_layout(23, "student", heightmap=True)


def _actor(dim, seed, gain=1.0):
    torch.manual_seed(seed)
    net = torch.nn.Sequential(torch.nn.Linear(dim, 32), torch.nn.ELU(), torch.nn.Linear(32, 23))
    with torch.no_grad():
        net[2].weight.mul_(gain)
    return net


@pytest.fixture(scope="module")
def policies(tmp_path_factory):
    d = tmp_path_factory.mktemp("pol")
    blind_actor, terrain_actor = _actor(BLIND.dim, 1, gain=40.0), _actor(TERRAIN.dim, 2)
    blind_md = PolicyMetadata.for_contract(23, BLIND, 0.25, 8.0, C.kp, C.kd)
    blind = export_policy(blind_actor, None, blind_md, d / "blind.onnx").path
    kp_t = C.kp * 1.1  # different gains, to see which policy produced the targets
    terrain_md = PolicyMetadata.for_contract(
        23, TERRAIN, 0.5, 4.0, kp_t, C.kd, heightmap_spec=HeightmapSpec()
    )
    terrain = export_policy(terrain_actor, None, terrain_md, d / "terrain.onnx").path
    return {"blind": blind, "terrain": terrain, "blind_actor": blind_actor, "terrain_actor": terrain_actor}


def _state(rng):
    axis = rng.normal(size=3)
    angle = rng.uniform(0, 0.3)
    quat = np.concatenate([[np.cos(angle / 2)], np.sin(angle / 2) * axis / np.linalg.norm(axis)])
    return (C.default_q + rng.normal(0, 0.1, 23), rng.normal(0, 1, 23), quat, rng.normal(0, 0.5, 3))


def _feed(r, state, t_ns, stamp=None):
    q, dq, quat, gyro = state
    r.update_joint_state(q, dq, stamp if stamp is not None else t_ns, t_ns)
    r.update_imu(quat, gyro, t_ns)


def test_runner_matches_torch_and_action_semantics(policies):
    """Observation written out by hand (newest first), torch actor, q = default + 0.25 * clip(a, -8, 8)."""
    r = PolicyRunner({"blind": policies["blind"]})
    actor, rng = policies["blind_actor"], np.random.default_rng(5)
    frames, last_action, clipped_any = [], np.zeros(23), False
    r.update_root_target(0.3, -0.1, 0.2)
    for k in range(8):
        t = (k + 1) * 20 * MS
        st = _state(rng)
        _feed(r, st, t, stamp=12345 + k)
        res = r.step(t + 2 * MS)
        q, dq, quat, gyro = st
        frames.append(
            np.concatenate([0.25 * gyro, projected_gravity(quat), q - C.default_q, 0.05 * dq, last_action])
        )
        hist = [frames[max(k - i, 0)] for i in range(5)]  # newest first; the first frame fills the rest
        obs = np.concatenate(hist + [[0.3, -0.1, 0.2]]).astype(np.float32)
        with torch.no_grad():
            a = actor(torch.from_numpy(obs[None])).numpy()[0].astype(np.float64)
        clipped = np.clip(a, -8, 8)
        clipped_any |= bool(np.any(np.abs(a) > 8))
        np.testing.assert_allclose(res.targets.q, C.default_q + 0.25 * clipped, atol=1e-4)
        last_action = clipped
        assert res.active == "blind" and res.targets.policy == "blind" and res.targets.seq == k + 1
        assert res.targets.stamp_ns == 12345 + k  # answers this joint state
        assert res.targets.joint_names == C.joint_names
        np.testing.assert_allclose(res.targets.kp, C.kp)
        np.testing.assert_allclose(res.targets.kd, C.kd)
        assert res.timing.compute_ms >= res.timing.infer_ms > 0
    assert clipped_any  # the clip was exercised


def test_no_targets_without_fresh_state_or_with_nan(policies):
    r = PolicyRunner({"blind": policies["blind"]}, config=RunnerConfig(max_state_age_s=0.1))
    assert r.step(0).targets is None and "waiting" in r.step(0).reason
    st = _state(np.random.default_rng(0))
    _feed(r, st, 1000 * MS)
    assert r.step(1050 * MS).targets is not None
    res = r.step(1101 * MS)  # 101 ms old
    assert res.targets is None and "older than 100 ms" in res.reason
    q, dq, quat, gyro = st
    r.update_joint_state(q, dq, 2000 * MS)
    r.update_imu(quat, gyro * np.nan, 2000 * MS)
    res = r.step(2001 * MS)
    assert res.targets is None and "not finite" in res.reason
    with pytest.raises(ValueError, match="23 positions"):
        r.update_joint_state(q[:20], dq, 0)


def test_heightmap_fallback_hysteresis_and_switch_rule(policies):
    cfg = RunnerConfig(max_heightmap_age_s=0.5, resume_cycles=3)
    r = PolicyRunner({"blind": policies["blind"], "terrain": policies["terrain"]}, config=cfg)
    assert r.selected == "terrain"  # the heightmap policy is the main one
    rng = np.random.default_rng(2)
    t = 0
    hm = np.full(121, 0.78)

    def cycle(heightmap=True, stale=False):
        nonlocal t
        t += 20 * MS
        _feed(r, _state(rng), t)
        if heightmap:
            r.update_heightmap(hm, t, stale=stale)
        return r.step(t + MS)

    res = cycle(heightmap=False)
    assert res.active == "blind" and "waits for a fresh heightmap" in res.reason
    assert [cycle().active for _ in range(4)] == ["blind", "blind", "terrain", "terrain"]  # needs 3 fresh
    res = cycle()
    np.testing.assert_allclose(res.targets.kp, C.kp * 1.1)
    # switch rule: the incoming policy's history is reset and its last action reproduces the last target
    prev_q = res.targets.q
    res = cycle(stale=True)  # map flagged stale -> blind, from this cycle on
    assert res.active == "blind"
    blind = r.policies["blind"]
    hist = blind.builder.history
    assert np.allclose(hist, hist[0])  # all five history frames are the same (reset)
    carried = np.clip((prev_q - C.default_q) / 0.25, -8, 8)
    np.testing.assert_allclose(hist[0][-23:], carried)  # last_action term of the frame = carried action
    # old map (older than 0.5 s) is stale as well
    t_old = t
    r.update_heightmap(hm, t_old)
    for _ in range(30):
        t += 20 * MS
        _feed(r, _state(rng), t)
        res = r.step(t)
    assert res.active == "blind"
    with pytest.raises(ValueError, match="121"):
        r.update_heightmap(np.zeros(50), t)


def test_operator_selection_applies_at_next_cycle_only(policies):
    r = PolicyRunner(
        {"blind": policies["blind"], "terrain": policies["terrain"]}, config=RunnerConfig(resume_cycles=1)
    )
    rng, t = np.random.default_rng(3), 0
    for _ in range(3):
        t += 20 * MS
        _feed(r, _state(rng), t)
        r.update_heightmap(np.full(121, 0.8), t)
        assert r.step(t).active == "terrain"
    r.select("blind")
    assert r.active == "terrain"  # nothing changes inside a cycle
    t += 20 * MS
    _feed(r, _state(rng), t)
    r.update_heightmap(np.full(121, 0.8), t)
    assert r.step(t).active == "blind"
    with pytest.raises(ValueError, match="not loaded"):
        r.select("stairs")


def test_hold_when_no_usable_policy(policies):
    r = PolicyRunner({"terrain": policies["terrain"]})
    _feed(r, _state(np.random.default_rng(4)), 0)
    res = r.step(MS)
    assert res.active == HOLD and res.targets.policy == HOLD
    np.testing.assert_allclose(res.targets.q, C.default_q)
    kp, kd = stand_gains(C)  # stiff, like the bridge's own hold: the policy's soft gains cannot hold a pose
    np.testing.assert_allclose(res.targets.kp, kp)
    np.testing.assert_allclose(res.targets.kd, kd)
    assert kp.max() > 2 * C.kp.max()


def test_reset_restarts_history_with_zero_last_action(policies):
    r = PolicyRunner({"blind": policies["blind"]})
    rng, t = np.random.default_rng(6), 0
    for _ in range(4):
        t += 20 * MS
        _feed(r, _state(rng), t)
        r.step(t)
    assert np.any(r.policies["blind"].last_action != 0)
    r.reset()  # the bridge entered 'run'
    t += 20 * MS
    _feed(r, _state(rng), t)
    res = r.step(t)
    hist = r.policies["blind"].builder.history
    assert np.allclose(hist, hist[0]) and np.all(hist[0][-23:] == 0.0)  # fresh history, last action 0
    np.testing.assert_allclose(res.obs[:75], hist[0])


@pytest.mark.parametrize(
    "kind, message",
    [
        ("nan", "trial inference gave non-finite actions (every joint)"),
        ("saturating", "trial inference standing still gave action 100 on joint 0, beyond the metadata's"),
        ("wrong_input", "trial inference on a 378-value observation failed"),
    ],
)
def test_loading_refuses_a_policy_whose_trial_inference_fails(tmp_path, kind, message):
    path = write_broken_policy(kind, tmp_path / f"{kind}.onnx")
    with pytest.raises(ValueError) as e:
        PolicyRunner({"blind": path})
    text = str(e.value)
    assert message in text and f"{kind}.onnx" in text and "\n" not in text
