"""Contact detection and support inference from the body (static-camera scene)."""

from __future__ import annotations

import numpy as np

from hsi_offline.reconstruct.body_skeleton import SMPL
from hsi_offline.reconstruct.scene import detect_contacts, footprints, ground_level


def _two_feet(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """(T, 24, 3) SMPL joints with only the ankle/foot joints placed: (T, 3) sole-level points per foot,
    the ankle 7 cm and the ball of the foot 3 cm above (the skeleton's sole offsets)."""
    X = np.zeros((len(left), 24, 3))
    for pos, (ankle, ball) in ((left, SMPL.left_foot), (right, SMPL.right_foot)):
        X[:, ankle] = pos + [0.0, 0.0, 0.07]
        X[:, ball] = pos + [0.12, 0.0, 0.03]
    return X


def test_stepping_down_plants_the_slower_foot_not_the_lower_one() -> None:
    """Stepping down: the stance foot on the upper tread rolls onto its toes (0.4 m/s, above the planted
    threshold) while the swing foot drops past it towards the lower tread (1.5 m/s). When neither is still,
    the slower foot is the support; the lower (swing) foot is in the air."""
    fps, T = 30.0, 20
    t = np.arange(T) / fps
    stance = np.stack([0.4 * t, 0.0 * t, 0.30 + 0.0 * t], 1)
    swing = np.stack([-0.2 + 1.2 * t, 0.2 + 0 * t, 0.25 - 0.9 * t], 1)  # below the stance foot throughout
    c = detect_contacts(_two_feet(stance, swing), SMPL, fps)
    assert c[:, 0].all() and not c[:, 1].any()


def test_planted_feet_fix_step_heights_and_ground() -> None:
    """Feet standing still on two levels: each contact run becomes a footprint at its sole height and the
    ground is the lower level that two footprints agree on."""
    fps = 30.0
    runs = [(0.0, 0.0), (0.6, 0.15), (1.2, 0.0), (1.8, 0.15)]  # (x, sole height) per planted step
    left, right = [], []
    for k, (x, z) in enumerate(runs):
        still = np.tile([x, 0.1 if k % 2 == 0 else -0.1, z], (15, 1))
        (left if k % 2 == 0 else right).append(still)
        (right if k % 2 == 0 else left).append(np.linspace([x - 0.6, 0, z + 0.1], [x + 0.6, 0, z + 0.1], 15))
    X = _two_feet(np.concatenate(left), np.concatenate(right))
    c = detect_contacts(X, SMPL, fps)
    fp = footprints(X, c, SMPL)
    heights = sorted(round(f.height, 3) for f in fp if f.stop - f.start >= 10)
    assert heights == [0.0, 0.0, 0.15, 0.15]
    assert abs(ground_level(fp)) < 0.01


def test_a_tread_continues_sideways_within_the_policy_view() -> None:
    """Footprints on a 0.3 m tread along a path: the tread continues sideways as far as the policy's
    heightmap looks (0.5 m beside the torso + the foot's offset), beyond that the ground level is assumed."""
    from hsi_offline.reconstruct.scene import Footprint, Supports
    from hsi_offline.reconstruct.terrain_build import policy_view_reach, terrain_from_supports

    assert policy_view_reach() == 0.6
    fp = [
        Footprint(k % 2, 10 * k, 10 * k + 10, np.array([[x, 0.1 if k % 2 == 0 else -0.1]]), 0.3)
        for k, x in enumerate(np.arange(0.0, 2.01, 0.3))
    ]
    body_xy = np.array([[0.0, 0.0], [2.0, 0.0]])
    ter = terrain_from_supports(Supports(0.0, fp), body_xy)
    beside = np.array([[1.0, 0.55], [1.0, -0.55], [0.5, 0.6], [1.5, -0.6]])
    far = np.array([[1.0, 0.85], [1.0, -0.85]])
    assert np.allclose(ter.height_at(beside), 0.3)
    assert np.allclose(ter.height_at(far), 0.0)
