"""The policy observation contract, shared by the training environment and the onboard policy node.

One layout object says which terms, in which order, with which scale and history length; it is written into
every checkpoint and into the ONNX metadata, and the policy node rebuilds the identical vector from it. The
builder is one function over arrays that works on numpy (onboard, batch of 1) and torch (training, batched),
so the two sides cannot drift apart.

Conventions (VideoMimic): proprioceptive frame = [base angular velocity in the pelvis frame x0.25 (3),
projected gravity in the pelvis frame (3), q - q_default (dof), dq x0.05 (dof), last action (dof)]; history
of 5 frames, NEWEST FIRST; then the local root target (x, y in the heading frame, yaw offset), then the 11x11
heightmap (torso height above terrain, metres; order from ``heightmap.sampler``). Teacher observations add the
reference joint angles (dof) and reference root roll/pitch (2).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

PROPRIO_TERMS = ("ang_vel", "projected_gravity", "joint_pos", "joint_vel", "last_action")
COMMAND_TERMS = ("target_xy", "target_yaw")
TEACHER_TERMS = ("ref_joint_pos", "ref_root_roll_pitch")
HEIGHTMAP_TERM = "heightmap"
KNOWN_TERMS = PROPRIO_TERMS + COMMAND_TERMS + TEACHER_TERMS + (HEIGHTMAP_TERM,)


@dataclass(frozen=True)
class ObsTerm:
    name: str
    size: int
    scale: float = 1.0
    history: int = 1  # >1 only for proprioceptive terms, which share one history


@dataclass(frozen=True)
class ObservationLayout:
    """Ordered observation terms. Proprio terms form one frame; ``history`` frames, newest first."""

    dof: int
    history: int = 5
    proprio: tuple[ObsTerm, ...] = ()
    extras: tuple[ObsTerm, ...] = ()  # non-history terms after the proprio history, in order
    heightmap_size: int = 0  # cells (121) when conditioned on the heightmap, else 0
    meta: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def frame_dim(self) -> int:
        return sum(t.size for t in self.proprio)

    @property
    def dim(self) -> int:
        return self.frame_dim * self.history + sum(t.size for t in self.extras) + self.heightmap_size

    def slices(self) -> dict[str, slice]:
        """Where each block sits in the flat vector ('proprio_history', each extra term, 'heightmap')."""
        out, i = {}, self.frame_dim * self.history
        out["proprio_history"] = slice(0, i)
        for t in self.extras:
            out[t.name] = slice(i, i + t.size)
            i += t.size
        if self.heightmap_size:
            out[HEIGHTMAP_TERM] = slice(i, i + self.heightmap_size)
        return out

    def term_names(self) -> tuple[str, ...]:
        return (
            tuple(t.name for t in self.proprio)
            + tuple(t.name for t in self.extras)
            + ((HEIGHTMAP_TERM,) if self.heightmap_size else ())
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "dof": self.dof,
            "history": self.history,
            "history_order": "newest_first",
            "proprio": [asdict(t) for t in self.proprio],
            "extras": [asdict(t) for t in self.extras],
            "heightmap_size": self.heightmap_size,
            "dim": self.dim,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ObservationLayout:
        """Rebuild from metadata, rejecting terms this code cannot compute (one-line ValueError)."""
        try:
            proprio = tuple(ObsTerm(**t) for t in d["proprio"])
            extras = tuple(ObsTerm(**t) for t in d["extras"])
            layout = cls(int(d["dof"]), int(d["history"]), proprio, extras, int(d.get("heightmap_size", 0)))
        except (KeyError, TypeError) as e:
            raise ValueError(f"observation layout metadata is malformed ({e})") from None
        unknown = [t.name for t in proprio + extras if t.name not in KNOWN_TERMS]
        if unknown:
            raise ValueError(f"observation terms {unknown} are not supported by this version of hsi_robot")
        if d.get("history_order", "newest_first") != "newest_first":
            raise ValueError("observation history order must be newest_first")
        if "dim" in d and int(d["dim"]) != layout.dim:
            raise ValueError(f"observation layout says dim {d['dim']} but its terms add up to {layout.dim}")
        return layout


def make_layout(
    dof: int = 23, role: str = "student", heightmap: bool = True, history: int = 5, heightmap_cells: int = 121
) -> ObservationLayout:
    """VideoMimic's layouts. role: 'student' (deployable: proprio, root target, heightmap) or 'teacher'."""
    proprio = (
        ObsTerm("ang_vel", 3, 0.25, history),
        ObsTerm("projected_gravity", 3, 1.0, history),
        ObsTerm("joint_pos", dof, 1.0, history),
        ObsTerm("joint_vel", dof, 0.05, history),
        ObsTerm("last_action", dof, 1.0, history),
    )
    extras = (ObsTerm("target_xy", 2), ObsTerm("target_yaw", 1))
    if role == "teacher":
        extras += (ObsTerm("ref_joint_pos", dof), ObsTerm("ref_root_roll_pitch", 2))
    elif role != "student":
        raise ValueError(f"unknown observation role '{role}': use student or teacher")
    return ObservationLayout(dof, history, proprio, extras, heightmap_cells if heightmap else 0)


# ---- array helpers that work on numpy arrays and torch tensors ------------------------------------------
def _is_torch(x: Any) -> bool:
    return type(x).__module__.startswith("torch")


def _cat(xs: list, axis: int = -1):
    if _is_torch(xs[0]):
        import torch

        return torch.cat(xs, dim=axis)
    return np.concatenate(xs, axis=axis)


def projected_gravity(quat_wxyz):
    """Gravity direction (0, 0, -1) in the body frame, R(q)^T g, for w-x-y-z quaternions (..., 4)."""
    w, x, y, z = quat_wxyz[..., 0], quat_wxyz[..., 1], quat_wxyz[..., 2], quat_wxyz[..., 3]
    gx = -2.0 * (x * z - w * y)
    gy = -2.0 * (y * z + w * x)
    gz = -(1.0 - 2.0 * (x * x + y * y))
    if _is_torch(quat_wxyz):
        import torch

        return torch.stack([gx, gy, gz], dim=-1)
    return np.stack([gx, gy, gz], axis=-1)


def proprio_frame(
    layout: ObservationLayout, ang_vel, quat_wxyz, joint_pos, joint_vel, last_action, default_q
) -> Any:
    """One scaled proprioceptive frame (..., frame_dim). joint_pos is absolute; default_q is subtracted."""
    values = {
        "ang_vel": ang_vel,
        "projected_gravity": projected_gravity(quat_wxyz),
        "joint_pos": joint_pos - default_q,
        "joint_vel": joint_vel,
        "last_action": last_action,
    }
    return _cat([values[t.name] * t.scale for t in layout.proprio])


def push_history(history, frame):
    """Shift a (..., H, frame_dim) history by one and put ``frame`` first (newest first)."""
    return _cat([frame[..., None, :], history[..., :-1, :]], axis=-2)


def reset_history(layout: ObservationLayout, frame):
    """A history filled with copies of ``frame`` (what both sides do at start, so the first step matches)."""
    stacked = [frame[..., None, :]] * layout.history
    return _cat(stacked, axis=-2)


def assemble(layout: ObservationLayout, history, extras: dict[str, Any], heightmap=None):
    """Flat observation (..., dim) = [history flattened newest first, extras in layout order, heightmap]."""
    parts = [history.reshape(*history.shape[:-2], layout.frame_dim * layout.history)]
    for t in layout.extras:
        if t.name not in extras:
            raise ValueError(f"observation term '{t.name}' was not supplied")
        parts.append(extras[t.name] * t.scale)
    if layout.heightmap_size:
        if heightmap is None:
            raise ValueError("observation layout needs a heightmap but none was supplied")
        parts.append(heightmap)
    return _cat(parts)


class ObservationBuilder:
    """Stateful wrapper (history) around the pure functions above, numpy or torch alike."""

    def __init__(self, layout: ObservationLayout, default_q):
        self.layout = layout
        self.default_q = default_q
        self.history = None

    def reset(self) -> None:
        self.history = None

    def __call__(
        self, ang_vel, quat_wxyz, joint_pos, joint_vel, last_action, extras: dict[str, Any], heightmap=None
    ):
        frame = proprio_frame(
            self.layout, ang_vel, quat_wxyz, joint_pos, joint_vel, last_action, self.default_q
        )
        if self.history is None:
            self.history = reset_history(self.layout, frame)
        else:
            self.history = push_history(self.history, frame)
        return assemble(self.layout, self.history, extras, heightmap)
