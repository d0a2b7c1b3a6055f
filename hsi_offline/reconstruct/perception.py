"""Per-frame human perception backends -> `Observations`.

Built-in CPU default: MediaPipe BlazePose (mediapipe 0.10.14, model_complexity=1, the model inside the wheel):
2D keypoints + visibility, metric hip-centred 3D landmarks (camera-aligned axes, so they are the "lifted"
joints directly) and the person mask. Input checks live here because only perception knows whether a person
was seen: no person, a person lost for long stretches, several people, too few frames.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np

from hsi_offline.reconstruct.body_skeleton import BLAZEPOSE
from hsi_offline.reconstruct.observations import Observations
from hsi_offline.reconstruct.video import fps_from_times, iter_frames, probe

log = logging.getLogger(__name__)


@dataclass
class PerceptionConfig:
    max_side: int = 960  # frames are downscaled to this longer side for BlazePose (keypoints are rescaled)
    focal_mm_35: float = 26.0  # 35 mm-equivalent focal length (a phone's main camera) when none is given
    focal_px: float | None = None  # overrides focal_mm_35
    min_frames: int = 15
    min_tracked_fraction: float = 0.3
    max_gap_seconds: float = 2.0  # a longer untracked stretch between tracked ones is an error
    min_visibility: float = 0.5  # frames whose mean hip/shoulder visibility is lower are "not tracked"
    allow_multiple: bool = False  # True: keep the most prominent person BlazePose tracks instead of refusing
    multi_person_fraction: float = (
        0.2  # refuse when a second person is seen in more than this share of checks
    )
    check_every: int = 10  # frames between several-people checks


def intrinsics(width: int, height: int, cfg: PerceptionConfig) -> np.ndarray:
    f = cfg.focal_px if cfg.focal_px else cfg.focal_mm_35 / 36.0 * max(width, height)
    return np.array([[f, 0, width / 2.0], [0, f, height / 2.0], [0, 0, 1.0]])


def check_tracking(valid: np.ndarray, fps: float, cfg: PerceptionConfig, what: str) -> None:
    """Raise ValueError (one line) for no person / too little tracking / a long gap."""
    T = len(valid)
    if cfg.min_frames > T:
        raise ValueError(f"{what}: only {T} frames; need at least {cfg.min_frames} (about half a second)")
    n = int(valid.sum())
    if n == 0:
        raise ValueError(f"{what}: no person detected in any of {T} frames (the whole body must be visible)")
    if n < cfg.min_tracked_fraction * T:
        raise ValueError(
            f"{what}: the person was tracked in only {n} of {T} frames "
            f"({100 * n / T:.0f}% < {100 * cfg.min_tracked_fraction:.0f}%); trim the video"
        )
    idx = np.flatnonzero(valid)
    gaps = np.diff(idx) - 1
    if gaps.size and gaps.max() > cfg.max_gap_seconds * fps:
        k = int(np.argmax(gaps))
        raise ValueError(
            f"{what}: the person is lost for {gaps[k] / fps:.1f} s (frames {idx[k] + 1}-{idx[k + 1] - 1}); "
            f"trim the video there or raise --max-gap above {cfg.max_gap_seconds} s"
        )


def count_other_people(person_mask: np.ndarray, people_mask: np.ndarray, min_area_ratio: float = 0.3) -> int:
    """People in `people_mask` (all-person segmentation) that are not the tracked person (`person_mask`).

    A connected blob counts as another person when it barely overlaps the tracked person and its area is at
    least `min_area_ratio` of the tracked person's area.
    """
    from scipy.ndimage import label

    lab, n = label(people_mask)
    area_p = max(int(person_mask.sum()), 1)
    others = 0
    for k in range(1, n + 1):
        blob = lab == k
        a = int(blob.sum())
        if a >= min_area_ratio * area_p and (blob & person_mask).sum() < 0.2 * a:
            others += 1
    return others


def check_single_person(other_counts: list[int], cfg: PerceptionConfig, what: str) -> None:
    """The documented rule: refuse when another person is visible in more than `multi_person_fraction` of the
    checked frames, unless allow_multiple (then BlazePose's most prominent person is kept)."""
    if not other_counts or cfg.allow_multiple:
        return
    share = float(np.mean(np.asarray(other_counts) > 0))
    if share > cfg.multi_person_fraction:
        raise ValueError(
            f"{what}: several people are visible ({100 * share:.0f}% of checked frames); crop the "
            f"video to one person or pass --allow-multiple to keep the most prominent one"
        )


def check_upright(
    uv: np.ndarray, valid: np.ndarray, rotation: int, what: str, max_tilt_deg: float = 60.0
) -> None:
    """Refuse (one line) a video whose tracked person is on its side or upside down as displayed.

    Why: a wrong rotation tag (or none on a phone video stored sideways) shows the person lying down. The
    pose model still tracks them (a phone video tagged 90 deg: 252 of 254 frames), so nothing said so, and
    the one refusal such a video met was the several-people check's, which names another fault. BlazePose
    image keypoints: shoulders 11, 12, hips 23, 24; image y points down: upright hips lie below shoulders."""
    if not valid.any():
        return
    d = uv[valid][:, [23, 24]].mean(axis=1) - uv[valid][:, [11, 12]].mean(axis=1)
    tilt = float(np.median(np.degrees(np.arctan2(np.abs(d[:, 0]), d[:, 1]))))  # 0 upright .. 180 inverted
    if tilt > max_tilt_deg:
        how = "upside down" if tilt > 135.0 else "lying on its side"
        tag = f"its rotation tag says {rotation} deg" if rotation else "it has no rotation tag"
        raise ValueError(
            f"{what}: the person appears {how} in the frames as displayed (torso {tilt:.0f} deg from "
            f"upright; {tag}): the video's rotation is wrong; fix its rotation tag or re-encode it upright"
        )


def run_mediapipe(video: str, cfg: PerceptionConfig | None = None) -> tuple[Observations, dict]:
    """BlazePose over every frame. Returns observations and perception stats (ms/frame, tracked frames)."""
    import mediapipe as mp

    cfg = cfg or PerceptionConfig()
    info = probe(video)
    what = f"video '{info.path.name}'"
    W, H = info.width, info.height
    uv, vis, world, valid, times, masks, others = [], [], [], [], [], [], []
    pose = mp.solutions.pose.Pose(
        static_image_mode=False,
        model_complexity=1,
        enable_segmentation=True,
        min_detection_confidence=0.5,
        min_tracking_confidence=0.5,
    )
    seg = mp.solutions.selfie_segmentation.SelfieSegmentation(model_selection=1)
    t0 = time.perf_counter()
    n_total = max(info.num_frames, 1)
    try:
        for i, (t, img) in enumerate(iter_frames(video, cfg.max_side)):
            times.append(t)
            res = pose.process(img)
            ok = res.pose_landmarks is not None and res.pose_world_landmarks is not None
            if ok:
                lm = res.pose_landmarks.landmark
                uv.append([[p.x * W, p.y * H] for p in lm])
                vis.append([p.visibility for p in lm])
                world.append([[p.x, p.y, p.z] for p in res.pose_world_landmarks.landmark])
                core = np.array(vis[-1])[[11, 12, 23, 24]].mean()
                valid.append(bool(core >= cfg.min_visibility))
                m = res.segmentation_mask
                pm = (m > 0.5) if m is not None else np.zeros(img.shape[:2], bool)
            else:
                uv.append(np.zeros((33, 2)))
                vis.append(np.zeros(33))
                world.append(np.zeros((33, 3)))
                valid.append(False)
                pm = np.zeros(img.shape[:2], bool)
            masks.append(pm[::8, ::8].copy())
            if ok and i % cfg.check_every == 0:
                allm = seg.process(img).segmentation_mask > 0.5
                others.append(count_other_people(pm, allm))
            if i % 30 == 0:
                el = time.perf_counter() - t0
                log.info("perception: frame %d/%d (%.0f ms/frame)", i + 1, n_total, 1000 * el / (i + 1))
    finally:
        pose.close()
        seg.close()
    T = len(times)
    ms = 1000 * (time.perf_counter() - t0) / max(T, 1)
    if T == 0:
        raise ValueError(f"cannot read video '{video}': no decodable frame")
    fps = fps_from_times(np.array(times), info.fps)
    valid_a = np.array(valid)
    check_tracking(valid_a, fps, cfg, what)
    # before the several-people check: a person on its side is what makes that check fire
    check_upright(np.array(uv, dtype=np.float64), valid_a, info.rotation, what)
    check_single_person(others, cfg, what)
    vis_a = np.clip(np.array(vis), 0, 1)
    K = intrinsics(W, H, cfg)
    obs = Observations(
        BLAZEPOSE,
        np.array(uv, dtype=np.float64),
        vis_a,
        np.array(world, dtype=np.float64),
        vis_a,
        valid_a,
        K,
        W,
        H,
        fps,
        masks,
    )
    stats = {
        "frames": T,
        "tracked_frames": int(valid_a.sum()),
        "perception_ms_per_frame": ms,
        "fps": fps,
        "width": W,
        "height": H,
        "rotation": info.rotation,
        "focal_px": float(K[0, 0]),
        "several_people_checks": len(others),
        "several_people_seen": int(np.sum(np.array(others) > 0)),
    }
    return obs, stats
