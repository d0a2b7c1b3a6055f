"""The motion clip: the one file format every stage after retargeting reads (``hsi_robot.motion_clip/1``).

Why a single validated format: VideoMimic's users hit clips whose link-position array was never updated per
frame and an fps field the trainer ignored. Here the link poses are always recomputed with the project's own
forward kinematics when a clip is made, ``validate`` recomputes them again on load and rejects any mismatch,
and fps is a required positive field that ``resample`` honours.

Conventions (stored in the file as ``conventions``):
- world frame: metres, +z up; root = the ``pelvis`` body.
- quaternions: **w-x-y-z**, unit length, sign-canonical (w >= 0) for link quaternions.
- ``joint_pos``: radians, in robot-contract order for ``dof`` (23 or 29), names stored in ``joint_names``.
- ``contacts``: (T, 2) bool, [left foot, right foot].
- ``terrain``: a terrain ``.npz`` (``Terrain.load``) relative to the clip file's folder, or "" for flat.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hsi_kernel.atomic import atomic_path
from hsi_kernel.contract import TRACKED_LINKS, get_contract
from hsi_kernel.model.kinematics import fk_links
from hsi_kernel.terrain import Terrain

from . import quat

MOTION_CLIP_SCHEMA = "hsi_robot.motion_clip/1"
CONVENTIONS = "world z-up metres; quaternions w-x-y-z; root=pelvis; joints in robot-contract order"
LIMIT_TOLERANCE = 1e-3  # rad: beyond this a joint value counts as a limit violation
FK_POS_TOLERANCE = 1e-4  # m: stored vs recomputed link position
FK_ROT_TOLERANCE = 1e-3  # rad: stored vs recomputed link orientation
QUAT_NORM_TOLERANCE = 1e-3


class MotionClipError(ValueError):
    """A motion clip that cannot be used (one-line message naming the problem)."""


@dataclass
class MotionClip:
    """A G1 motion: root trajectory, joint angles, FK link poses, contacts, fps, terrain and provenance."""

    fps: float
    dof: int
    joint_names: tuple[str, ...]
    root_pos: np.ndarray  # (T,3) world metres
    root_quat: np.ndarray  # (T,4) w-x-y-z
    joint_pos: np.ndarray  # (T,dof) rad, contract order
    link_names: tuple[str, ...]
    link_pos: np.ndarray  # (T,L,3)
    link_quat: np.ndarray  # (T,L,4) w-x-y-z
    contacts: np.ndarray  # (T,2) bool, left/right foot
    terrain: str = ""  # terrain npz relative to the clip's folder; "" = flat ground
    provenance: dict = field(default_factory=dict)

    @property
    def num_frames(self) -> int:
        return int(np.asarray(self.root_pos).shape[0])

    @property
    def duration(self) -> float:
        """Seconds from the first to the last frame."""
        return (self.num_frames - 1) / self.fps

    def validate(self) -> MotionClip:
        """Check everything a consumer relies on; raise a one-line ValueError naming the first problem."""
        if not (np.isfinite(self.fps) and self.fps > 0):
            raise MotionClipError(f"motion clip: fps must be a positive number, got {self.fps}")
        if self.dof not in (23, 29):
            raise MotionClipError(f"motion clip: dof must be 23 or 29, got {self.dof}")
        contract = get_contract(self.dof)
        names = tuple(str(n) for n in self.joint_names)
        unknown = [n for n in names if n not in contract.joint_names]
        if unknown:
            raise MotionClipError(
                f"motion clip: unknown joint names for the {self.dof}-DoF G1: {unknown[:3]}"
            )
        if names != contract.joint_names:
            raise MotionClipError(
                f"motion clip: joint_names ({len(names)}) are not the {self.dof}-DoF "
                "contract order; reorder with hsi_offline.motion.joints.to_contract_order"
            )
        T = self.num_frames
        if T < 1:
            raise MotionClipError("motion clip: zero frames")
        L = len(self.link_names)
        shapes = {
            "root_pos": (T, 3),
            "root_quat": (T, 4),
            "joint_pos": (T, self.dof),
            "link_pos": (T, L, 3),
            "link_quat": (T, L, 4),
            "contacts": (T, 2),
        }
        for key, shape in shapes.items():
            got = np.shape(getattr(self, key))
            if got != shape:
                raise MotionClipError(f"motion clip: {key} has shape {got}, expected {shape}")
        for key in ("root_pos", "root_quat", "joint_pos", "link_pos", "link_quat"):
            if not np.all(np.isfinite(getattr(self, key))):
                raise MotionClipError(f"motion clip: {key} contains NaN or inf")
        if np.asarray(self.contacts).dtype != bool:
            raise MotionClipError("motion clip: contacts must be bool (T,2) [left, right]")
        norm_err = np.abs(np.linalg.norm(self.root_quat, axis=1) - 1.0).max()
        if norm_err > QUAT_NORM_TOLERANCE:
            raise MotionClipError(f"motion clip: root_quat is not unit length (error {norm_err:.2g})")
        q = np.asarray(self.joint_pos)
        over = np.maximum(contract.lower - q, q - contract.upper)
        worst = np.unravel_index(np.argmax(over), over.shape)
        if over[worst] > LIMIT_TOLERANCE:
            raise MotionClipError(
                f"motion clip: joint {contract.joint_names[worst[1]]} exceeds its limit by "
                f"{over[worst]:.3g} rad at frame {worst[0]}"
            )
        pos, rot = fk_links(self.dof, self.root_pos, self.root_quat, self.joint_pos, self.link_names)
        pos_err = np.linalg.norm(pos - self.link_pos, axis=-1)
        rot_err = quat.angle_between(rot, self.link_quat)
        if pos_err.max() > FK_POS_TOLERANCE or rot_err.max() > FK_ROT_TOLERANCE:
            t, li = np.unravel_index(np.argmax(pos_err + rot_err), pos_err.shape)
            raise MotionClipError(
                f"motion clip: stored link poses disagree with forward kinematics (link "
                f"{self.link_names[li]}, frame {t}: {pos_err[t, li] * 100:.3g} cm, "
                f"{np.degrees(rot_err[t, li]):.3g} deg)"
            )
        return self

    def terrain_path(self, clip_path: str | Path) -> Path | None:
        """Absolute path of the terrain file, resolved against the clip file's folder (None = flat)."""
        if not self.terrain:
            return None
        return (Path(clip_path).parent / self.terrain).resolve()

    def load_terrain(self, clip_path: str | Path) -> Terrain | None:
        path = self.terrain_path(clip_path)
        return None if path is None else Terrain.load(path)

    def save(self, path: str | Path) -> Path:
        """Validate, then write an ``.npz`` atomically (temp file in the same folder + os.replace)."""
        self.validate()
        path = Path(path)
        with atomic_path(path, ".npz") as tmp:
            np.savez(
                tmp,
                schema=MOTION_CLIP_SCHEMA,
                conventions=CONVENTIONS,
                fps=np.float64(self.fps),
                dof=np.int64(self.dof),
                joint_names=np.array(self.joint_names),
                root_pos=np.asarray(self.root_pos, np.float64),
                root_quat=np.asarray(self.root_quat, np.float64),
                joint_pos=np.asarray(self.joint_pos, np.float64),
                link_names=np.array(self.link_names),
                link_pos=np.asarray(self.link_pos, np.float64),
                link_quat=np.asarray(self.link_quat, np.float64),
                contacts=np.asarray(self.contacts, bool),
                terrain=str(self.terrain),
                provenance=json.dumps(self.provenance, sort_keys=True, default=str),
            )
        return path


_REQUIRED = (
    "schema",
    "fps",
    "dof",
    "joint_names",
    "root_pos",
    "root_quat",
    "joint_pos",
    "link_names",
    "link_pos",
    "link_quat",
    "contacts",
    "terrain",
    "provenance",
)


def is_motion_clip(path: str | Path) -> bool:
    """Whether ``path`` is an ``.npz`` carrying the motion-clip schema (read without loading its arrays).

    Why: a stage's output folder holds other ``.npz`` files beside its clips (a retarget folder's
    ``retarget_human.npz``, a reconstruction's ``human_motion.npz`` and ``terrain.npz``); a folder given as
    clips must yield its clips only, while a single file named explicitly is still checked by ``load``.
    """
    path = Path(path)
    if path.suffix != ".npz" or not path.is_file():
        return False
    try:
        with np.load(path, allow_pickle=False) as f:
            return "schema" in f.files and str(f["schema"]) == MOTION_CLIP_SCHEMA
    except Exception:  # not a readable npz: not a clip
        return False


def load(path: str | Path, validate: bool = True) -> MotionClip:
    """Read a motion clip ``.npz``; by default also ``validate`` it (FK, limits, fps, shapes)."""
    path = Path(path)
    if not path.is_file():
        raise MotionClipError(f"motion clip '{path}' does not exist")
    try:
        with np.load(path, allow_pickle=False) as f:
            missing = [k for k in _REQUIRED if k not in f.files]
            if missing:
                raise MotionClipError(
                    f"motion clip '{path}' lacks {missing} (is it a {MOTION_CLIP_SCHEMA} file?)"
                )
            if str(f["schema"]) != MOTION_CLIP_SCHEMA:
                raise MotionClipError(
                    f"motion clip '{path}' has schema {f['schema']}, expected {MOTION_CLIP_SCHEMA}"
                )
            clip = MotionClip(
                fps=float(f["fps"]),
                dof=int(f["dof"]),
                joint_names=tuple(str(n) for n in f["joint_names"]),
                root_pos=f["root_pos"],
                root_quat=f["root_quat"],
                joint_pos=f["joint_pos"],
                link_names=tuple(str(n) for n in f["link_names"]),
                link_pos=f["link_pos"],
                link_quat=f["link_quat"],
                contacts=f["contacts"],
                terrain=str(f["terrain"]),
                provenance=json.loads(str(f["provenance"]) or "{}"),
            )
    except MotionClipError:
        raise
    except Exception as e:  # corrupt zip / npy, wrong dtype
        raise MotionClipError(
            f"motion clip '{path}' is not a readable npz ({type(e).__name__}: {e})"
        ) from None
    return clip.validate() if validate else clip


def make_clip(
    fps: float,
    root_pos: np.ndarray,
    root_quat: np.ndarray,
    joint_pos: np.ndarray,
    dof: int,
    contacts: np.ndarray | None = None,
    terrain: str = "",
    provenance: dict | None = None,
    link_names: tuple[str, ...] = TRACKED_LINKS,
) -> MotionClip:
    """Build a valid clip from root and joint trajectories: link poses come from the contract model's FK.

    ``contacts`` default: a foot is in contact when its ankle-roll link is within 3 cm of its lowest
    height in the clip and moves slower than 0.2 m/s (a plain kinematic rule for clips that carry none).
    """
    root_pos = np.asarray(root_pos, dtype=np.float64)
    root_quat = np.asarray(root_quat, dtype=np.float64)
    joint_pos = np.asarray(joint_pos, dtype=np.float64)
    if root_pos.ndim != 2 or root_pos.shape[0] == 0:
        raise MotionClipError(f"motion clip: root_pos must be (T,3) with T >= 1, got {root_pos.shape}")
    for key, arr in (("root_pos", root_pos), ("root_quat", root_quat), ("joint_pos", joint_pos)):
        if not np.all(np.isfinite(arr)):
            raise MotionClipError(f"motion clip: {key} contains NaN or inf")
    if joint_pos.ndim != 2 or joint_pos.shape[1] != get_contract(dof).dof:
        raise MotionClipError(
            f"motion clip: joint_pos must be (T,{dof}) in contract order, got {joint_pos.shape}"
        )
    root_quat = quat.canonical(quat.normalize(root_quat))
    link_pos, link_quat = fk_links(dof, root_pos, root_quat, joint_pos, link_names)
    if contacts is None:
        contacts = kinematic_contacts(dof, root_pos, root_quat, joint_pos, fps)
    clip = MotionClip(
        float(fps),
        dof,
        get_contract(dof).joint_names,
        root_pos,
        root_quat,
        joint_pos,
        tuple(link_names),
        link_pos,
        link_quat,
        np.asarray(contacts, dtype=bool),
        terrain,
        dict(provenance or {}),
    )
    return clip.validate()


def kinematic_contacts(
    dof: int,
    root_pos: np.ndarray,
    root_quat: np.ndarray,
    joint_pos: np.ndarray,
    fps: float,
    height_margin: float = 0.03,
    max_speed: float = 0.2,
) -> np.ndarray:
    """(T,2) contact guess from foot height above its clip minimum and foot speed."""
    from hsi_kernel.contract import FOOT_LINKS

    pos, _ = fk_links(dof, root_pos, root_quat, joint_pos, FOOT_LINKS)
    z = pos[..., 2]
    speed = np.zeros(z.shape)
    if len(z) > 1:
        v = np.linalg.norm(np.diff(pos, axis=0), axis=-1) * fps
        speed[1:], speed[0] = v, v[0]
    return (z <= z.min(axis=0) + height_margin) & (speed <= max_speed)
