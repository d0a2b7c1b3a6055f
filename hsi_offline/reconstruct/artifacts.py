"""The clip folder's files: versioned, validated, written atomically.

``human_motion.npz`` is the contract with retargeting (hsi_offline/retarget reads it); ``camera.npz`` keeps
the camera so views can reproject; ``report.json`` holds the quality figures. Every writer goes through
``atomic_path`` so an interrupted run never leaves a half file a later stage would accept.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hsi_kernel.atomic import atomic_path

HUMAN_MOTION_SCHEMA = "hsi_robot.human_motion/1"
CAMERA_SCHEMA = "hsi_robot.camera/1"
REPORT_SCHEMA = "hsi_robot.reconstruct_report/1"


@dataclass
class HumanMotion:
    """World-frame human motion: +z up, metres, the ground under the start near z = 0."""

    joints: np.ndarray  # (T, J, 3)
    joint_names: tuple[str, ...]
    contacts: np.ndarray  # (T, 2) bool: left, right foot on a support
    confidences: np.ndarray  # (T, J) in [0, 1]
    fps: float
    valid: np.ndarray  # (T,) bool: the person was tracked in this frame (others are interpolated)
    extras: dict[str, np.ndarray] = field(default_factory=dict)  # e.g. calibrated hip_centre (T, 3)

    def __post_init__(self) -> None:
        self.joints = np.asarray(self.joints, dtype=np.float64)
        self.joint_names = tuple(str(n) for n in self.joint_names)
        self.contacts = np.asarray(self.contacts, dtype=bool)
        self.confidences = np.asarray(self.confidences, dtype=np.float64)
        self.valid = np.asarray(self.valid, dtype=bool)
        validate_human_motion(self)

    @property
    def num_frames(self) -> int:
        return int(self.joints.shape[0])


def validate_human_motion(m: HumanMotion, where: str = "human motion") -> None:
    """Raise ValueError with one actionable line when any array disagrees with the schema."""
    if m.joints.ndim != 3 or m.joints.shape[2] != 3 or m.joints.shape[0] < 2:
        raise ValueError(f"{where}: joints must be (T>=2, J, 3), got {m.joints.shape}")
    T, J, _ = m.joints.shape
    if len(m.joint_names) != J:
        raise ValueError(f"{where}: {len(m.joint_names)} joint names for {J} joints")
    if not np.all(np.isfinite(m.joints)):
        raise ValueError(f"{where}: joints contain NaN or inf")
    if m.contacts.shape != (T, 2):
        raise ValueError(f"{where}: contacts must be (T, 2) = ({T}, 2), got {m.contacts.shape}")
    if m.confidences.shape != (T, J) or not np.all((m.confidences >= 0) & (m.confidences <= 1)):
        raise ValueError(f"{where}: confidences must be (T, J) = ({T}, {J}) in [0, 1]")
    if m.valid.shape != (T,):
        raise ValueError(f"{where}: valid must be (T,) = ({T},), got {m.valid.shape}")
    if not (np.isfinite(m.fps) and 1.0 <= m.fps <= 1000.0):
        raise ValueError(f"{where}: fps {m.fps} outside 1..1000")
    for k, v in m.extras.items():
        if np.asarray(v).shape[:1] != (T,):
            raise ValueError(f"{where}: extra '{k}' must have T={T} rows")


def save_human_motion(m: HumanMotion, path: str | Path) -> Path:
    validate_human_motion(m)
    path = Path(path)
    with atomic_path(path, ".npz") as tmp:
        np.savez(
            tmp,
            schema=HUMAN_MOTION_SCHEMA,
            joints=m.joints.astype(np.float32),
            joint_names=np.array(m.joint_names),
            contacts=m.contacts,
            confidences=m.confidences.astype(np.float32),
            fps=np.float64(m.fps),
            valid=m.valid,
            **{f"extra_{k}": np.asarray(v, dtype=np.float32) for k, v in m.extras.items()},
        )
    return path


def load_human_motion(path: str | Path) -> HumanMotion:
    """Read and validate ``human_motion.npz`` (schema ``hsi_robot.human_motion/1``)."""
    path = Path(path)
    if path.is_dir():
        path = path / "human_motion.npz"
    if not path.is_file():
        raise FileNotFoundError(
            f"human motion file '{path}' does not exist (run `hsi-offline reconstruct` first)"
        )
    try:
        with np.load(path, allow_pickle=False) as f:
            schema = str(f["schema"]) if "schema" in f.files else "<none>"
            if schema != HUMAN_MOTION_SCHEMA:
                raise ValueError(f"'{path}' has schema {schema}, expected {HUMAN_MOTION_SCHEMA}")
            missing = {"joints", "joint_names", "contacts", "confidences", "fps", "valid"} - set(f.files)
            if missing:
                raise ValueError(f"'{path}' lacks {sorted(missing)}")
            extras = {k[6:]: np.asarray(f[k], dtype=np.float64) for k in f.files if k.startswith("extra_")}
            return HumanMotion(
                np.asarray(f["joints"]),
                tuple(f["joint_names"].tolist()),
                np.asarray(f["contacts"]),
                np.asarray(f["confidences"]),
                float(f["fps"]),
                np.asarray(f["valid"]),
                extras,
            )
    except ValueError as e:
        if str(path) in str(e):
            raise
        raise ValueError(f"'{path}' is not a valid human motion file ({e})") from None
    except Exception as e:  # zip / npy corruption
        raise ValueError(f"'{path}' is not a readable human motion npz ({e})") from None


@dataclass
class CameraTrack:
    """Pinhole intrinsics and per-frame world-from-camera poses (OpenCV axes: x right, y down, z forward)."""

    K: np.ndarray  # (3, 3)
    R_wc: np.ndarray  # (T, 3, 3)
    t_wc: np.ndarray  # (T, 3) camera centre in the world
    width: int
    height: int
    static: bool

    def project(self, X_world: np.ndarray) -> np.ndarray:
        """Pixels (T, J, 2) of world points (T, J, 3)."""
        Xc = np.einsum("tki,tjk->tji", self.R_wc, X_world - self.t_wc[:, None, :])
        uv = Xc[..., :2] / np.maximum(Xc[..., 2:3], 1e-6)
        return uv @ self.K[:2, :2].T + self.K[:2, 2]


PERSON_BOX_SCHEMA = "hsi_robot.person_box/1"


def save_person_box(boxes: np.ndarray, path: str | Path, rule: str = "only person") -> Path:
    """The kept person's image box per frame: (T, 4) x0, y0, x1, y1 in pixels of the upright video frame
    (NaN where the person was not tracked), and the rule that chose the person."""
    b = np.asarray(boxes, dtype=np.float32)
    if b.ndim != 2 or b.shape[1] != 4:
        raise ValueError(f"person boxes for '{path}' must be (T, 4), got {b.shape}")
    with atomic_path(path, ".npz") as tmp:
        np.savez(tmp, schema=PERSON_BOX_SCHEMA, boxes=b, rule=str(rule))
    return Path(path)


def save_camera(cam: CameraTrack, path: str | Path) -> Path:
    with atomic_path(path, ".npz") as tmp:
        np.savez(
            tmp,
            schema=CAMERA_SCHEMA,
            K=cam.K,
            R_wc=cam.R_wc,
            t_wc=cam.t_wc,
            width=cam.width,
            height=cam.height,
            static=cam.static,
        )
    return Path(path)


def load_camera(path: str | Path) -> CameraTrack:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"camera file '{path}' does not exist")
    with np.load(path, allow_pickle=False) as f:
        if str(f["schema"]) != CAMERA_SCHEMA:
            raise ValueError(f"'{path}' has schema {f['schema']}, expected {CAMERA_SCHEMA}")
        return CameraTrack(f["K"], f["R_wc"], f["t_wc"], int(f["width"]), int(f["height"]), bool(f["static"]))


def write_json(data: dict, path: str | Path) -> Path:
    with atomic_path(path, ".json") as tmp:
        tmp.write_text(json.dumps(data, indent=2, default=_json_default) + "\n")
    return Path(path)


def _json_default(o: object) -> object:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON serialisable: {type(o)}")
