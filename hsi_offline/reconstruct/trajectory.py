"""World trajectory that does not need the camera's translation: body odometry fused with camera rotation.

A phone that follows a walker (the person holds one image position while the background flows) or pans
gives structure-from-motion either no translation (a homography explains the background) or a translation
whose scale drifts from keyframe pair to keyframe pair. The fitted joints are then right relative to the
camera but the camera's own path is wrong, so the world hip path collapses (a following camera) or wiggles.
The body carries its own odometer: a planted foot does not move in the world (WHAM, GLAMR). Chaining the
pelvis displacement through the stance feet gives the world path; the camera rotation (from the homography
or essential matrix, already in the fit) gives the heading. SfM translation is kept only where its scale
agrees with the body, i.e. where planted feet already stand still in the fitted world.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.ndimage import gaussian_filter1d, uniform_filter1d

from hsi_offline.reconstruct.body_skeleton import Skeleton
from hsi_offline.reconstruct.scene import detect_contacts

# A planted foot slipping faster than this (median over contact frames, m/s) in the camera-derived world
# means the camera path is not metric: the body odometry is used instead.
MAX_CAMERA_SLIP = 0.2


@dataclass
class TrajectoryChoice:
    """Which source gave the world path, and the figures that decided it."""

    source: (
        str  # "static camera" | "camera (sfm)" | "camera rotation (pan)" | "body odometry + camera rotation"
    )
    camera_kind: str  # "static" | "pan" | "following" | "moving"
    camera_slip_m_s: float  # median planted-foot speed in the camera-derived world
    offsets: np.ndarray  # (T, 3) added to every joint (and the camera centre) by the odometry
    contacts: np.ndarray  # (T, 2) contacts in the chosen world
    notes: list[str] = field(default_factory=list)


def _lowest_foot_joint(X: np.ndarray, feet: tuple[int, ...], sole: np.ndarray) -> np.ndarray:
    """(T,) index of the foot joint nearest the ground per frame: the toe during push-off, the heel at strike.

    Anchoring on it (rather than the foot's mean) keeps heel rise out of the odometry's height."""
    f = list(feet)
    return np.asarray(f)[np.argmin(X[:, f, 2] - sole[f], axis=1)]


def stance_velocity(X: np.ndarray, sk: Skeleton, contacts: np.ndarray) -> np.ndarray:
    """(T-1, 3) mean displacement per frame of the planted feet's lowest joints (NaN where none is planted).

    In a right world frame this is ~0; its running sum is how far the world frame drifts under the body."""
    sole = sk.sole_offsets()
    T = X.shape[0]
    acc = np.zeros((T - 1, 3))
    n = np.zeros(T - 1)
    for side, feet in enumerate((sk.left_foot, sk.right_foot)):
        j = _lowest_foot_joint(X, feet, sole)[:-1]
        both = contacts[:-1, side] & contacts[1:, side]
        t = np.flatnonzero(both)
        acc[t] += X[t + 1, j[t]] - X[t, j[t]]
        n[t] += 1
    out = np.full((T - 1, 3), np.nan)
    ok = n > 0
    out[ok] = acc[ok] / n[ok, None]
    return out


def planted_slip(X: np.ndarray, sk: Skeleton, contacts: np.ndarray, fps: float) -> float:
    """Median horizontal speed (m/s) of planted feet: how far a world frame is from keeping them still."""
    v = stance_velocity(X, sk, contacts)
    ok = np.all(np.isfinite(v), axis=1)
    if not ok.any():
        return float("inf")
    sm = uniform_filter1d(v[ok, :2], 5, axis=0, mode="nearest")
    return float(np.median(np.linalg.norm(sm, axis=1)) * fps)


def body_odometry(
    X: np.ndarray, sk: Skeleton, fps: float, contact_speed: float = 0.3, rounds: int = 3
) -> tuple[np.ndarray, np.ndarray]:
    """Offsets (T, 3) that make the stance feet stand still, and the contacts in the corrected world.

    The offset velocity is minus the stance feet's velocity, smoothed over 0.1 s (a hand-held camera's path
    is smooth; heel-to-toe roll is not) and interpolated across frames with no planted foot. Contacts and
    offsets are alternated: in a following camera's world both feet move, and the slower-foot rule of
    `detect_contacts` finds the stance foot; once the world is corrected the speed threshold works again.
    """
    T = X.shape[0]
    D = np.zeros((T, 3))
    contacts = detect_contacts(X, sk, fps, contact_speed)
    for _ in range(rounds):
        v = stance_velocity(X + D[:, None], sk, contacts)
        e = -v
        ok = np.all(np.isfinite(e), axis=1)
        if not ok.any():
            break
        idx = np.arange(T - 1)
        e = np.stack([np.interp(idx, idx[ok], e[ok, k]) for k in range(3)], 1)
        e = gaussian_filter1d(e, max(1.0, 0.05 * fps), axis=0, mode="nearest")
        D = D + np.concatenate([np.zeros((1, 3)), np.cumsum(e, axis=0)])
        contacts = detect_contacts(X + D[:, None], sk, fps, contact_speed)
    return D, contacts


def following_fraction(uv_root: np.ndarray, valid: np.ndarray, width: int, height: int) -> float:
    """Spread (90th-percentile distance from its median, as a fraction of the image diagonal) of the person's
    image position: small when a camera follows or pans with the person."""
    p = uv_root[valid]
    if len(p) < 2:
        return 1.0
    d = np.linalg.norm(p - np.median(p, axis=0), axis=1)
    return float(np.percentile(d, 90) / np.hypot(width, height))


def choose_trajectory(
    X: np.ndarray,
    sk: Skeleton,
    fps: float,
    contacts: np.ndarray,
    static: bool,
    translates: bool,
    person_spread: float,
    contact_speed: float = 0.3,
) -> TrajectoryChoice:
    """Keep the camera-derived world where it keeps planted feet still; otherwise use the body odometry.

    `person_spread`: `following_fraction` of the person's image position. A camera that turns but does not
    translate is a pan (SfM found homographies); one that keeps the person in place while it translates
    follows."""
    T = X.shape[0]
    zero = np.zeros((T, 3))
    if static:
        return TrajectoryChoice("static camera", "static", 0.0, zero, contacts)
    slip = planted_slip(X, sk, contacts, fps)
    kind = "pan" if not translates else ("following" if person_spread < 0.08 else "moving")
    notes = [f"planted feet slip {slip:.2f} m/s in the camera-derived world (limit {MAX_CAMERA_SLIP} m/s)"]
    if slip <= MAX_CAMERA_SLIP:
        src = "camera (sfm)" if translates else "camera rotation (pan)"
        return TrajectoryChoice(src, kind, slip, zero, contacts, notes)
    D, c2 = body_odometry(X, sk, fps, contact_speed)
    if translates:
        notes.append("SfM translation scale disagrees with the body: camera translation not used")
    return TrajectoryChoice("body odometry + camera rotation", kind, slip, D, c2, notes)


def path_length(hip: np.ndarray, fps: float, smooth_s: float = 0.5) -> float:
    """Horizontal hip path length (m) after smoothing over `smooth_s` (removes the step-to-step sway)."""
    p = gaussian_filter1d(hip[:, :2], max(1.0, smooth_s * fps / 2), axis=0, mode="nearest")
    return float(np.linalg.norm(np.diff(p, axis=0), axis=1).sum())
