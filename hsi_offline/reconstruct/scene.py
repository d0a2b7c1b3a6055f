"""Gravity, foot contacts and support surfaces inferred from the body itself.

With a static camera there is no parallax to reconstruct the scene, but the body is a measuring device:
planted feet lie on a support (and do not move), a flat foot's heel and toe are level, the pelvis is level
side to side, the trunk is near vertical over time, and a seated pelvis rests on a seat.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.ndimage import uniform_filter1d

from hsi_offline.reconstruct.body_skeleton import Skeleton


def rotation_to_z(up: np.ndarray) -> np.ndarray:
    """Rotation R with R @ up = +z (the smallest rotation)."""
    u = np.asarray(up, dtype=np.float64)
    u = u / np.linalg.norm(u)
    z = np.array([0.0, 0.0, 1.0])
    v = np.cross(u, z)
    c = float(u @ z)
    if np.linalg.norm(v) < 1e-9:
        return np.eye(3) if c > 0 else np.diag([1.0, -1.0, -1.0])
    vx = np.array([[0, -v[2], v[1]], [v[2], 0, -v[0]], [-v[1], v[0], 0]])
    return np.eye(3) + vx + vx @ vx / (1.0 + c)


# Stance-to-stance vectors (left sole to right sole while both feet are down) as horizontal cues of gravity:
# their weight against the pelvis/heel-toe cues and the trunk prior (each of those weighs 2), and the
# largest angle (deg) from horizontal, by the first estimate, of a vector still taken as horizontal (a
# 0.15 m stair rise over a 0.6 m stride is 14 deg: stepping up or down is not a horizontal cue).
STANCE_PAIR_WEIGHT = 4.0
STANCE_PAIR_GATE_DEG = 6.0


def estimate_up(X: np.ndarray, sk: Skeleton, contacts: np.ndarray | None, valid: np.ndarray) -> np.ndarray:
    """Gravity 'up' in the fit's world frame from horizontal and vertical cues of the body.

    Minimises sum w_i (u . h_i)^2 + w_b |u - u_trunk|^2 over unit u: the h_i should be horizontal (pelvis
    left-right vectors of upright frames, heel->toe vectors of flat planted feet); the trunk prior u_trunk
    is the median hip->shoulder direction. The solution is the smallest eigenvector of a 3x3 matrix.

    With contacts, the vectors from one planted sole to the other in the same frame (double support, and the
    two frames where one foot hands over to the other) are added (`STANCE_PAIR_WEIGHT`), those within
    `STANCE_PAIR_GATE_DEG` of horizontal by the estimate without them (twice: gate, re-estimate). They are
    0.3-0.7 m long and lie along the walking direction, the direction in which a gravity error tilts every
    body-frame step (stride x tilt: 5 deg over 0.6 m is 5 cm), while the pelvis (0.2 m) and the trunk carry
    the lifter's depth error: on the casual benchmark (54 step/kerb/stairs cases, seeds 0-5) the support
    error within 3 cm in 31 cases instead of 28, no false level on flat ground over seeds 0-9.
    """
    Xv = X[valid] if valid.any() else X
    hip = 0.5 * (Xv[:, sk.left_hip] + Xv[:, sk.right_hip])
    neck = 0.5 * (Xv[:, sk.neck_pair[0]] + Xv[:, sk.neck_pair[1]])
    trunk = neck - hip
    trunk /= np.maximum(np.linalg.norm(trunk, axis=1, keepdims=True), 1e-9)
    u_b = np.median(trunk, axis=0)
    u_b /= np.linalg.norm(u_b)
    M = 2.0 * (np.eye(3) - np.outer(u_b, u_b))
    upright = trunk @ u_b > 0.95
    lr = Xv[upright, sk.left_hip] - Xv[upright, sk.right_hip]
    hs = [lr / np.maximum(np.linalg.norm(lr, axis=1, keepdims=True), 1e-9)]
    if contacts is not None and sk.name == "blazepose33":
        c = contacts[valid] if valid.any() else contacts
        for side, feet in ((0, sk.left_foot), (1, sk.right_foot)):
            heel, toe = feet[1], feet[2]
            d = Xv[c[:, side], toe] - Xv[c[:, side], heel]
            hs.append(d / np.maximum(np.linalg.norm(d, axis=1, keepdims=True), 1e-9))
    H = np.concatenate(hs) if hs else np.zeros((0, 3))
    if len(H):
        M += H.T @ H / len(H) * 2.0
    u = _smallest_eigenvector(M, u_b)
    if contacts is None or not STANCE_PAIR_WEIGHT:
        return u
    ts = _stance_pair_frames(contacts, valid)
    for _ in range(2):
        d = _sole_points(X[ts], sk.left_foot, sk, u) - _sole_points(X[ts], sk.right_foot, sk, u)
        n = np.linalg.norm(d, axis=1)
        d = d[n > 0.15] / n[n > 0.15, None]
        d = d[np.abs(d @ u) < np.sin(np.radians(STANCE_PAIR_GATE_DEG))]
        if not len(d):
            break
        u = _smallest_eigenvector(M + STANCE_PAIR_WEIGHT * d.T @ d / len(d), u_b)
    return u


def _smallest_eigenvector(M: np.ndarray, toward: np.ndarray) -> np.ndarray:
    u = np.linalg.eigh(M)[1][:, 0]
    return u if u @ toward > 0 else -u


def _stance_pair_frames(contacts: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Tracked frames with both feet planted, plus the two frames around each hand-over from one foot to
    the other (the walking contact detector often leaves no double-support frame)."""
    ts = list(np.flatnonzero(contacts[:, 0] & contacts[:, 1] & valid))
    for side in (0, 1):
        other = 1 - side
        for s, _ in true_runs(contacts[:, side]):
            if s > 0 and contacts[s - 1, other] and not contacts[s, other] and valid[s - 1] and valid[s]:
                ts += [s - 1, s]
    return np.array(sorted(set(ts)), dtype=int)


def _sole_points(X: np.ndarray, feet: tuple[int, ...], sk: Skeleton, up: np.ndarray) -> np.ndarray:
    """(T, 3) the sole under each frame's lowest joint of a foot (the joint moved down by its sole offset)."""
    f = list(feet)
    P = X[:, f] - sk.sole_offsets()[f][None, :, None] * up
    return P[np.arange(len(X)), np.argmin(P @ up, axis=1)]


def detect_contacts(
    X: np.ndarray,
    sk: Skeleton,
    fps: float,
    speed_thresh: float = 0.3,
    min_frames: int = 3,
    slower_foot_fallback: bool = True,
) -> np.ndarray:
    """(T, 2) contacts of a gravity-aligned (+z up) motion: a foot whose smoothed speed is low is planted.

    When both feet move, the slower one is planted too (a foot cannot leave the support while the other is
    in the air... except in running, which this pipeline does not target): keeps at least one support per
    frame when the body is not airborne. The slower foot, not the lower one: stepping down, the swing foot
    passes below the stance foot long before it lands, and a "lower foot" rule planted it in mid-air (on
    the synthetic stairs-down walk that spread a lower tread's height over the step above).
    """
    T = X.shape[0]
    win = max(3, int(round(fps * 0.1)) | 1)
    out = np.zeros((T, 2), dtype=bool)
    speeds = []
    for side, feet in enumerate((sk.left_foot, sk.right_foot)):
        p = uniform_filter1d(X[:, list(feet)].mean(axis=1), win, axis=0, mode="nearest")
        v = np.linalg.norm(np.gradient(p, axis=0), axis=1) * fps
        out[:, side] = v < speed_thresh
        speeds.append(v)
    neither = ~out.any(axis=1) & slower_foot_fallback
    slower = np.where(speeds[0] <= speeds[1], 0, 1)
    out[neither, slower[neither]] = True
    for side in range(2):  # drop contact runs shorter than min_frames
        c = out[:, side]
        start = None
        for t in range(T + 1):
            on = t < T and c[t]
            if on and start is None:
                start = t
            elif not on and start is not None:
                if t - start < min_frames:
                    out[start:t, side] = False
                start = None
    return out


@dataclass
class Footprint:
    side: int
    start: int
    stop: int  # exclusive
    xy: np.ndarray  # (P, 2) foot joint positions (for the footprint's extent)
    height: float  # sole height (m)


@dataclass
class Seat:
    centre: np.ndarray  # (2,) xy
    height: float
    polygon: np.ndarray  # (P, 2) xy of the seat region
    frames: tuple[int, int]


@dataclass
class Supports:
    ground: float
    footprints: list[Footprint] = field(default_factory=list)
    seats: list[Seat] = field(default_factory=list)


def true_runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """``(start, stop)`` (stop exclusive) of each run of True in a 1-D boolean array, in order."""
    edges = np.flatnonzero(np.diff(np.r_[0, np.asarray(mask, dtype=bool).astype(np.int8), 0]))
    return list(zip(edges[0::2].tolist(), edges[1::2].tolist()))


def footprints(X: np.ndarray, contacts: np.ndarray, sk: Skeleton) -> list[Footprint]:
    """One footprint per contact run per foot: where it stood and at what sole height."""
    sole = sk.sole_offsets()
    out = []
    for side, feet in enumerate((sk.left_foot, sk.right_foot)):
        feet = list(feet)
        for s, t in true_runs(contacts[:, side]):
            seg = X[s:t][:, feet]
            h = float(np.median((seg[..., 2] - sole[feet]).min(axis=1)))
            out.append(Footprint(side, s, t, seg[..., :2].reshape(-1, 2), h))
    return out


def ground_level(fps_: list[Footprint]) -> float:
    """The lowest support height on which the person stood for a while (robust to a single bad footprint)."""
    if not fps_:
        raise ValueError("no foot contacts were found: cannot find the ground (is the whole body visible?)")
    h = np.array([f.height for f in fps_])
    dur = np.array([f.stop - f.start for f in fps_], dtype=float)
    order = np.argsort(h)
    for i in order:  # the lowest height that at least 25% of the contact time (or 2 footprints) agrees with
        near = np.abs(h - h[i]) < 0.04
        if near.sum() >= 2 or dur[near].sum() >= 0.25 * dur.sum():
            return float(np.average(h[near], weights=dur[near]))
    return float(np.median(h))


def detect_seats(
    X: np.ndarray, sk: Skeleton, ground: float, fps: float, valid: np.ndarray, min_seconds: float = 0.5
) -> list[Seat]:
    """Seated stretches: the pelvis is low, the thighs are near horizontal and the pelvis is still."""
    hip = 0.5 * (X[:, sk.left_hip] + X[:, sk.right_hip])
    knee = 0.5 * (X[:, sk.left_knee] + X[:, sk.right_knee])
    thigh = np.linalg.norm(X[:, sk.left_knee] - X[:, sk.left_hip], axis=1)
    stand_h = np.percentile(hip[valid, 2] - ground, 90) if valid.any() else 0.9
    speed = (
        np.linalg.norm(np.gradient(uniform_filter1d(hip, 5, axis=0, mode="nearest"), axis=0), axis=1) * fps
    )
    seated = (
        valid
        & (hip[:, 2] - ground < 0.75 * stand_h)
        & (np.abs(hip[:, 2] - knee[:, 2]) < 0.5 * thigh)
        & (speed < 0.3)
    )
    seats = []
    for s, t in true_runs(seated):
        if t - s < min_seconds * fps:
            continue
        seg = slice(s, t)
        h = float(np.median(hip[seg, 2])) - sk.seat_offset
        pts = []
        for hj, kj in ((sk.left_hip, sk.left_knee), (sk.right_hip, sk.right_knee)):
            a, b = np.median(X[seg, hj, :2], axis=0), np.median(X[seg, kj, :2], axis=0)
            back = a - 0.35 * (b - a)  # the seat extends behind the hip joints
            pts += [back, a + 0.45 * (b - a)]
        pts = np.array(pts)
        seats.append(Seat(np.median(hip[seg, :2], axis=0), h, pts, (s, t)))
    return seats


# Footprints closer than this in height (m) are on one level.
LEVEL_TOLERANCE = 0.04
# Smallest body-frame step (m) that can start a new level (two thirds of a 0.15 m stair rise); smaller
# differences between consecutive footprints are taken as measurement noise or drift.
MIN_STEP = 0.10
# The step plus the next footprint's step must still rise (or drop) this much: the second footprint's
# confirmation. A footprint measured too high once gives +e then -e, which sum to ~0.
CONFIRM_STEP = 0.06
# Shorter contact runs (frames) are too brief to measure a step on, or from, and their world heights do not
# weigh in the camera world's check of a step; they take their neighbours' level.
MIN_FOOTPRINT_FRAMES = 5
# Frames at the start of a footprint (double support) in which its body-frame step is measured.
STEP_WINDOW = 5
# Untracked stretches longer than this (s: about one step) give no body-frame step (`_measured_steps`).
MAX_BRIDGED_S = 0.5


@dataclass
class SupportLevel:
    """One support height and the evidence for it (the report lists these)."""

    height: float
    footprints: list[int]  # indices into the footprint list
    frames: list[tuple[int, int]]
    body_frame_steps: list[float]  # stance-to-stance height differences (one frame), entering each footprint
    status: str  # "ground" | "confirmed"


@dataclass
class GroundPrior:
    heights: np.ndarray  # (F,) footprint heights after the prior, in the input footprint order
    levels: list[SupportLevel]
    warnings: list[str]


def _sole_heights(X: np.ndarray, feet: tuple[int, ...], sole: np.ndarray) -> np.ndarray:
    f = list(feet)
    return (X[:, f, 2] - sole[f]).min(axis=1)


def body_frame_steps(
    fps_: list[Footprint],
    X: np.ndarray,
    sk: Skeleton,
    window: int = 5,
    valid: np.ndarray | None = None,
    min_frames: int = 0,
) -> np.ndarray:
    """(F,) height of each footprint above the other foot's footprint it stepped from, both feet measured in
    the same frames.

    The median over the first `window` frames of the later footprint while the other foot is still down
    (double support): a difference inside one frame does not depend on where the world frame drifted.
    Without overlap, the other foot's last planted frame against this foot's first, when the one hands
    over to the other (at most one frame apart: the world moves little in a frame). NaN for a footprint
    with no earlier footprint of the other foot. The footprint stepped from is the latest of the other foot
    that lasted `min_frames` or more: shorter contact runs are mostly flicker of the contact detector (a
    4-frame left/right leg swap makes runs of 4-8 frames), and a step read from one was off by 10-15 cm
    in the benchmark.

    With `valid` (the frames the person was tracked in) only tracked frames measure: the first `window`
    tracked frames of the double support, or, without overlap, the two frames either side of the hand-over
    when both are tracked; else NaN. In an untracked frame the feet are where the fit's interpolation put
    them, and a step read there is not a measurement (following camera, seed 1: a 10-frame lost stretch
    right after a left/right leg swap read -0.12 m there, and made a false level on a flat road)."""
    sole = sk.sole_offsets()
    soles = [_sole_heights(X, feet, sole) for feet in (sk.left_foot, sk.right_foot)]
    seen = np.ones(X.shape[0], bool) if valid is None else np.asarray(valid, bool)
    out = np.full(len(fps_), np.nan)
    for i, b in enumerate(fps_):
        prev = [f for f in fps_ if f.side != b.side and f.start <= b.start and f.stop - f.start >= min_frames]
        if not prev:
            continue
        a = max(prev, key=lambda f: (f.start, f.stop))
        both = np.arange(b.start, min(a.stop, b.stop))
        both = both[seen[both]][:window]
        overlap = min(a.stop, b.stop) > b.start
        hand_over = not overlap and b.start - a.stop <= 1 and seen[a.stop - 1] and seen[b.start]
        if len(both):
            d = soles[b.side][both] - soles[a.side][both]
        elif hand_over:
            d = soles[b.side][b.start : b.start + 1] - soles[a.side][a.stop - 1 : a.stop]
        else:  # the double support was untracked, or no tracked hand-over from one foot to the other
            continue
        out[i] = float(np.median(d))
    return out


def _untracked_run_length(valid: np.ndarray) -> np.ndarray:
    """(T,) length in frames of the untracked run each frame is in (0 for tracked frames)."""
    out = np.zeros(len(valid), dtype=int)
    for s, t in true_runs(~np.asarray(valid, bool)):
        out[s:t] = t - s
    return out


def _measured_steps(
    fps_: list[Footprint], X: np.ndarray, sk: Skeleton, valid: np.ndarray | None, fps: float
) -> tuple[list[int], np.ndarray, np.ndarray, np.ndarray]:
    """Footprint indices in time order, their body-frame steps in that order (NaN where a footprint is too
    short or mostly untracked to measure one, or its double support was untracked: `body_frame_steps`), the
    raw steps in input order, and which footprints (time order) the body could not measure only because
    the person was untracked (a camera world's height difference may stand in for those).

    A step is also unmeasured when the frames it is measured in (the first `STEP_WINDOW` of the footprint)
    are mostly inside an untracked stretch longer than `MAX_BRIDGED_S`: the fit bridges such a stretch
    smoothly, and a foot that landed in it lands where the interpolation puts it. Two people crossing leave
    the kept one untracked for 0.7 s while their blobs are merged; a step read there made a false -0.10 m
    level on flat ground (benchmark); the world height there is the interpolation too."""
    order = sorted(range(len(fps_)), key=lambda i: fps_[i].start)
    steps = body_frame_steps(fps_, X, sk, STEP_WINDOW, valid, MIN_FOOTPRINT_FRAMES)
    long_enough = np.array([fps_[i].stop - fps_[i].start >= MIN_FOOTPRINT_FRAMES for i in order])
    lost = np.zeros(len(order), bool)
    measurable = long_enough.copy()
    if valid is not None:
        long_gap = _untracked_run_length(valid) > MAX_BRIDGED_S * fps
        bridged = np.array(
            [float(np.mean(long_gap[fps_[i].start : fps_[i].start + STEP_WINDOW])) >= 0.5 for i in order]
        )
        seen = np.array([float(np.mean(valid[fps_[i].start : fps_[i].stop])) >= 0.5 for i in order])
        measurable &= seen & ~bridged
        anyway = np.isfinite(body_frame_steps(fps_, X, sk, STEP_WINDOW, None, MIN_FOOTPRINT_FRAMES)[order])
        lost = long_enough & ~bridged & (~seen | (anyway & ~np.isfinite(steps[order])))
    return order, np.where(measurable, steps[order], np.nan), steps, lost


def _step_cuts(
    fps_: list[Footprint],
    order: list[int],
    ds: np.ndarray,
    warnings: list[str],
    world: np.ndarray | None = None,
) -> tuple[list[int], np.ndarray]:
    """Positions (in time order) where a new level starts, and the steps with refused ones carried on.

    A step is a body-frame difference of at least `MIN_STEP` that the next measured footprint keeps (the
    two steps together still rise or drop `CONFIRM_STEP` the same way: the other foot arrives on the new
    level or climbs on). With `world` (footprint heights in time order, a camera world without drift) the
    world must rise or drop too: the median of the 2 footprints from the step on against the 2 before it,
    by `CONFIRM_STEP` the same way. That catches a step measured from a bad footprint (a left/right swap
    of the keypoints): the step and its successor then both look right in the body frame, but the world
    stays level. A refused step is a warning. Refused by its successor, the footprint was measured off its
    level: it stays on the level and the next step is counted from the level. Refused by the world alone,
    the footprint stepped from was the bad one, and the next step is its own."""
    F = len(order)
    ds = ds.copy()
    cuts = [0]
    for k in range(1, F):
        if not abs(ds[k]) >= MIN_STEP:
            continue
        i = order[k]
        sign = np.sign(ds[k])
        nxt = next((m for m in range(k + 1, F) if np.isfinite(ds[m])), None)
        pair = ds[k] + (ds[nxt] if nxt is not None else np.nan)
        seen = True
        if world is not None:
            at = np.flatnonzero(np.isfinite(world))
            after, before = at[at >= k][:2], at[at < k][-2:]
            dw = float(np.median(world[after]) - np.median(world[before])) if len(before) else np.nan
            seen = np.sign(dw) == sign and abs(dw) >= CONFIRM_STEP
        kept = bool(np.isfinite(pair) and np.sign(pair) == sign and abs(pair) >= CONFIRM_STEP)
        if seen and kept:
            cuts.append(k)
            continue
        if nxt is not None and not kept:
            ds[nxt] += ds[k]
        warnings.append(
            f"a {ds[k]:+.2f} m step onto the footprint of frames {fps_[i].start}-{fps_[i].stop - 1} is not "
            "confirmed by a second footprint: treated as the same level"
        )
    return cuts + [F], ds


def flat_ground_prior(
    fps_: list[Footprint],
    X: np.ndarray,
    sk: Skeleton,
    drift_free: bool = True,
    valid: np.ndarray | None = None,
    fps: float = 30.0,
) -> GroundPrior:
    """Ground stays flat unless planted feet show a new level: the rule of the reconstruction.

    Steps are measured in the body frame (`body_frame_steps`: landing foot above the other foot, same
    frames), so they do not depend on where the world frame drifted. A level starts only at a step of at
    least `MIN_STEP` that the next footprint keeps (`_step_cuts`): a single footprint measured too high gives
    +e then -e, which cancel, so a level needs 2 footprints. Between such steps the footprints are one flat
    level.

    - Camera world (`drift_free`: static camera, pan, metric SfM): a step must also show in the world (the
      footprints after it rise or drop against those before it); a footprint whose step the body could not
      measure (mostly untracked, or untracked in its double support: a few lost frames) takes the world's
      height difference to the footprint before as its step, unless it starts in an untracked stretch
      longer than `MAX_BRIDGED_S` (then the world height there is the fit's interpolation too); contact runs
      shorter than `MIN_FOOTPRINT_FRAMES` are not footprints to the world. The level heights are the
      least-squares fit of the levels' world heights (`FOOTPRINT_SIGMA` each) and the body-frame steps between
      consecutive levels (`STEP_SIGMA` each), a level the steps bring back to an earlier height being that
      level (`_camera_world_levels`): the world anchors every level (no drift accumulates along a
      staircase), the body-frame steps keep the rises right where the world's depth error differs between
      two levels. Footprints flattened by more than `LEVEL_TOLERANCE` onto their level are one warning.
    - Body-odometry world (height drifts): the world heights carry the drift, so only the first level takes
      them (the lowest height 2 of its footprints agree on); each later level is the previous plus its step.

    Each refusal is a warning; footprints mostly in untracked frames (`valid` False: the fit interpolated
    them), and steps that show only in untracked frames (a warning names those of `MIN_STEP` or more), are
    no evidence for a step; the levels list their footprints, frames and body-frame steps.
    """
    F = len(fps_)
    h = np.array([f.height for f in fps_], dtype=float)
    if F == 0:
        return GroundPrior(h, [], [])
    order, ds, steps, lost = _measured_steps(fps_, X, sk, valid, fps)
    # World heights in time order; contact runs too brief to be footprints do not weigh in.
    world = np.array(
        [h[i] if fps_[i].stop - fps_[i].start >= MIN_FOOTPRINT_FRAMES else np.nan for i in order]
    )
    warnings: list[str] = []
    if valid is not None:  # name the steps the fit's interpolation alone would have made
        guessed = body_frame_steps(fps_, X, sk, STEP_WINDOW, None, MIN_FOOTPRINT_FRAMES)
        for k, i in enumerate(order):
            if not np.isfinite(steps[i]) and abs(guessed[i]) >= MIN_STEP:
                warnings.append(
                    f"a {guessed[i]:+.2f} m step onto the footprint of frames {fps_[i].start}-"
                    f"{fps_[i].stop - 1} shows only in untracked frames (the fit's interpolation): no "
                    "evidence"
                    + (", the camera world's height difference is used" if drift_free and lost[k] else "")
                )
    if drift_free:  # the camera measured what the body could not (a few lost frames): its height difference
        for k in range(1, F):
            if not np.isfinite(ds[k]) and lost[k]:
                ds[k] = h[order[k]] - h[order[k - 1]]
    # A camera world names the footprints flattened to their level (below); an odometry world the steps.
    cuts, ds = _step_cuts(fps_, order, ds, [] if drift_free else warnings, world if drift_free else None)
    stretches = [[order[k] for k in range(s0, s1)] for s0, s1 in zip(cuts[:-1], cuts[1:])]
    step_in = [float(ds[s0]) for s0 in cuts[1:-1]]
    if drift_free:
        lv_h = _camera_world_levels(fps_, stretches, step_in, h)
    else:
        lv_h = [ground_level([fps_[i] for i in stretches[0]])]
        for d in step_in:
            lv_h.append(lv_h[-1] + d)
    new = h.copy()
    for idx, v in zip(stretches, lv_h):
        new[idx] = v
    off = [i for i in order if abs(h[i] - new[i]) >= LEVEL_TOLERANCE and drift_free]
    if off:
        frames = ", ".join(f"{fps_[i].start}-{fps_[i].stop - 1}" for i in off)
        warnings.append(
            f"{len(off)} footprint(s) (frames {frames}) {np.median(h[off] - new[off]):+.2f} m off their "
            "level in the camera world, not confirmed by 2 footprints whose body-frame steps explain it: "
            "flattened to the level"
        )
    levels: list[SupportLevel] = []
    for i in order:
        lvl = float(new[i])
        for lv in levels:
            if abs(lv.height - lvl) < LEVEL_TOLERANCE:
                break
        else:
            lv = SupportLevel(lvl, [], [], [], "confirmed")
            levels.append(lv)
        lv.footprints.append(i)
        lv.frames.append((fps_[i].start, fps_[i].stop))
        if np.isfinite(steps[i]):
            lv.body_frame_steps.append(float(steps[i]))
    ground = ground_level([Footprint(f.side, f.start, f.stop, f.xy, float(v)) for f, v in zip(fps_, new)])
    for lv in levels:
        if abs(lv.height - ground) < LEVEL_TOLERANCE:
            lv.status = "ground"
    return GroundPrior(new, levels, warnings)


# Camera world: noise (m) of one body-frame step between two levels (two feet in the same few frames), and
# of one level's world height (the depth error along the keypoint rays, which changes over seconds).
STEP_SIGMA = 0.04
FOOTPRINT_SIGMA = 0.05


def _same_levels(step_in: list[float]) -> list[int]:
    """Per stretch, the first stretch the chained body-frame steps put within `LEVEL_TOLERANCE` of it (itself
    if none): down a staircase to the ground the walk started on is back on that ground."""
    chain = np.concatenate([[0.0], np.cumsum(step_in)])
    near = np.abs(chain[:, None] - chain[None, :]) < LEVEL_TOLERANCE  # (n, m): stretch n near stretch m
    return [int(np.flatnonzero(near[n, : n + 1])[0]) for n in range(len(chain))]


def _camera_world_levels(
    fps_: list[Footprint], stretches: list[list[int]], step_in: list[float], h: np.ndarray
) -> list[float]:
    """Heights of the levels (one per stretch) from the footprints' world heights and the body-frame steps:
    linear least squares, each stretch's world height (`ground_level` of its footprints: the lowest height
    2 of them agree on, as the ground always was) against its level, each step against the difference of
    its two levels. A stretch's world height is one measurement (`FOOTPRINT_SIGMA`), however many
    footprints it has: the depth error that moves it changes over seconds, not from footprint to footprint.
    Stretches the steps bring back to an earlier height (`_same_levels`) are that level."""
    same = _same_levels(step_in)
    var = sorted(set(same))
    col = {v: k for k, v in enumerate(var)}
    n = len(var)
    rows, rhs, w = [], [], []
    for k, idx in enumerate(stretches):
        r = np.zeros(n)
        r[col[same[k]]] = 1.0
        rows.append(r)
        rhs.append(ground_level([fps_[i] for i in idx]))
        w.append(1.0 / FOOTPRINT_SIGMA)
    for k, d in enumerate(step_in):
        if same[k + 1] == same[k]:
            continue
        r = np.zeros(n)
        r[col[same[k + 1]]] += 1.0
        r[col[same[k]]] -= 1.0
        rows.append(r)
        rhs.append(d)
        w.append(1.0 / STEP_SIGMA)
    A = np.array(rows) * np.array(w)[:, None]
    sol, *_ = np.linalg.lstsq(A, np.array(rhs) * np.array(w), rcond=None)
    return [float(sol[col[same[k]]]) for k in range(len(stretches))]


def height_corrections(fps_: list[Footprint], old: np.ndarray, new: np.ndarray, T: int) -> np.ndarray:
    """(T,) vertical offset per frame that moves each footprint from `old` to `new` height: constant over a
    footprint, linear between footprints (the body follows the support it stands on)."""
    if not fps_:
        return np.zeros(T)
    mids = np.array([0.5 * (f.start + f.stop - 1) for f in fps_])
    d = np.asarray(new) - np.asarray(old)
    order = np.argsort(mids)
    keys_t: list[float] = []
    keys_v: list[float] = []
    for i in order:
        keys_t += [float(fps_[i].start), float(fps_[i].stop - 1)]
        keys_v += [float(d[i]), float(d[i])]
    kt = np.array(keys_t)
    kv = np.array(keys_v)
    srt = np.argsort(kt, kind="stable")
    return np.interp(np.arange(T), kt[srt], kv[srt])
