"""Human motion, reduced to the 15 retargeting keypoints, and the generic "keypoints npz" reader.

The keypoints npz is where the reconstruction stage and retargeting meet (``human_motion.npz`` in a clip
folder, with an optional ``terrain.npz`` beside it, readable by ``Terrain.load``). Keys:
- ``joints`` (T, J, 3) float: world positions, metres, +z up;
- ``joint_names`` (J,) str: BlazePose-33, SMPL-24 (or SMPL-45's first 24) names, or the 15 names of
  ``keypoint_skeleton.KEYPOINTS``; other names are ignored;
- ``fps`` scalar > 0;
- optional ``contacts`` (T, 2) bool [left, right foot], ``confidences`` (T, J) in [0, 1].
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from hsi_kernel.atomic import atomic_path
from hsi_kernel.terrain import Terrain

# The reconstruction stage owns the human-motion format and the joint name tables; retargeting reads them.
from hsi_offline.reconstruct.artifacts import HUMAN_MOTION_SCHEMA  # noqa: F401  (re-exported)
from hsi_offline.reconstruct.body_skeleton import BLAZEPOSE_33, SMPL_24  # noqa: F401  (re-exported)

from .keypoint_skeleton import FOOT_KEYPOINTS, KEYPOINTS, TOE_KEYPOINTS

# Source name -> keypoint, for names that differ from the keypoint's own (which always map to themselves).
ALIASES = {
    "left_foot": "left_toe",
    "right_foot": "right_toe",  # SMPL "foot" is the ball of the foot
    "left_foot_index": "left_toe",
    "right_foot_index": "right_toe",  # BlazePose
}


@dataclass
class HumanKeypointMotion:
    """15 keypoints per frame (``keypoint_skeleton.KEYPOINTS``), with confidences, contacts and terrain:
    what the retargeting solve reads. The reconstruction's own output (every named joint,
    ``reconstruct.artifacts.HumanMotion``) is reduced to this by ``load_keypoints_npz`` or
    ``to_keypoints``."""

    fps: float
    keypoints: np.ndarray  # (T,15,3) world metres, +z up
    confidence: np.ndarray  # (T,15) 0 = missing
    contacts: np.ndarray  # (T,2) bool [left, right]
    terrain: Terrain | None = None
    source: str = ""

    @property
    def num_frames(self) -> int:
        return int(self.keypoints.shape[0])

    def validate(self) -> HumanKeypointMotion:
        T = self.num_frames
        if T < 1:
            raise ValueError(f"human motion '{self.source}': zero frames")
        if not (np.isfinite(self.fps) and self.fps > 0):
            raise ValueError(f"human motion '{self.source}': fps must be positive, got {self.fps}")
        if self.keypoints.shape != (T, len(KEYPOINTS), 3) or self.confidence.shape != (T, len(KEYPOINTS)):
            raise ValueError(
                f"human motion '{self.source}': keypoints must be (T,15,3), got {self.keypoints.shape}"
            )
        if self.contacts.shape != (T, 2):
            raise ValueError(
                f"human motion '{self.source}': contacts must be (T,2), got {self.contacts.shape}"
            )
        if not np.all(np.isfinite(self.keypoints)):
            raise ValueError(f"human motion '{self.source}': keypoints contain NaN or inf")
        for need in ("pelvis", "left_hip", "right_hip", "left_ankle", "right_ankle"):
            if self.confidence[:, KEYPOINTS.index(need)].max() <= 0:
                raise ValueError(f"human motion '{self.source}': keypoint '{need}' is missing in every frame")
        return self


def to_keypoints(
    joints: np.ndarray,
    names: list[str] | tuple[str, ...],
    confidences: np.ndarray | None = None,
    source: str = "input",
) -> tuple[np.ndarray, np.ndarray]:
    """(T,J,3) named joints -> (T,15,3) keypoints and (T,15) confidences (0 where the input lacks one)."""
    joints = np.asarray(joints, dtype=np.float64)
    names = [str(n) for n in names]
    if joints.ndim != 3 or joints.shape[2] != 3 or joints.shape[1] != len(names):
        raise ValueError(
            f"{source}: joints must be (T, J, 3) with J = len(joint_names) = {len(names)}, got {joints.shape}"
        )
    if joints.shape[0] == 0:
        raise ValueError(f"{source}: zero frames")
    if not np.all(np.isfinite(joints)):
        raise ValueError(
            f"{source}: joints contain NaN or inf (mark missing joints with confidence 0 instead)"
        )
    conf_in = np.ones(joints.shape[:2]) if confidences is None else np.asarray(confidences, dtype=np.float64)
    T = joints.shape[0]
    kp = np.zeros((T, len(KEYPOINTS), 3))
    conf = np.zeros((T, len(KEYPOINTS)))
    for j, name in enumerate(names):
        target = ALIASES.get(name, name)
        if target in KEYPOINTS:
            k = KEYPOINTS.index(target)
            kp[:, k], conf[:, k] = joints[:, j], conf_in[:, j]
    if "pelvis" not in names and {"left_hip", "right_hip"} <= set(names):  # BlazePose has no pelvis
        li, ri = names.index("left_hip"), names.index("right_hip")
        kp[:, 0] = 0.5 * (joints[:, li] + joints[:, ri])
        conf[:, 0] = np.minimum(conf_in[:, li], conf_in[:, ri])
    known = sum(1 for n in names if ALIASES.get(n, n) in KEYPOINTS)
    if known < 9:
        raise ValueError(
            f"{source}: only {known} of the joint names are known keypoints (BlazePose-33, SMPL-24 "
            "or hsi keypoint names expected)"
        )
    return kp, conf


def robot_sized(motion: HumanKeypointMotion, factor: float) -> HumanKeypointMotion:
    """The same motion scaled uniformly by ``factor`` about the ground point under the first frame's pelvis
    (flat ground only): a person of the robot's size, with a stride and a path to match.

    Why: the solve sizes the body (pelvis-to-foot offsets scaled to the robot's legs) and pins each stance
    foot, so a person's full-size path asks a shorter-legged robot to cover a human's stride with a robot's
    step. The pinned feet hold the pelvis back through each stance and the whole body snaps forward when
    the pin releases (0.1-0.15 m in one frame, twice a step, on a 1.7 m/s walk): a reference no robot can
    follow. Scaling the whole person keeps every stance foot still and every proportion."""
    pelvis = motion.keypoints[0, KEYPOINTS.index("pelvis")]
    ground = motion.terrain.height_at(pelvis[None, :2])[0] if motion.terrain is not None else 0.0
    origin = np.array([pelvis[0], pelvis[1], ground])
    kp = origin + factor * (motion.keypoints - origin)
    return replace(motion, keypoints=kp)


def estimate_contacts(
    keypoints: np.ndarray,
    fps: float,
    terrain: Terrain | None,
    height_margin: float = 0.05,
    max_speed: float = 0.25,
) -> np.ndarray:
    """(T,2) foot contacts: the lower of ankle/toe near its resting height above the terrain and slow."""
    T = keypoints.shape[0]
    out = np.zeros((T, 2), dtype=bool)
    for side in range(2):
        pts = keypoints[:, [FOOT_KEYPOINTS[side], TOE_KEYPOINTS[side]]]  # (T,2,3)
        ground = terrain.height_at(pts[..., :2]) if terrain is not None else np.zeros(pts.shape[:2])
        clearance = (pts[..., 2] - ground).min(axis=1)
        rest = np.percentile(clearance, 5)
        speed = np.zeros(T)
        if T > 1:
            v = np.linalg.norm(np.diff(pts.mean(axis=1), axis=0), axis=-1) * fps
            speed[1:], speed[0] = v, v[0]
        out[:, side] = (clearance <= rest + height_margin) & (speed <= max_speed)
    return out


def load_keypoints_npz(path: str | Path, terrain: Terrain | None = None) -> HumanKeypointMotion:
    """Read a keypoints npz (see module doc); a ``terrain.npz`` beside it is used unless one is given."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"keypoints npz '{path}' does not exist")
    try:
        f = np.load(path, allow_pickle=False)
    except Exception as e:
        raise ValueError(f"keypoints npz '{path}' is not readable ({type(e).__name__})") from None
    with f:
        missing = {"joints", "joint_names", "fps"} - set(f.files)
        if missing:
            raise ValueError(f"keypoints npz '{path}' lacks {sorted(missing)}")
        fps = float(np.asarray(f["fps"]).reshape(-1)[0])
        kp, conf = to_keypoints(
            f["joints"],
            list(f["joint_names"]),
            f["confidences"] if "confidences" in f.files else None,
            source=str(path),
        )
        contacts = np.asarray(f["contacts"], dtype=bool) if "contacts" in f.files else None
        # The reconstruction stage also writes calibrated hip joint centres (BlazePose's "hips" are surface
        # landmarks) and a per-frame ``valid`` flag (other frames are interpolated): use both when present.
        for key, k in (
            ("extra_left_hip", "left_hip"),
            ("extra_right_hip", "right_hip"),
            ("extra_hip_centre", "pelvis"),
        ):
            if key in f.files and f[key].shape == kp[:, 0].shape and np.all(np.isfinite(f[key])):
                kp[:, KEYPOINTS.index(k)] = f[key]
        if "valid" in f.files and f["valid"].shape == (kp.shape[0],) and np.asarray(f["valid"]).any():
            conf = conf * np.asarray(f["valid"], dtype=bool)[:, None]
    if terrain is None and (path.parent / "terrain.npz").is_file():
        terrain = Terrain.load(path.parent / "terrain.npz")
    if contacts is None:
        contacts = estimate_contacts(kp, fps, terrain)
    return HumanKeypointMotion(fps, kp, conf, contacts, terrain, str(path)).validate()


def save_keypoints_npz(motion: HumanKeypointMotion, path: str | Path) -> Path:
    """Write ``motion`` as a keypoints npz (15 hsi keypoint names), atomically; terrain is not written."""
    path = Path(path)
    with atomic_path(path, ".npz") as tmp:
        np.savez(
            tmp,
            schema=HUMAN_MOTION_SCHEMA,
            joints=motion.keypoints,
            joint_names=np.array(KEYPOINTS),
            fps=np.float64(motion.fps),
            contacts=motion.contacts,
            confidences=motion.confidence,
        )
    return path


def resample_human(motion: HumanKeypointMotion, fps_out: float) -> HumanKeypointMotion:
    """Linear resampling of keypoints (nearest frame for contacts/confidences) to ``fps_out``."""
    T = motion.num_frames
    t_in = np.arange(T) / motion.fps
    n_out = int(np.floor((T - 1) / motion.fps * fps_out + 1e-6)) + 1
    t_out = np.arange(n_out) / fps_out
    flat = motion.keypoints.reshape(T, -1)
    kp = np.stack([np.interp(t_out, t_in, flat[:, k]) for k in range(flat.shape[1])], axis=1)
    near = np.clip(np.rint(t_out * motion.fps).astype(np.int64), 0, T - 1)
    return HumanKeypointMotion(
        fps_out,
        kp.reshape(n_out, len(KEYPOINTS), 3),
        motion.confidence[near],
        motion.contacts[near],
        motion.terrain,
        motion.source,
    )
