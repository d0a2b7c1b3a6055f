"""The flat-ground prior (a new support level needs 2 footprints with agreeing body-frame steps) and the
world trajectory from body odometry when the camera path is not metric."""

from __future__ import annotations

import numpy as np

from hsi_kernel.terrain import make_scene_terrain
from hsi_offline.reconstruct.body_skeleton import SMPL
from hsi_offline.reconstruct.gait import walk
from hsi_offline.reconstruct.scene import Footprint, flat_ground_prior
from hsi_offline.reconstruct.solve import reconstruct
from hsi_offline.reconstruct.synthetic_scenes import NoiseConfig, make_clip, place_on_terrain, resample
from hsi_offline.reconstruct.trajectory import path_length


def _walk_on(heights: list[float]) -> tuple[list[Footprint], np.ndarray]:
    """Alternating footprints, 10 frames apart with 3 frames of double support, at the given sole heights;
    (T, 24, 3) SMPL joints with the planted foot's ankle/ball at those heights (plus the sole offsets)."""
    fps_, T = [], 10 * len(heights) + 3
    X = np.zeros((T, 24, 3))
    sole = SMPL.sole_offsets()
    for k, h in enumerate(heights):
        side, s, t = k % 2, 10 * k, 10 * k + 13
        feet = list((SMPL.left_foot, SMPL.right_foot)[side])
        X[s:t, feet, 2] = sole[feet] + h
        X[s:t, feet, 0] = 0.35 * k
        fps_.append(Footprint(side, s, t, np.full((2, 2), 0.35 * k), h))
    return fps_, X


def test_one_footprint_does_not_make_a_level() -> None:
    """A single footprint 12 cm up (+0.12 in, -0.12 out: one bad measurement) stays ground, with a warning."""
    fps_, X = _walk_on([0.0, 0.0, 0.0, 0.12, 0.0, 0.0, 0.0])
    prior = flat_ground_prior(fps_, X, SMPL)
    assert np.allclose(prior.heights, 0.0)
    assert [lv.status for lv in prior.levels] == ["ground"]
    (warning,) = prior.warnings
    assert "frames 30-42" in warning and "not confirmed" in warning


def test_a_kerb_two_footprints_keep_is_a_level() -> None:
    """Stepping up 15 cm and staying there: both feet confirm the new level (control for the test above)."""
    fps_, X = _walk_on([0.0, 0.0, 0.0, 0.15, 0.15, 0.15])
    prior = flat_ground_prior(fps_, X, SMPL)
    assert np.allclose(prior.heights, [0, 0, 0, 0.15, 0.15, 0.15], atol=1e-6)
    assert sorted((round(lv.height, 2), lv.status) for lv in prior.levels) == [
        (0.0, "ground"),
        (0.15, "confirmed"),
    ]
    kerb = next(lv for lv in prior.levels if lv.status == "confirmed")
    assert (
        kerb.footprints == [3, 4, 5] and kerb.body_frame_steps[0] == np.float64(0.15) and not prior.warnings
    )


def test_stairs_each_tread_one_footprint_are_found() -> None:
    """Step-over-step stairs put one footprint on each tread: consecutive equal steps confirm each other."""
    rise = [0.0, 0.0, 0.15, 0.30, 0.45, 0.60, 0.60]
    fps_, X = _walk_on(rise)
    prior = flat_ground_prior(fps_, X, SMPL)
    assert np.allclose(prior.heights, rise, atol=1e-6) and not prior.warnings


def test_slow_drift_is_not_a_step() -> None:
    """Heights creeping up 3 cm per footprint (a drifting world, no step): one flat level."""
    fps_, X = _walk_on([0.03 * k for k in range(8)])
    prior = flat_ground_prior(fps_, X, SMPL, drift_free=False)
    assert np.ptp(prior.heights) == 0.0 and len(prior.levels) == 1


def _casual(camera: str, seed: int = 0):  # noqa: ANN202
    fps = 30.0
    J, fps = resample(walk(8.0, fps, speed=0.75, turn_deg_per_s=8.0), fps, 240)
    ter = make_scene_terrain("flat", 0.02)
    gt, contacts = place_on_terrain(J, fps, ter)
    noise = NoiseConfig.blazepose()
    noise.sfm_pair_scale = 0.7 if camera == "following" else 0.0
    clip = make_clip(gt, fps, ter, contacts, camera, noise=noise, seed=seed)
    return gt, fps, reconstruct(clip.obs, clip.cams)


def test_following_camera_path_comes_from_the_body() -> None:
    """A camera following the walker, SfM translation scale drifting per keyframe pair: the camera-derived
    world slips under the planted feet, so the body odometry gives the path - within 20 % of the truth -
    and the flat road stays flat."""
    gt, fps, rec = _casual("following")
    true = path_length(0.5 * (gt[:, SMPL.left_hip] + gt[:, SMPL.right_hip]), fps)
    assert rec.stats["trajectory"]["source"] == "body odometry + camera rotation"
    assert rec.stats["trajectory"]["camera_kind"] == "following"
    assert abs(rec.stats["path_length_m"] / true - 1.0) < 0.2
    assert np.ptp([f.height for f in rec.supports.footprints]) < 0.03


def test_static_camera_keeps_the_camera_world() -> None:
    gt, fps, rec = _casual("static")
    true = path_length(0.5 * (gt[:, SMPL.left_hip] + gt[:, SMPL.right_hip]), fps)
    assert rec.stats["trajectory"]["source"] == "static camera"
    assert abs(rec.stats["path_length_m"] / true - 1.0) < 0.2
