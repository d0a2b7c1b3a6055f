"""Camera motion from the background (person masked out) with OpenCV structure-from-motion.

Corners are tracked with pyramidal Lucas-Kanade outside the person mask; if the background barely moves the
camera is static. Otherwise consecutive keyframes give an essential matrix (RANSAC) and a relative pose
(recoverPose); translations are chained with unit length per keyframe pair, so the trajectory is up to scale
(the fitter's alpha) and up to the per-pair scale drift of two-view SfM, which we reduce by rescaling each
pair to the triangulated depth of points shared with the previous pair.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from scipy.spatial.transform import Rotation, Slerp

from hsi_offline.reconstruct.fit import CameraPoses
from hsi_offline.reconstruct.observations import Observations
from hsi_offline.reconstruct.video import iter_frames

log = logging.getLogger(__name__)


@dataclass
class CameraMotion:
    cams: CameraPoses | None  # None: static camera
    source: str  # "static" | "sfm"
    summary: dict


def _person_mask(obs: Observations, t: int, shape: tuple[int, int]) -> np.ndarray:
    import cv2

    m = obs.masks[t] if t < len(obs.masks) and obs.masks[t] is not None else None
    if m is None or not m.any():
        return np.zeros(shape, bool)
    big = cv2.resize(m.astype(np.uint8), (shape[1], shape[0]), interpolation=cv2.INTER_NEAREST)
    return cv2.dilate(big, np.ones((15, 15), np.uint8)) > 0


def background_flow(frames: list[np.ndarray], masks: list[np.ndarray]) -> tuple[list, float]:
    """Tracks between consecutive frames outside the masks; returns the pairs and the median flow (px)."""
    import cv2

    pairs, flows = [], []
    prev = cv2.cvtColor(frames[0], cv2.COLOR_RGB2GRAY)
    for i in range(1, len(frames)):
        cur = cv2.cvtColor(frames[i], cv2.COLOR_RGB2GRAY)
        keep = (~masks[i - 1]).astype(np.uint8) * 255
        p0 = cv2.goodFeaturesToTrack(prev, 800, 0.01, 8, mask=keep)
        if p0 is None or len(p0) < 20:
            pairs.append(None)
            prev = cur
            continue
        p1, st, _ = cv2.calcOpticalFlowPyrLK(prev, cur, p0, None, winSize=(21, 21), maxLevel=3)
        ok = st.ravel() == 1
        a, b = p0.reshape(-1, 2)[ok], p1.reshape(-1, 2)[ok]
        pairs.append((a, b))
        flows.append(np.median(np.linalg.norm(b - a, axis=1)))
        prev = cur
    return pairs, float(np.median(flows)) if flows else 0.0


def drift_from_first(frames: list[np.ndarray], masks: list[np.ndarray], step: int = 10) -> float:
    """90th percentile over the clip of the median background displacement from frame 0 (pixels).

    Frame-to-frame flow of a static phone is dominated by compression noise on plain walls (~1 px); the
    displacement from the first frame separates a static camera (stays near 0) from a moving one (grows).
    Only points that track forward and back consistently count.
    """
    import cv2

    g0 = cv2.cvtColor(frames[0], cv2.COLOR_RGB2GRAY)
    p0 = cv2.goodFeaturesToTrack(g0, 600, 0.02, 10, mask=(~masks[0]).astype(np.uint8) * 255)
    if p0 is None or len(p0) < 10:
        return float("inf")
    d = []
    for t in range(step, len(frames), step):
        g = cv2.cvtColor(frames[t], cv2.COLOR_RGB2GRAY)
        p1, st, _ = cv2.calcOpticalFlowPyrLK(g0, g, p0, None, winSize=(21, 21), maxLevel=3)
        pb, st2, _ = cv2.calcOpticalFlowPyrLK(g, g0, p1, None, winSize=(21, 21), maxLevel=3)
        ok = (st.ravel() == 1) & (st2.ravel() == 1) & (np.linalg.norm((pb - p0).reshape(-1, 2), axis=1) < 1.0)
        mt = masks[t][
            np.clip(p1.reshape(-1, 2)[:, 1].astype(int), 0, g.shape[0] - 1),
            np.clip(p1.reshape(-1, 2)[:, 0].astype(int), 0, g.shape[1] - 1),
        ]
        ok &= ~mt
        if ok.sum() < 10:
            d.append(float("inf"))
            continue
        d.append(float(np.median(np.linalg.norm((p1 - p0).reshape(-1, 2)[ok], axis=1))))
    return float(np.percentile(d, 90)) if d else 0.0


def estimate_camera_motion(
    video: str, obs: Observations, force: bool = False, max_side: int = 960, static_drift_px: float = 4.0
) -> CameraMotion:
    import cv2

    frames = [img for _, img in iter_frames(video, max_side)]
    T = min(len(frames), obs.num_frames)
    frames = frames[:T]
    k = frames[0].shape[1] / obs.width
    masks = [_person_mask(obs, t, frames[t].shape[:2]) for t in range(T)]
    drift = drift_from_first(frames, masks) / k
    summary = {"background_drift_px": drift}
    if drift < static_drift_px and not force:
        log.info("camera: static (background drift from the first frame %.1f px)", drift)
        return CameraMotion(None, "static", summary)
    pairs, flow = background_flow(frames, masks)
    summary["median_background_flow_px"] = flow / k
    Kmat = obs.K.copy()
    Kmat[:2] *= k
    # keyframes: accumulate tracks until the median displacement exceeds 8 px
    R = [np.eye(3)]
    c = [np.zeros(3)]
    key_t = [0]
    acc_a, acc_b, acc_from = None, None, 0
    n_rot = 0
    for i, pr in enumerate(pairs, start=1):
        if pr is None:
            continue
        a, b = pr
        if acc_a is None or acc_from != key_t[-1]:
            acc_a, acc_b, acc_from = a, b, key_t[-1]
        else:  # chain: keep only points tracked since the keyframe (nearest-neighbour association)
            from scipy.spatial import cKDTree

            d, j = cKDTree(a).query(acc_b, k=1)
            keep = d < 1.0
            acc_a, acc_b = acc_a[keep], b[j[keep]]
        if len(acc_a) < 15:
            acc_a = None
            continue
        if np.median(np.linalg.norm(acc_b - acc_a, axis=1)) < 8.0 and i < T - 1:
            continue
        E, inl = cv2.findEssentialMat(acc_a, acc_b, Kmat, cv2.RANSAC, 0.999, 1.0)
        if E is None or E.shape != (3, 3):
            continue
        _, Rr, tr, pose_inl = cv2.recoverPose(E, acc_a, acc_b, Kmat, mask=inl.copy())
        Hm, hin = cv2.findHomography(acc_a, acc_b, cv2.RANSAC, 2.0)
        if Hm is not None and hin.sum() >= 0.85 * inl.sum():
            # a homography explains the background as well: (near) pure rotation, translation unobservable
            U, _, Vt = np.linalg.svd(np.linalg.inv(Kmat) @ Hm @ Kmat)
            Rr = U @ np.diag([1, 1, np.linalg.det(U @ Vt)]) @ Vt
            tr = np.zeros(3)
            n_rot += 1
        # x_b = Rr x_a + tr: camera b in camera a's frame: R_ab = Rr^T, centre = -Rr^T tr
        R_prev, c_prev = R[-1], c[-1]
        R.append(R_prev @ Rr.T)
        c.append(c_prev + R_prev @ (-Rr.T @ tr.ravel()))
        key_t.append(i)
        acc_a = None
    if len(key_t) < 2:
        log.info("camera: too few background tracks for SfM; treating the camera as static")
        return CameraMotion(None, "static", {**summary, "sfm": "failed"})
    idx = np.arange(T)
    rots = Rotation.from_matrix(np.array(R))
    Rt = Slerp(key_t, rots)(np.clip(idx, key_t[0], key_t[-1])).as_matrix()
    C = np.array(c)
    ct = np.stack([np.interp(idx, key_t, C[:, d]) for d in range(3)], 1)
    summary.update({"keyframes": len(key_t), "rotation_only_pairs": n_rot})
    log.info("camera: moving, %d SfM keyframes", len(key_t))
    return CameraMotion(CameraPoses(Rt, ct), "sfm", summary)
