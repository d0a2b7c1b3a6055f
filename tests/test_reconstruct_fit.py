"""The joint fit, gravity, contacts and terrain on synthetic ground truth (same code as the video path)."""

from __future__ import annotations

import numpy as np
import pytest

from hsi_kernel.terrain import make_scene_terrain
from hsi_offline.reconstruct.body_skeleton import SMPL
from hsi_offline.reconstruct.fit import _BlockTridiagonal, fit_motion
from hsi_offline.reconstruct.gait import walk
from hsi_offline.reconstruct.recon_metrics import segment_mpjpe, terrain_errors, umeyama
from hsi_offline.reconstruct.scene import rotation_to_z
from hsi_offline.reconstruct.solve import reconstruct
from hsi_offline.reconstruct.synthetic_scenes import make_clip, place_on_terrain


@pytest.fixture(scope="module")
def motion() -> np.ndarray:
    return walk(5.0, 30.0, speed=0.8, turn_deg_per_s=6.0)


@pytest.mark.parametrize(("scene", "moving"), [("flat", False), ("stairs", False), ("kerb", True)])
def test_reconstruct_recovers_motion_and_support_heights(
    motion: np.ndarray, scene: str, moving: bool
) -> None:
    ter = make_scene_terrain(scene, 0.02)
    gt, contacts = place_on_terrain(motion, 30.0, ter)
    clip = make_clip(gt, 30.0, ter, contacts, moving, seed=3)
    rec = reconstruct(clip.obs, clip.cams)
    m = segment_mpjpe(rec.motion.joints, gt)
    assert m["wa_mpjpe_mm"] < 60 and m["w_mpjpe_mm"] < 200, m
    te = terrain_errors(rec.terrain, ter, rec.motion.joints, gt, contacts, (SMPL.left_foot, SMPL.right_foot))
    assert te["support_height_err_cm"] < 3.0, te
    if moving:
        assert abs(rec.alpha / clip.true_alpha - 1) < 0.15
    # gravity: the fitted world's up agrees with the truth (the similarity alignment's rotation is small)
    _, R, _ = umeyama(rec.motion.joints.reshape(-1, 3), gt.reshape(-1, 3))
    assert np.degrees(np.arccos(np.clip(R[2, 2], -1, 1))) < 3.0
    # contacts: the recovered contact flags agree with the ground truth most of the time
    assert (rec.motion.contacts == contacts).mean() > 0.8
    assert rec.motion.valid.sum() < len(gt)  # the lost stretch is reported, not hidden


def test_stairs_terrain_has_the_steps(motion: np.ndarray) -> None:
    ter = make_scene_terrain("stairs", 0.02)
    gt, contacts = place_on_terrain(motion, 30.0, ter)
    rec = reconstruct(make_clip(gt, 30.0, ter, contacts, False, seed=1).obs)
    levels = np.array(sorted({round(f.height, 2) for f in rec.supports.footprints}))
    assert levels.max() - levels.min() > 0.4  # the walk reaches the 0.6 m landing
    assert rec.terrain.resolution == pytest.approx(0.04)


def test_fit_is_exact_without_noise(motion: np.ndarray) -> None:
    from hsi_offline.reconstruct.synthetic_scenes import NoiseConfig

    ter = make_scene_terrain("flat", 0.02)
    gt, c = place_on_terrain(motion[:60], 30.0, ter)
    quiet = NoiseConfig(px=0, lifted_m=0, lifted_scale=1, dropout=0, occlusion_frames=0, lost_frames=0)
    clip = make_clip(gt, 30.0, ter, c, False, noise=quiet)
    res = fit_motion(clip.obs)
    assert segment_mpjpe(res.joints, gt)["wa_mpjpe_mm"] < 25
    assert res.reproj_px < 3.0


def test_block_tridiagonal_solver_matches_dense() -> None:
    import scipy.sparse as sp

    rng = np.random.default_rng(0)
    T, J = 7, 2
    n = T * J * 3
    A = sp.random(60, n, density=0.0, random_state=0).tolil()
    for r in range(60):  # rows that couple frames at most 2 apart
        t = rng.integers(0, T - 2)
        for tt in (t, t + 1, t + 2):
            A[r, tt * J * 3 + rng.integers(0, J * 3)] = rng.standard_normal()
    M = (A.T @ A).tocoo()
    blocks = np.stack([np.eye(J * 3) * (1 + rng.random()) for _ in range(T)])
    rhs = rng.standard_normal((n, 2))
    x = _BlockTridiagonal(M, T, J).solve(blocks, rhs)
    dense = M.toarray() + sp.block_diag(list(blocks)).toarray()
    np.testing.assert_allclose(x, np.linalg.solve(dense, rhs), atol=1e-8)


def test_rotation_to_z() -> None:
    for up in ([0, -1, 0], [0.1, -0.9, -0.3], [0, 0, -1.0]):
        R = rotation_to_z(np.array(up))
        np.testing.assert_allclose(R @ (np.array(up) / np.linalg.norm(up)), [0, 0, 1], atol=1e-9)
        np.testing.assert_allclose(R @ R.T, np.eye(3), atol=1e-9)


def test_seated_pelvis_makes_a_seat() -> None:
    """Stand 1 s, sit 2 s on a 0.45 m seat (hips 0.12 m above it, thighs level), stand 1 s."""
    from hsi_offline.reconstruct.scene import Supports, detect_seats
    from hsi_offline.reconstruct.terrain_build import terrain_from_supports

    stand = walk(0.1, 30.0)[0]
    stand = stand - [stand[0, 0], stand[0, 1], 0]
    seated = stand.copy()
    hip_z = 0.5 * (stand[SMPL.left_hip, 2] + stand[SMPL.right_hip, 2])
    drop = hip_z - (0.45 + SMPL.seat_offset)
    legs = ("knee", "ankle", "foot")
    upper = [SMPL.index(n) for n in SMPL.joint_names if not any(w in n for w in legs)]
    seated[upper, 2] -= drop
    seated[upper, 0] -= 0.35  # hips move back over the seat
    for side in ("left", "right"):
        k = SMPL.index(f"{side}_knee")
        seated[k] = seated[SMPL.index(f"{side}_hip")] + [0.42, 0, 0]  # thigh level
    frames = [stand] * 30 + [seated] * 60 + [stand] * 30
    X = np.array(frames)
    seats = detect_seats(X, SMPL, 0.0, 30.0, np.ones(len(X), bool))
    assert len(seats) == 1
    s = seats[0]
    assert s.height == pytest.approx(0.45, abs=0.01)
    assert s.frames[1] - s.frames[0] >= 50
    ter = terrain_from_supports(Supports(0.0, [], seats), X[..., :2].reshape(-1, 2))
    assert ter.height_at(np.array([s.centre]))[0] == pytest.approx(0.45, abs=0.01)
    assert ter.height_at(np.array([[1.0, 0.0]]))[0] == pytest.approx(0.0)
