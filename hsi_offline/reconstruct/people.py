"""Several people in view: track each one's image box across frames and keep one person, never switching.

BlazePose (the legacy MediaPipe solution) follows one person and, when two cross, may jump to the other: the
motion becomes a chimera of two people. Here every frame's people come from the selfie segmenter's mask
(connected blobs -> boxes); boxes are linked into tracks by overlap with a constant-velocity prediction
(Hungarian assignment). When people overlap their blobs merge: the merged blob is given to no one and the
tracks it covers coast on their prediction until the blobs part again, so identities come out of a crossing
the way they went in. The person to keep is chosen by a stated rule (`--person largest|centre|longest|N`,
N from the numbered first-frame preview) and BlazePose then runs on that person's box only; a pose whose
box does not match the kept track is dropped (the frame becomes untracked) rather than accepted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

PERSON_RULES = ("largest", "centre", "longest")


def parse_person_rule(text: str) -> str | int:
    """`largest` | `centre` | `longest` | a number from the preview picture (1 = first)."""
    t = text.strip().lower()
    if t == "center":
        t = "centre"
    if t in PERSON_RULES:
        return t
    if t.isdigit() and int(t) >= 1:
        return int(t)
    raise ValueError(f"--person '{text}': expected largest, centre, longest or a number from the preview")


def iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two boxes (x0, y0, x1, y1)."""
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    area = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / max(area, 1e-9))


def boxes_from_mask(mask: np.ndarray, min_area_frac: float = 0.004) -> np.ndarray:
    """(N, 4) boxes of the connected person blobs of a segmentation mask, in the mask's pixels."""
    from scipy.ndimage import find_objects, label

    lab, n = label(mask)
    if n == 0:
        return np.zeros((0, 4))
    out = []
    counts = np.bincount(lab.ravel())
    for k, sl in enumerate(find_objects(lab), start=1):
        if sl is None or counts[k] < min_area_frac * mask.size:
            continue
        out.append([sl[1].start, sl[0].start, sl[1].stop, sl[0].stop])
    return np.asarray(out, dtype=float).reshape(-1, 4)


@dataclass
class Track:
    """One person's boxes over time (frames where it coasted through a merge are flagged)."""

    id: int
    boxes: dict[int, np.ndarray] = field(default_factory=dict)
    coasted: set[int] = field(default_factory=set)
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(2))
    misses: int = 0

    def last(self) -> tuple[int, np.ndarray]:
        t = max(self.boxes)
        return t, self.boxes[t]

    def predict(self, t: int) -> np.ndarray:
        """Box at frame t: the last observed box moved on at the track's velocity (size kept)."""
        seen = [k for k in self.boxes if k not in self.coasted]
        t0 = max(seen) if seen else max(self.boxes)
        d = self.velocity * (t - t0)
        return self.boxes[t0] + np.array([d[0], d[1], d[0], d[1]])

    def box_at(self, t: int) -> np.ndarray | None:
        return self.boxes.get(t)


def _centre(b: np.ndarray) -> np.ndarray:
    return np.array([0.5 * (b[0] + b[2]), 0.5 * (b[1] + b[3])])


def track_people(detections: list[np.ndarray], max_missing: int = 30) -> list[Track]:
    """Link per-frame boxes into tracks (constant-velocity prediction, Hungarian on 1 - IoU).

    A detection overlapping two or more predicted tracks is a merged blob: no track takes it; they coast.
    """
    from scipy.optimize import linear_sum_assignment

    tracks: list[Track] = []
    live: list[Track] = []
    for t, det in enumerate(detections):
        det = np.asarray(det, dtype=float).reshape(-1, 4)
        preds = [tr.predict(t) for tr in live]
        merged = set()
        for j, d in enumerate(det):
            over = [i for i, p in enumerate(preds) if coverage(p, d) >= 0.5]
            if len(over) >= 2:
                merged.add(j)
                for i in over:
                    tr = live[i]
                    tr.boxes[t] = preds[i]
                    tr.coasted.add(t)
        free_t = [i for i in range(len(live)) if t not in live[i].boxes]
        free_d = [j for j in range(len(det)) if j not in merged]
        taken_t, taken_d = set(), set()
        if free_t and free_d:
            cost = np.array([[1.0 - iou(preds[i], det[j]) for j in free_d] for i in free_t])
            r, c = linear_sum_assignment(cost)
            for a, b in zip(r, c):
                if cost[a, b] < 0.9:
                    i, j = free_t[a], free_d[b]
                    tr = live[i]
                    tr.boxes[t] = det[j]
                    tr.velocity = _velocity(tr)
                    tr.misses = 0
                    taken_t.add(i)
                    taken_d.add(j)
        for i in free_t:
            if i not in taken_t:
                live[i].misses += 1
        for j in free_d:
            if j not in taken_d:
                tr = Track(len(tracks))
                tr.boxes[t] = det[j]
                tracks.append(tr)
                live.append(tr)
        live = [tr for tr in live if tr.misses <= max_missing]
    return tracks


def _velocity(tr: Track, window: int = 20) -> np.ndarray:
    """Image velocity (px/frame) of a track's box centre: least-squares slope over its last observed boxes.

    One frame's difference is dominated by the box edges' jitter (limbs swing); a 20-frame slope is not, and
    it is what carries a track through a crossing."""
    ts = sorted(t for t in tr.boxes if t not in tr.coasted)[-window:]
    if len(ts) < 3:
        return np.zeros(2)
    tt = np.asarray(ts, dtype=float)
    c = np.array([_centre(tr.boxes[t]) for t in ts])
    tt -= tt.mean()
    return (tt @ (c - c.mean(0))) / max(float(tt @ tt), 1e-9)


def coverage(a: np.ndarray, b: np.ndarray) -> float:
    """Share of box `a` that lies inside box `b`."""
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    return float(w * h / max((a[2] - a[0]) * (a[3] - a[1]), 1e-9))


def first_frame_people(tracks: list[Track]) -> list[Track]:
    """Tracks present in frame 0, numbered left to right (the numbering of the preview picture)."""
    first = [tr for tr in tracks if 0 in tr.boxes]
    return sorted(first, key=lambda tr: _centre(tr.boxes[0])[0])


def choose_person(tracks: list[Track], rule: str | int, width: float, height: float) -> Track:
    """The kept person: `largest` box in frame 0, nearest the image `centre` in frame 0, the `longest`
    visible track, or number N of the first-frame preview (left to right)."""
    first = first_frame_people(tracks)
    if isinstance(rule, int):
        if not 1 <= rule <= len(first):
            raise ValueError(
                f"--person {rule}: the first frame shows {len(first)} person(s) (see the preview)"
            )
        return first[rule - 1]
    if rule == "longest":
        if not tracks:
            raise ValueError("--person longest: no person was found in any frame")
        return max(tracks, key=lambda tr: len(tr.boxes) - len(tr.coasted))
    if not first:
        raise ValueError(f"--person {rule}: no person in the first frame; use --person longest")
    if rule == "largest":
        return max(
            first, key=lambda tr: (tr.boxes[0][2] - tr.boxes[0][0]) * (tr.boxes[0][3] - tr.boxes[0][1])
        )
    if rule == "centre":
        c = np.array([width / 2, height / 2])
        return min(first, key=lambda tr: float(np.linalg.norm(_centre(tr.boxes[0]) - c)))
    raise ValueError(f"unknown person rule {rule!r}")


def box_series(track: Track, T: int) -> tuple[np.ndarray, np.ndarray]:
    """(T, 4) boxes of a track (NaN where it was not seen) and (T,) True where it coasted or was missing."""
    out = np.full((T, 4), np.nan)
    uncertain = np.ones(T, bool)
    for t, b in track.boxes.items():
        if t < T:
            out[t] = b
            uncertain[t] = t in track.coasted
    return out, uncertain


def pose_matches(pose_box: np.ndarray, track_box: np.ndarray, min_iou: float = 0.4) -> bool:
    """A pose belongs to the kept track when its keypoint box overlaps the track's box well."""
    return bool(np.all(np.isfinite(track_box)) and iou(pose_box, track_box) >= min_iou)


def identity_switches(kept: np.ndarray, truth: list[np.ndarray]) -> int:
    """How often the kept box changes which true person it is nearest (by box centre); NaN boxes skipped.

    `kept` (T, 4); `truth` one (T, 4) box array per person, the first being the person meant."""
    who = []
    for t in range(len(kept)):
        if not np.all(np.isfinite(kept[t])):
            continue
        c = _centre(kept[t])
        d = [np.linalg.norm(c - _centre(b[t])) if np.all(np.isfinite(b[t])) else np.inf for b in truth]
        who.append(int(np.argmin(d)))
    if not who:
        return 0
    w = np.asarray(who)
    return int((w[0] != 0) + np.count_nonzero(np.diff(w)))


def preview_picture(frame: np.ndarray, people: list[Track], scale: float, path: str | Path) -> Path:
    """The first frame with every person's box and number (what `--person N` refers to)."""
    import cv2

    from hsi_kernel.atomic import write_bytes_atomic

    img = np.ascontiguousarray(frame[..., ::-1]).copy()
    for n, tr in enumerate(people, start=1):
        x0, y0, x1, y1 = (tr.boxes[0] * scale).astype(int)
        cv2.rectangle(img, (x0, y0), (x1, y1), (0, 220, 255), 2)
        cv2.putText(img, str(n), (x0 + 4, y0 + 28), cv2.FONT_HERSHEY_SIMPLEX, 1.0, (0, 220, 255), 2)
    ok, buf = cv2.imencode(".png", img)
    if not ok:
        raise ValueError(f"cannot encode the preview picture '{path}'")
    return write_bytes_atomic(path, buf.tobytes())
