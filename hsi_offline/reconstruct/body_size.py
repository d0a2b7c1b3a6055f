"""One body size for the whole clip: the lifted skeleton rescaled frame by frame to its clip median size.

A single-frame lifter (BlazePose's world landmarks) guesses the metric size of the body anew in every frame,
and the guess drifts with pose by several per cent. With a camera that sees the person from afar, that size
is what fixes the person's distance: the fit places a body that is 3 % too small 3 % too near, along the
rays of its keypoints, and a foot seen 1.5 m below the camera at 9 m then rises or sinks by 3 % x 1.5 m =
4.5 cm. Over a walk the drift made planted feet on flat ground rise and fall by 26 cm (benchmark,
static camera, BlazePose-like errors), which no ground rule can tell from stairs. A person's limbs do not
change length, so the per-frame size is replaced by the clip's median: each frame's lifted joints are
scaled by median size / smoothed size of that frame. The clip's overall size (and so its overall scale) is
left to the lifter, as before.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from scipy.ndimage import gaussian_filter1d

from hsi_offline.reconstruct.body_skeleton import Skeleton
from hsi_offline.reconstruct.observations import Observations

# Limb segments present in every skeleton the pipeline reads (BlazePose-33 and SMPL-24); their summed length
# is the body's size. Bones, not the body's extent, so that sitting or bending does not change the size.
LIMBS = (("hip", "knee"), ("knee", "ankle"), ("shoulder", "elbow"), ("elbow", "wrist"), ("hip", "shoulder"))
# Smoothing of the per-frame size (seconds, Gaussian sigma): the per-frame limb lengths carry the lifter's
# joint noise (a few cm per joint), the size drift is slower.
SIZE_SMOOTH_S = 0.5


def limb_size(joints: np.ndarray, sk: Skeleton) -> np.ndarray:
    """(T,) summed length of both sides' thigh, shank, upper arm, forearm and hip-to-shoulder segments."""
    total = np.zeros(joints.shape[0])
    for side in ("left", "right"):
        for a, b in LIMBS:
            d = joints[:, sk.index(f"{side}_{a}")] - joints[:, sk.index(f"{side}_{b}")]
            total += np.linalg.norm(d, axis=1)
    return total


def size_factors(obs: Observations, smooth_s: float = SIZE_SMOOTH_S) -> np.ndarray:
    """(T,) factor per frame that brings the lifted skeleton to the clip's median limb size (1 where unknown).

    Only tracked frames whose limb joints are mostly confident measure the size; others are interpolated."""
    sk = obs.skeleton
    T = obs.num_frames
    names = {f"{s}_{n}" for s in ("left", "right") for pair in LIMBS for n in pair}
    idx = [sk.index(n) for n in names]
    ok = obs.valid & (np.median(obs.conf3d[:, idx], axis=1) > 0.5)
    if ok.sum() < 2:
        return np.ones(T)
    size = limb_size(obs.lifted, sk)
    t = np.arange(T)
    s = np.interp(t, t[ok], size[ok])
    s = gaussian_filter1d(s, max(1.0, smooth_s * obs.fps), mode="nearest")
    return float(np.median(size[ok])) / np.maximum(s, 1e-6)


def constant_body_size(obs: Observations, smooth_s: float = SIZE_SMOOTH_S) -> Observations:
    """The observations with each frame's lifted joints scaled to the clip's median limb size."""
    k = size_factors(obs, smooth_s)
    return dataclasses.replace(obs, lifted=obs.lifted * k[:, None, None])
