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
    person: str | int | None = None  # keep this person (`people.parse_person_rule`); None: refuse several
    preview_path: str | None = None  # where the numbered first-frame picture of the people is written


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
    checked frames, unless a person to keep was named (`--person`, or `--allow-multiple` = largest)."""
    if not other_counts or cfg.allow_multiple or cfg.person is not None:
        return
    share = float(np.mean(np.asarray(other_counts) > 0))
    if share > cfg.multi_person_fraction:
        where = f" (numbered in {cfg.preview_path})" if cfg.preview_path else ""
        raise ValueError(
            f"{what}: several people are visible ({100 * share:.0f}% of checked frames); choose one with "
            f"--person largest|centre|longest|N{where}, or crop the video to one person"
        )


def _landmark_box(uv: np.ndarray, vis: np.ndarray) -> np.ndarray:
    """(4,) box of the visible landmarks (all of them if few are visible)."""
    m = vis > 0.5
    pts = uv[m] if m.sum() >= 4 else uv
    return np.r_[pts.min(0), pts.max(0)]


def find_people(video: str, max_side: int = 480) -> tuple[list, float, np.ndarray, list[np.ndarray]]:
    """Pass 1 over the video: the selfie segmenter's person blobs per frame, linked into tracks.

    Returns the tracks (boxes in full-resolution pixels), full-resolution pixels per analysed pixel, the
    first analysed frame (for the preview picture) and every frame's all-people mask (analysed pixels;
    the camera-motion estimate must not take another walker for background)."""
    import mediapipe as mp

    from hsi_offline.reconstruct.people import boxes_from_mask, track_people

    info = probe(video)
    dets, first, scale, people_masks = [], None, 1.0, []
    seg = mp.solutions.selfie_segmentation.SelfieSegmentation(model_selection=1)
    try:
        for _, img in iter_frames(video, max_side):
            if first is None:
                first = img
                scale = info.width / img.shape[1]
            m = seg.process(img).segmentation_mask > 0.5
            dets.append(boxes_from_mask(m) * scale)
            people_masks.append(m)
    finally:
        seg.close()
    if first is None:
        raise ValueError(f"cannot read video '{video}': no decodable frame")
    return track_people(dets), scale, first, people_masks


CROP_SIDE = 384  # pixels: the kept person's square crop is resized to this before BlazePose


def _crop_for(box: np.ndarray, W: int, H: int, pad: float = 0.25) -> tuple[int, int, int, int]:
    """A square crop around a person's box (padded), inside the frame: BlazePose sees only that person."""
    cx, cy = 0.5 * (box[0] + box[2]), 0.5 * (box[1] + box[3])
    side = (1.0 + 2 * pad) * max(box[2] - box[0], box[3] - box[1])
    side = min(max(side, 64.0), float(max(W, H)))
    x0 = int(np.clip(cx - side / 2, 0, max(W - side, 0)))
    y0 = int(np.clip(cy - side / 2, 0, max(H - side, 0)))
    return x0, y0, int(min(W, x0 + side)), int(min(H, y0 + side))


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
    if cfg.person is not None or cfg.allow_multiple:
        return _run_kept_person(video, cfg)
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
    if cfg.preview_path and others and np.mean(np.asarray(others) > 0) > cfg.multi_person_fraction:
        _write_preview(video, cfg)
    check_single_person(others, cfg, what)
    vis_a = np.clip(np.array(vis), 0, 1)
    K = intrinsics(W, H, cfg)
    uv_a = np.array(uv, dtype=np.float64)
    boxes = np.array([_landmark_box(u, v) for u, v in zip(uv_a, vis_a)])
    boxes[~valid_a] = np.nan
    obs = Observations(
        BLAZEPOSE, uv_a, vis_a, np.array(world, dtype=np.float64), vis_a, valid_a, K, W, H, fps
    )
    obs.masks, obs.boxes = masks, boxes
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


def _write_preview(video: str, cfg: PerceptionConfig) -> None:
    from hsi_offline.reconstruct.people import first_frame_people, preview_picture

    tracks, scale, first, people_masks = find_people(video)
    preview_picture(first, first_frame_people(tracks), 1.0 / scale, cfg.preview_path)
    log.info("people in the first frame numbered in %s", cfg.preview_path)


def _run_kept_person(video: str, cfg: PerceptionConfig) -> tuple[Observations, dict]:
    """Several people: track them all (pass 1), choose one by the rule, run BlazePose on that person's box.

    Frames where the kept person's blob is merged with another person's, or where the pose found in the
    crop does not match the kept person's box, are left untracked (the fit bridges them): a frame of the
    wrong person is worse than no frame."""
    import cv2
    import mediapipe as mp

    from hsi_offline.reconstruct.people import (
        box_series,
        choose_person,
        first_frame_people,
        parse_person_rule,
        pose_matches,
        preview_picture,
    )

    info = probe(video)
    what = f"video '{info.path.name}'"
    W, H = info.width, info.height
    rule = parse_person_rule(str(cfg.person)) if cfg.person is not None else "largest"
    t0 = time.perf_counter()
    tracks, scale, first, people_masks = find_people(video)
    people0 = first_frame_people(tracks)
    if cfg.preview_path:
        preview_picture(first, people0, 1.0 / scale, cfg.preview_path)
    if not tracks:
        raise ValueError(f"{what}: no person found by the segmenter in any frame")
    kept = choose_person(tracks, rule, W, H)
    T_seen = max(max(tr.boxes) for tr in tracks) + 1
    track_box, uncertain = box_series(kept, T_seen)
    uv, vis, world, valid, times, masks, pose_boxes = [], [], [], [], [], [], []
    pose = mp.solutions.pose.Pose(
        static_image_mode=False,
        model_complexity=1,
        enable_segmentation=True,
        min_detection_confidence=0.5,
        min_tracking_confidence=0.5,
    )
    rejected = 0
    try:
        for i, (t, img) in enumerate(iter_frames(video, cfg.max_side)):
            times.append(t)
            k = img.shape[1] / W  # analysed pixels per full-resolution pixel
            box = track_box[i] if i < T_seen else np.full(4, np.nan)
            u, v, w3 = np.zeros((33, 2)), np.zeros(33), np.zeros((33, 3))
            ok = False
            pm = np.zeros(img.shape[:2], bool)
            if np.all(np.isfinite(box)):
                x0, y0, x1, y1 = _crop_for(box * k, img.shape[1], img.shape[0])
                # only the kept person's box (10 % margin) is shown; the rest of the crop is grey, so another
                # person beside it cannot be the one BlazePose picks
                crop = np.full((y1 - y0, x1 - x0, 3), 128, np.uint8)
                bx = box * k
                mx, my = 0.1 * (bx[2] - bx[0]), 0.1 * (bx[3] - bx[1])
                a0, b0 = int(max(bx[0] - mx, x0)), int(max(bx[1] - my, y0))
                a1, b1 = int(min(bx[2] + mx, x1)), int(min(bx[3] + my, y1))
                crop[b0 - y0 : b1 - y0, a0 - x0 : a1 - x0] = img[b0:b1, a0:a1]
                # one input size for every frame: MediaPipe's segmentation smoothing needs it
                crop = cv2.resize(crop, (CROP_SIDE, CROP_SIDE), interpolation=cv2.INTER_AREA)
                res = pose.process(crop)
                if res.pose_landmarks is not None and res.pose_world_landmarks is not None:
                    cw, ch = x1 - x0, y1 - y0
                    u = np.array(
                        [[(p.x * cw + x0) / k, (p.y * ch + y0) / k] for p in res.pose_landmarks.landmark]
                    )
                    v = np.array([p.visibility for p in res.pose_landmarks.landmark])
                    w3 = np.array([[p.x, p.y, p.z] for p in res.pose_world_landmarks.landmark])
                    core = bool(v[[11, 12, 23, 24]].mean() >= cfg.min_visibility)
                    match = pose_matches(_landmark_box(u, v), box, min_iou=0.3)
                    ok = core and match and not uncertain[i]
                    rejected += int(core and not ok)
                    if res.segmentation_mask is not None:
                        sm = cv2.resize(
                            res.segmentation_mask, (x1 - x0, y1 - y0), interpolation=cv2.INTER_LINEAR
                        )
                        pm[y0:y1, x0:x1] = sm > 0.5
            uv.append(u)
            vis.append(v)
            world.append(w3)
            valid.append(ok)
            pose_boxes.append(_landmark_box(u, v) if ok else np.full(4, np.nan))
            if i < len(people_masks):  # everyone, not only the kept person, is masked out of the background
                allm = people_masks[i].astype(np.uint8)
                pm |= cv2.resize(allm, (pm.shape[1], pm.shape[0]), interpolation=cv2.INTER_NEAREST) > 0
            masks.append(pm[::8, ::8].copy())
            if i % 30 == 0:
                el = time.perf_counter() - t0
                log.info("perception (kept person): frame %d (%.0f ms/frame)", i + 1, 1000 * el / (i + 1))
    finally:
        pose.close()
    T = len(times)
    ms = 1000 * (time.perf_counter() - t0) / max(T, 1)
    fps = fps_from_times(np.array(times), info.fps)
    valid_a = np.array(valid)
    check_tracking(valid_a, fps, cfg, what)
    vis_a = np.clip(np.array(vis), 0, 1)
    K = intrinsics(W, H, cfg)
    uv_a = np.array(uv, dtype=np.float64)
    obs = Observations(
        BLAZEPOSE, uv_a, vis_a, np.array(world, dtype=np.float64), vis_a, valid_a, K, W, H, fps
    )
    obs.masks, obs.boxes = masks, np.array(pose_boxes)
    n = min(T, T_seen)
    stats = {
        "frames": T,
        "tracked_frames": int(valid_a.sum()),
        "perception_ms_per_frame": ms,
        "fps": fps,
        "width": W,
        "height": H,
        "rotation": info.rotation,
        "focal_px": float(K[0, 0]),
        "person": {
            "rule": str(rule),
            "people_in_first_frame": len(people0),
            "people_tracked": len(tracks),
            "kept_number_in_preview": next((n_ for n_, tr in enumerate(people0, 1) if tr is kept), None),
            "frames_merged_with_another_person": int(np.sum(uncertain[:n] & np.isfinite(track_box[:n, 0]))),
            "poses_rejected_as_another_person": int(rejected),
        },
    }
    return obs, stats
