"""Clip variants: mirrored, looped, faster/slower, turned, cut and straightened copies of a motion clip.

Why: one captured walk is a few seconds of one person's gait, turning one way. Its mirror image, other speeds
and headings and a longer looped version are motions the robot can equally make, and they multiply the data a
skill is trained on (VideoMimic and DeepMimic-style trackers use the same augmentations). Every function is
pure (a new validated clip, the input untouched) and rebuilds the link poses with the contract model's forward
kinematics (``make_clip``), so a variant passes the same checks as a retargeted clip.

Mirroring reflects the world through the robot's sagittal plane (y -> -y): left and right joints swap and the
roll and yaw joints change sign (pitch joints keep theirs). That is right for the G1 because its left and
right links are mirror images with the same joint axes, to within the 10 um Unitree publishes between the
shoulder mounts (``tests/test_motion_variants.py`` checks it by forward kinematics). Clips on a terrain are
only re-timed: mirroring, turning or looping them would move the motion off its terrain.
"""

from __future__ import annotations

import numpy as np

from hsi_kernel.contract import get_contract

from .clip import MotionClip, MotionClipError, make_clip


def _flat_only(clip: MotionClip, what: str) -> None:
    if clip.terrain:
        raise MotionClipError(f"motion clip on terrain '{clip.terrain}': {what} needs a flat-ground clip")


def _rebuild(
    clip: MotionClip, root_pos, root_quat, joint_pos, contacts, fps: float, note: dict
) -> MotionClip:
    prov = dict(clip.provenance)
    prov["variants"] = [*prov.get("variants", []), note]
    return make_clip(
        fps, root_pos, root_quat, joint_pos, clip.dof, contacts, clip.terrain, prov, tuple(clip.link_names)
    )


def mirror_joint_map(dof: int) -> tuple[np.ndarray, np.ndarray]:
    """(source index, sign) per contract joint: mirrored q = sign * q[source]."""
    names = get_contract(dof).joint_names
    index = {n: i for i, n in enumerate(names)}
    src, sign = [], []
    for n in names:
        other = n.replace("left_", "\0").replace("right_", "left_").replace("\0", "right_")
        if other not in index:
            raise MotionClipError(
                f"motion clip: joint {n} has no mirror joint {other} in the {dof}-DoF contract"
            )
        src.append(index[other])
        sign.append(-1.0 if ("_roll_" in n or "_yaw_" in n) else 1.0)
    return np.array(src), np.array(sign)


def mirror_quat(q: np.ndarray) -> np.ndarray:
    """w-x-y-z orientations reflected through the x-z plane: R -> M R M with M = diag(1, -1, 1)."""
    q = np.asarray(q, dtype=np.float64)
    return q * np.array([1.0, -1.0, 1.0, -1.0])


def mirror(clip: MotionClip) -> MotionClip:
    """The clip reflected through the world x-z plane: its left foot does what the right foot did."""
    _flat_only(clip, "mirroring")
    src, sign = mirror_joint_map(clip.dof)
    root_pos = np.asarray(clip.root_pos) * np.array([1.0, -1.0, 1.0])
    joint_pos = np.asarray(clip.joint_pos)[:, src] * sign
    contacts = np.asarray(clip.contacts)[:, ::-1]
    return _rebuild(
        clip, root_pos, mirror_quat(clip.root_quat), joint_pos, contacts, clip.fps, {"kind": "mirror"}
    )


def retime(clip: MotionClip, speed: float) -> MotionClip:
    """The same frames played ``speed`` times as fast (0.8: slower walk; 1.25: faster)."""
    if not (np.isfinite(speed) and speed > 0):
        raise MotionClipError(f"motion clip: speed factor must be positive, got {speed}")
    return _rebuild(
        clip,
        clip.root_pos,
        clip.root_quat,
        clip.joint_pos,
        clip.contacts,
        clip.fps * speed,
        {"kind": "speed", "factor": float(speed)},
    )


def _yaw_quat(yaw: float) -> np.ndarray:
    return np.array([np.cos(yaw / 2), 0.0, 0.0, np.sin(yaw / 2)])


def _quat_mul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    aw, ax, ay, az = np.moveaxis(np.asarray(a), -1, 0)
    bw, bx, by, bz = np.moveaxis(np.asarray(b), -1, 0)
    return np.stack(
        [
            aw * bw - ax * bx - ay * by - az * bz,
            aw * bx + ax * bw + ay * bz - az * by,
            aw * by - ax * bz + ay * bw + az * bx,
            aw * bz + ax * by - ay * bx + az * bw,
        ],
        axis=-1,
    )


def _yaw_of(q: np.ndarray) -> float:
    w, x, y, z = np.asarray(q, dtype=np.float64)
    return float(np.arctan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z)))


def _turned(root_pos: np.ndarray, root_quat: np.ndarray, yaw: float, pivot: np.ndarray, to: np.ndarray):
    """Root trajectory turned by ``yaw`` about the vertical through ``pivot`` (xy), then moved pivot -> to."""
    c, s = np.cos(yaw), np.sin(yaw)
    rel = np.asarray(root_pos, dtype=np.float64)[:, :2] - pivot
    pos = np.array(root_pos, dtype=np.float64)
    pos[:, 0] = c * rel[:, 0] - s * rel[:, 1] + to[0]
    pos[:, 1] = s * rel[:, 0] + c * rel[:, 1] + to[1]
    return pos, _quat_mul(_yaw_quat(yaw), np.asarray(root_quat, dtype=np.float64))


def turn(clip: MotionClip, yaw: float) -> MotionClip:
    """The whole clip turned by ``yaw`` (rad) about the vertical through its first root position."""
    _flat_only(clip, "turning")
    p0 = np.asarray(clip.root_pos)[0, :2]
    pos, q = _turned(clip.root_pos, clip.root_quat, yaw, p0, p0)
    return _rebuild(
        clip, pos, q, clip.joint_pos, clip.contacts, clip.fps, {"kind": "heading", "yaw": float(yaw)}
    )


def cut(clip: MotionClip, start_s: float, stop_s: float) -> MotionClip:
    """Frames from ``start_s`` to ``stop_s`` (seconds into the clip), e.g. a clip's straight stretch apart
    from its turn."""
    n = len(clip.root_pos)
    a, b = int(round(start_s * clip.fps)), min(n, int(round(stop_s * clip.fps)) + 1)
    if not (a >= 0 and b - a >= 2):
        raise MotionClipError(
            f"motion clip: cut {start_s:g}-{stop_s:g} s is not inside the clip's {(n - 1) / clip.fps:.2f} s"
        )
    sl = slice(a, b)
    return _rebuild(
        clip,
        np.asarray(clip.root_pos)[sl],
        np.asarray(clip.root_quat)[sl],
        np.asarray(clip.joint_pos)[sl],
        np.asarray(clip.contacts)[sl],
        clip.fps,
        {"kind": "cut", "start_s": float(start_s), "stop_s": float(stop_s)},
    )


def _smooth(x: np.ndarray, n: int) -> np.ndarray:
    """Centred moving average over ``n`` frames, the ends padded with their own values."""
    if n <= 1 or len(x) < 2:
        return x.copy()
    pad = n // 2
    xp = np.concatenate([np.full(pad, x[0]), x, np.full(n - 1 - pad, x[-1])])
    return np.convolve(xp, np.ones(n) / n, mode="valid")


def _rot2(angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, -s], [s, c]])


def straighten(clip: MotionClip, window_s: float = 1.0, turn_rate: float = 0.0) -> MotionClip:
    """The clip walked along a straight line (``turn_rate`` 0) or a circle (``turn_rate`` rad/s, + left).

    Why: a captured walk weaves and turns as its person did, and a policy that has not learnt to walk yet
    loses a path that turns continuously (the real walk turns at up to 2.5 rad/s). The walk's slow heading
    (its yaw averaged over ``window_s``, longer than a stride) is taken out and replaced by ``turn_rate``;
    what happens within a stride (the pelvis's yaw swing, each step's sideways sway) is kept.

    The heading is changed frame by frame by turning the whole body about the foot it stands on (the pelvis
    when neither foot is down), as a person turns on the ball of the stance foot, and not while both feet
    are down (the change waits for the next single support): the feet on the ground stay where they are, so
    the correction adds no foot skating (``provenance`` records the stance feet's slide, the
    95th percentile of their speed, which stays the clip's own)."""
    _flat_only(clip, "straightening")
    if not (np.isfinite(window_s) and window_s > 0 and np.isfinite(turn_rate)):
        raise MotionClipError(
            f"motion clip: straighten needs a positive window and a finite turn rate, got {window_s}, "
            f"{turn_rate}"
        )
    from hsi_kernel.contract import FOOT_LINKS

    pos = np.asarray(clip.root_pos, dtype=np.float64)
    quat = np.asarray(clip.root_quat, dtype=np.float64)
    names = list(clip.link_names)
    feet = np.asarray(clip.link_pos, dtype=np.float64)[:, [names.index(f) for f in FOOT_LINKS], :2]
    contacts = np.asarray(clip.contacts, dtype=bool)
    yaw = np.unwrap([_yaw_of(q) for q in quat])
    slow = _smooth(yaw, max(1, int(round(window_s * clip.fps))))
    dyaw = slow[0] + turn_rate * np.arange(len(pos)) / clip.fps - slow  # the heading change per frame
    out = pos.copy()
    applied = np.empty_like(dyaw)
    angle = dyaw[0]
    shift = pos[0, :2] - _rot2(angle) @ pos[0, :2]  # the frame's planar rigid motion: x -> R(angle) x + shift
    for t in range(len(pos)):
        down = contacts[t]
        if t and not down.all():  # with both feet down any turn slides one: it waits for single support
            pivot = feet[t][down][0] if down.any() else pos[t, :2]
            moved = _rot2(angle) @ pivot + shift  # where the pivot is under the previous frame's motion
            # catch up with the heading wanted, half of what is owed per frame (what double support deferred)
            angle += (dyaw[t] - angle) * (0.5 if abs(dyaw[t] - angle) > abs(dyaw[t] - dyaw[t - 1]) else 1.0)
            shift = moved - _rot2(angle) @ pivot
        applied[t] = angle
        out[t, :2] = _rot2(angle) @ pos[t, :2] + shift
    dyaw = applied
    yaw_q = np.stack([np.cos(dyaw / 2), 0 * dyaw, 0 * dyaw, np.sin(dyaw / 2)], axis=-1)
    result = _rebuild(
        clip,
        out,
        _quat_mul(yaw_q, quat),
        clip.joint_pos,
        clip.contacts,
        clip.fps,
        {"kind": "straighten", "window_s": float(window_s), "turn_rate": float(turn_rate)},
    )
    result.provenance["variants"][-1]["stance_foot_slide_m_per_s"] = stance_slide(result)
    return result


def stance_slide(clip: MotionClip) -> float:
    """The 95th percentile horizontal speed (m/s) of a foot the clip marks in contact: how much the clip's
    feet skate."""
    from hsi_kernel.contract import FOOT_LINKS

    names = list(clip.link_names)
    feet = np.asarray(clip.link_pos)[:, [names.index(f) for f in FOOT_LINKS]]
    v = np.linalg.norm(np.diff(feet[..., :2], axis=0), axis=-1) * clip.fps
    stance = np.asarray(clip.contacts)[1:] & np.asarray(clip.contacts)[:-1]
    return float(np.percentile(v[stance], 95)) if stance.any() else 0.0


def loop(clip: MotionClip, repeats: int) -> MotionClip:
    """The clip played ``repeats`` times in a row, each repeat starting where (and heading where) the one
    before ended, so a walk goes on instead of jumping back. The first frame of every later repeat is dropped
    (it stands where the previous repeat's last frame stands). Seams are as smooth as the clip's start and end
    poses are alike: ``provenance`` records the largest joint jump at a seam."""
    _flat_only(clip, "looping")
    if int(repeats) != repeats or repeats < 1:
        raise MotionClipError(f"motion clip: repeats must be a positive integer, got {repeats}")
    pos0, quat0, q0 = (
        np.asarray(a, dtype=np.float64) for a in (clip.root_pos, clip.root_quat, clip.joint_pos)
    )
    parts_pos, parts_quat, parts_q, parts_c = [pos0], [quat0], [q0], [np.asarray(clip.contacts)]
    yaw_step = _yaw_of(quat0[-1]) - _yaw_of(quat0[0])
    for k in range(1, int(repeats)):
        end_pos = parts_pos[-1][-1, :2]
        pos, q = _turned(pos0, quat0, yaw_step * k, pos0[0, :2], end_pos)
        parts_pos.append(pos[1:])
        parts_quat.append(q[1:])
        parts_q.append(q0[1:])
        parts_c.append(np.asarray(clip.contacts)[1:])
    seam = float(np.abs(q0[-1] - q0[1]).max()) if len(q0) > 1 else 0.0
    return _rebuild(
        clip,
        np.concatenate(parts_pos),
        np.concatenate(parts_quat),
        np.concatenate(parts_q),
        np.concatenate(parts_c),
        clip.fps,
        {"kind": "loop", "repeats": int(repeats), "max_seam_joint_jump_rad": seam},
    )


def variants(
    clip: MotionClip,
    mirrored: bool = True,
    speeds: tuple[float, ...] = (),
    headings: tuple[float, ...] = (),
    repeats: int = 1,
    turn_rates: tuple[float, ...] = (),
    original: bool = True,
    window_s: float = 1.0,
) -> dict[str, MotionClip]:
    """Named variants of ``clip``: itself (unless ``original`` is false) and, for each of ``turn_rates``
    (rad/s), its straightened walk along a line (0) or a circle; each of those and (if asked) its mirror
    image, at every speed factor and heading (rad), looped ``repeats`` times. Clips on a terrain get the
    speed variants only."""
    flat = not clip.terrain
    paths = {"": clip} if original or not flat else {}
    for rate in turn_rates if flat else ():
        name = "_straight" if rate == 0 else f"_curve{rate:+g}"
        paths[name] = straighten(clip, window_s, rate)
    bases = dict(paths)
    if mirrored and flat:
        bases.update({f"{k}_mirror": mirror(v) for k, v in paths.items()})
    out: dict[str, MotionClip] = {}
    for bname, base in bases.items():
        for speed in (1.0, *speeds):
            timed = base if speed == 1.0 else retime(base, speed)
            sname = "" if speed == 1.0 else f"_speed{speed:g}"
            for yaw in (0.0, *(headings if flat else ())):
                turned = timed if yaw == 0.0 else turn(timed, yaw)
                hname = "" if yaw == 0.0 else f"_turn{np.degrees(yaw):+.0f}"
                looped = turned if repeats <= 1 or not flat else loop(turned, repeats)
                out[f"{bname}{sname}{hname}".lstrip("_") or "original"] = looped
    return out
