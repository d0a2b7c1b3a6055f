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


def estimate_up(X: np.ndarray, sk: Skeleton, contacts: np.ndarray | None, valid: np.ndarray) -> np.ndarray:
    """Gravity 'up' in the fit's world frame from horizontal and vertical cues of the body.

    Minimises sum w_i (u . h_i)^2 + w_b |u - u_trunk|^2 over unit u: the h_i should be horizontal (pelvis
    left-right vectors of upright frames, heel->toe vectors of flat planted feet, the lateral offsets between
    left and right planted feet); the trunk prior u_trunk is the median hip->shoulder direction. The solution
    is the smallest eigenvector of a 3x3 matrix.
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
    w, V = np.linalg.eigh(M)
    u = V[:, 0]
    return u if u @ u_b > 0 else -u


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
# Camera world: the body-frame steps chained from the ground must explain a footprint's height this well (m).
STEP_AGREEMENT = 0.05
# Shorter contact runs (frames) are too brief to measure a step on; they take their neighbours' level.
MIN_FOOTPRINT_FRAMES = 5


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


def body_frame_steps(fps_: list[Footprint], X: np.ndarray, sk: Skeleton, window: int = 5) -> np.ndarray:
    """(F,) height of each footprint above the other foot's footprint it stepped from, both feet measured in
    the same frames.

    The median over the first `window` frames of the later footprint while the other foot is still down
    (double support): a difference inside one frame does not depend on where the world frame drifted.
    Without overlap, the other foot's last planted frame against this foot's first. NaN for a footprint
    with no earlier footprint of the other foot."""
    sole = sk.sole_offsets()
    soles = [_sole_heights(X, feet, sole) for feet in (sk.left_foot, sk.right_foot)]
    out = np.full(len(fps_), np.nan)
    for i, b in enumerate(fps_):
        prev = [a for a in fps_ if a.side != b.side and a.start <= b.start]
        if not prev:
            continue
        a = max(prev, key=lambda f: (f.start, f.stop))
        t0, t1 = b.start, min(b.start + window, a.stop, b.stop)
        if t1 > t0:
            d = soles[b.side][t0:t1] - soles[a.side][t0:t1]
        else:
            d = soles[b.side][b.start : b.start + 1] - soles[a.side][a.stop - 1 : a.stop]
        out[i] = float(np.median(d))
    return out


def flat_ground_prior(
    fps_: list[Footprint],
    X: np.ndarray,
    sk: Skeleton,
    drift_free: bool = True,
    valid: np.ndarray | None = None,
) -> GroundPrior:
    """Ground stays flat unless planted feet show a new level: the rule of the reconstruction.

    Steps are measured in the body frame (`body_frame_steps`: landing foot above the other foot, same
    frames), so they do not depend on where the world frame drifted. A single footprint measured too high
    gives +e then -e, which cancel: a level needs 2 footprints.

    - Camera world (`drift_free`, no drift): a footprint off the ground keeps its world height only when
      the body-frame steps chained from the last ground footprint explain it within `STEP_AGREEMENT` and
      at least 2 footprints in a row are so explained; other off-ground footprints become ground.
    - Body-odometry world (height drifts): flat stretches cut at confirmed steps only. A step is a body-frame
      difference of at least `MIN_STEP` that the next footprint keeps (the two steps together still rise or
      drop `CONFIRM_STEP` the same way: the other foot arrives on the new level or climbs on). The first
      stretch sits at the lowest height 2 of its footprints agree on, each later one at the previous plus
      its step.

    Each refusal is a warning; footprints mostly in untracked frames (`valid` False: the fit interpolated
    them) are no evidence for a step; the levels list their footprints, frames and body-frame steps.
    """
    F = len(fps_)
    h = np.array([f.height for f in fps_], dtype=float)
    if F == 0:
        return GroundPrior(h, [], [])
    order = sorted(range(F), key=lambda i: fps_[i].start)
    steps = body_frame_steps(fps_, X, sk)
    ds = steps[order]
    warnings: list[str] = []
    measurable = [fps_[i].stop - fps_[i].start >= MIN_FOOTPRINT_FRAMES for i in order]
    if valid is not None:
        seen = [float(np.mean(valid[fps_[i].start : fps_[i].stop])) >= 0.5 for i in order]
        measurable = [a and b for a, b in zip(measurable, seen)]
    ds = np.where(measurable, ds, np.nan)
    if drift_free:
        new = _camera_world_heights(fps_, order, h, ds, warnings)
    else:
        new = _odometry_world_heights(fps_, order, h, ds, warnings)
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


def _camera_world_heights(
    fps_: list[Footprint], order: list[int], h: np.ndarray, ds: np.ndarray, warnings: list[str]
) -> np.ndarray:
    """Camera world (no drift): a footprint off the ground keeps its world height only when the body-frame
    steps chained from the last ground footprint explain it (within `STEP_AGREEMENT`; after a footprint whose
    step could not be measured the chain restarts from its world height) and at least 2 footprints in a
    row are so explained; any other off-ground footprint becomes ground, with a warning."""
    g = ground_level(fps_)
    F = len(order)
    hs = h[order]
    off = np.abs(hs - g) >= LEVEL_TOLERANCE
    chain = np.zeros(F)
    explained = np.zeros(F, bool)
    for k in range(F):
        if k == 0 or not off[k]:
            chain[k] = hs[k] - g  # the first footprint and ground footprints anchor the chain on the world
        elif not np.isfinite(ds[k]):  # no step measured here: no evidence either way, the world carries on
            chain[k] = hs[k] - g
        else:
            base = hs[k - 1] - g if not np.isfinite(ds[k - 1]) else chain[k - 1]
            chain[k] = base + ds[k]
        measured = k > 0 and np.isfinite(ds[k])  # the anchor and unmeasured footprints are no evidence
        explained[k] = off[k] and measured and abs((hs[k] - g) - chain[k]) < STEP_AGREEMENT
    new = h.copy()
    k = 0
    while k < F:
        if not off[k]:
            k += 1
            continue
        run = []
        while k < F and off[k]:
            run.append(k)
            k += 1
        ok = [m for m in run if explained[m]]
        bad = [m for m in run if not explained[m] and m > 0 and np.isfinite(ds[m])] if len(ok) >= 2 else run
        for m in bad:
            new[order[m]] = g
        if bad:
            frames = ", ".join(f"{fps_[order[m]].start}-{fps_[order[m]].stop - 1}" for m in bad)
            warnings.append(
                f"support {np.median(hs[bad]) - g:+.2f} m off the ground under {len(bad)} footprint(s) "
                f"(frames {frames}) is not confirmed by 2 footprints whose body-frame steps explain it: "
                "treated as ground"
            )
    return new


def _odometry_world_heights(
    fps_: list[Footprint], order: list[int], h: np.ndarray, ds: np.ndarray, warnings: list[str]
) -> np.ndarray:
    """Body-odometry world (height drifts): flat stretches between confirmed steps; the first stretch at the
    lowest height 2 of its footprints agree on, each later one the previous plus its body-frame step."""
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
        ok = bool(np.isfinite(pair) and np.sign(pair) == sign and abs(pair) >= CONFIRM_STEP)
        if ok:
            cuts.append(k)
        else:
            if nxt is not None:  # the refused footprint stays on the level: the next step is from the level
                ds[nxt] += ds[k]
            warnings.append(
                f"a {ds[k]:+.2f} m step at frame {fps_[i].start} is not confirmed by a second footprint "
                "treated as the same level"
            )
    cuts.append(F)
    new = h.copy()
    new = h.copy()
    lvl = 0.0
    for s0, s1 in zip(cuts[:-1], cuts[1:]):
        idx = [order[k] for k in range(s0, s1)]
        lvl = ground_level([fps_[i] for i in idx]) if s0 == 0 else lvl + float(ds[s0])
        new[idx] = lvl
    return new


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
