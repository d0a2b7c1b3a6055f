"""Retargeting costs against independent numpy references, and a real (small) PyRoki/jaxls solve on stairs."""

from __future__ import annotations

import json

import jax.numpy as jnp
import numpy as np
import pytest

from hsi_kernel.terrain import make_scene_terrain
from hsi_offline.cli import main as cli_main
from hsi_offline.motion import load, make_clip
from hsi_offline.retarget import costs
from hsi_offline.retarget.human import HumanKeypointMotion, save_keypoints_npz
from hsi_offline.retarget.pipeline import retarget_clip
from hsi_offline.retarget.problem import PATCH, terrain_patches
from hsi_offline.retarget.quality import evaluate, soles
from hsi_offline.retarget.synthetic_human import stair_climb
from hsi_offline.retarget.windowed_solve import SolverConfig, _seam_prior, _switch_into, retarget

ITERATIONS = 20


def test_heightfield_patch_matches_terrain_surface():
    terrain = make_scene_terrain("stairs")
    rng = np.random.default_rng(1)
    centres = rng.uniform([0.5, -0.5], [2.5, 0.5], (4, 2))
    patches, origin, res = terrain_patches(terrain, centres)
    assert patches.shape == (4, PATCH, PATCH)
    for t in range(4):
        pts = centres[t] + rng.uniform(-0.7, 0.7, (200, 2))
        hf = (jnp.asarray(patches[t]), jnp.asarray(origin[t]), res)
        ours = np.asarray(costs.height_at(hf, jnp.asarray(pts)))
        np.testing.assert_allclose(ours, terrain.height_at(pts), atol=1e-5)


def test_segment_distance_matches_dense_sampling():
    rng = np.random.default_rng(2)
    a0, a1, b0, b1 = (rng.normal(size=(50, 3)) for _ in range(4))
    ours = np.asarray(costs.segment_distance(*(jnp.asarray(x) for x in (a0, a1, b0, b1))))
    s = np.linspace(0, 1, 401)
    pa = a0[:, None] + s[None, :, None] * (a1 - a0)[:, None]
    pb = b0[:, None] + s[None, :, None] * (b1 - b0)[:, None]
    brute = np.linalg.norm(pa[:, :, None] - pb[:, None, :], axis=-1).min(axis=(1, 2))
    np.testing.assert_allclose(ours, brute, atol=5e-3)
    assert np.all(ours <= brute + 1e-5)


def test_foot_and_penetration_terms():
    hf = (jnp.zeros((5, 5)), jnp.array([-1.0, -1.0]), 0.5)
    sole = jnp.array([[[x, y, 0.0] for x in (-0.1, 0.1) for y in (-0.03, 0.03)]] * 2)
    r = costs.foot_height(sole, hf, jnp.zeros(2), jnp.ones(2))
    assert float(jnp.abs(r).max()) == 0.0
    lifted = sole.at[0, :, 2].add(0.05)
    r = costs.foot_height(lifted, hf, jnp.zeros(2), jnp.array([0.0, 1.0]))
    assert float(r[8]) == pytest.approx(0.05) and float(jnp.abs(r[:8]).max()) == 0.0  # swing: clearance only
    p = costs.penetration(jnp.array([[0.0, 0.0, 0.03], [0.0, 0.0, 0.10]]), jnp.array([0.05, 0.05]), hf)
    np.testing.assert_allclose(np.asarray(p), [0.02, 0.0], atol=1e-7)
    lim = costs.joint_limits(jnp.array([0.0, 2.0, -2.0]), jnp.full(3, -1.0), jnp.full(3, 1.0))
    np.testing.assert_allclose(np.asarray(lim), [0.0, 1.0, 1.0])


@pytest.fixture(scope="module")
def stair_segment() -> HumanKeypointMotion:
    """40 frames of the procedural climb: walking onto and up the first steps."""
    h = stair_climb()
    sl = slice(45, 85)
    return HumanKeypointMotion(
        h.fps, h.keypoints[sl], h.confidence[sl], h.contacts[sl], h.terrain, "test:stairs"
    )


def test_small_stair_solve_is_physical(stair_segment):
    clip, result, report = retarget_clip(stair_segment, 23, max_iterations=ITERATIONS)
    clip.validate()
    assert result.iterations >= 1
    assert result.raw_limit_violation < 0.02  # before the final clip, the limit cost already held
    assert report.joint_limit_violations == 0
    assert report.penetration_max_cm <= 1.0
    assert report.skating_cm_per_contact_frame <= 1.0
    assert report.keypoint_error_cm < 5.0
    assert report.self_collision_frames == 0
    # feet in contact stand on the terrain (including a tread above the floor), not on a floor-level guess
    sole = soles(23, clip)  # (T,2,4,3)
    ground = stair_segment.terrain.height_at(sole[..., :2])
    gap = (sole[..., 2] - ground).min(axis=2)  # (T,2)
    contact = stair_segment.contacts
    assert np.abs(gap[contact]).max() < 0.01
    assert ground.max(axis=2)[contact].max() >= 0.15


def test_cli_retargets_a_clip_folder(tmp_path, stair_segment, capsys):
    save_keypoints_npz(stair_segment, tmp_path / "human_motion.npz")
    stair_segment.terrain.save(tmp_path / "terrain.npz")
    assert cli_main(["retarget", str(tmp_path), "--iterations", str(ITERATIONS)]) == 0
    clip = load(tmp_path / "motion.npz")
    assert clip.fps == stair_segment.fps and clip.num_frames == stair_segment.num_frames
    assert clip.load_terrain(tmp_path / "motion.npz").name == "stairs"
    quality = json.loads((tmp_path / "quality.json").read_text())
    assert quality["joint_limit_violations"] == 0 and quality["penetration_max_cm"] <= 1.0
    assert (tmp_path / "retarget.png").stat().st_size > 1000
    assert "keypoint error" in capsys.readouterr().out
    assert cli_main(["retarget", str(tmp_path / "missing")]) == 2


def test_long_clips_are_solved_in_overlapping_windows():
    h = stair_climb()
    sl = slice(45, 105)
    human = HumanKeypointMotion(
        h.fps, h.keypoints[sl], h.confidence[sl], h.contacts[sl], h.terrain, "test:windows"
    )
    cfg = SolverConfig(max_iterations=ITERATIONS, window=40, overlap=16)  # windows [0,40) and [24,60)
    result = retarget(human, cfg=cfg)
    assert result.joint_pos.shape == (60, 23)
    steps = np.abs(np.diff(result.joint_pos, axis=0)).max(axis=1)
    # no jump at the seam (frame 32): the step there is an ordinary one for this motion
    assert steps[31] < 0.35 and steps[31] <= np.delete(steps, 31).max()
    clip = make_clip(human.fps, result.root_pos, result.root_quat, result.joint_pos, 23, human.contacts)
    report = evaluate(clip, human, result.nominal_scales)
    assert report.joint_limit_violations == 0 and report.keypoint_error_cm < 5.0
    with pytest.raises(ValueError, match="overlap"):
        retarget(human, cfg=SolverConfig(window=10, overlap=10))


def test_seam_prior_and_switch():
    """A later window is held to the previous solution over the overlap (weight 1 -> 0) and the clip switches
    to it where the two agree best inside the overlap's middle half."""
    from hsi_kernel.contract import NOMINAL_ROOT_HEIGHT, get_contract

    T, o = 24, 16
    root = np.tile([0.0, 0.0, NOMINAL_ROOT_HEIGHT], (T, 1))
    quat = np.tile([1.0, 0, 0, 0], (T, 1))
    q = np.tile(get_contract(23).default_q, (T, 1))
    prior_q, pel, w = _seam_prior(root, quat, q, o, 23)
    assert w[0] > 0.99 and w[o - 1] < 0.01 and np.all(np.diff(w[:o]) < 0) and np.all(w[o:] == 0)
    np.testing.assert_allclose(prior_q, q)
    np.testing.assert_allclose(pel[:o, 2], pel[0, 2])
    np.testing.assert_allclose(pel[o:], 0)
    # the new window differs from the old one by 5 cm of root height except at local frame 9
    new_root = root + [0, 0, 0.05]
    new_root[9] = root[9]
    out_root, out_quat, out_q = root.copy(), quat.copy(), q.copy()
    k = _switch_into(out_root, out_quat, out_q, 0, o, new_root, quat, q, 23)
    assert k == 9
    np.testing.assert_allclose(out_root[:9], root[:9])
    np.testing.assert_allclose(out_root[9:], new_root[9:])
    new_root[3] = root[3]  # agreement outside the middle half [4, 12) is not taken
    new_root[9] += 0.05
    out_root = root.copy()
    assert 4 <= _switch_into(out_root, out_quat, out_q, 0, o, new_root, quat, q, 23) < 12
