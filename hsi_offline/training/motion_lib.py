"""Motion library: reference clips at the policy rate, as flat torch tensors the environment gathers from.

Clips in the project's format (``hsi_offline.motion.clip``) at any fps are resampled to the policy rate
(50 Hz; slerp for rotations, FK recomputed), then concatenated frame-wise so a reference lookup for all
environments is one gather. Velocities are finite differences at the policy rate, the same rate the
environment measures its own link velocities at, so a perfect tracker has zero velocity error.

Sampling (VideoMimic): a clip's weight follows its recent failure rate relative to the mean, clamped to
[1/3, 3], so clips the policy fails on are practised more without starving the rest.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from hsi_kernel.contract import FOOT_LINKS, TORSO_LINK, TRACKED_LINKS
from hsi_kernel.model.kinematics import fk_links
from hsi_kernel.terrain import Terrain
from hsi_offline.motion import quat as mquat
from hsi_offline.motion.clip import MotionClip, is_motion_clip, load
from hsi_offline.motion.resample import resample


def find_clips(paths: list[str]) -> list[Path]:
    """Expand files and folders (the motion clips among the ``*.npz`` inside: a stage's output folder also
    holds other arrays) into a sorted list; a missing path is a one-line error."""
    out: list[Path] = []
    for p in paths:
        path = Path(p).expanduser()
        if path.is_dir():
            out += [f for f in sorted(path.glob("*.npz")) if is_motion_clip(f)]
        elif path.is_file():
            out.append(path)
        else:
            raise FileNotFoundError(f"motion clip path '{p}' does not exist")
    if not out:
        raise ValueError(f"no motion clips found in {paths}: give .npz clip files or folders holding them")
    return out


def _finite_diff(x: np.ndarray, fps: float) -> np.ndarray:
    """Backward differences (the velocity that led into each frame); the first frame copies the second."""
    v = np.zeros_like(x)
    if len(x) > 1:
        v[1:] = (x[1:] - x[:-1]) * fps
        v[0] = v[1]
    return v


@dataclass
class ClipEntry:
    name: str
    terrain: Terrain | None
    start: int
    length: int


class MotionLibrary:
    """All reference frames of all clips at ``fps`` on ``device``; index with global frame numbers."""

    def __init__(
        self,
        clips: list[MotionClip],
        fps: float = 50.0,
        device: str = "cpu",
        names: list[str] | None = None,
        terrains: list[Terrain | None] | None = None,
        weight_range: tuple[float, float] = (1.0 / 3.0, 3.0),
    ):
        if not clips:
            raise ValueError("the motion library needs at least one clip")
        dof = clips[0].dof
        if any(c.dof != dof for c in clips):
            raise ValueError("all clips of one training run must have the same DoF")
        self.dof, self.fps, self.device = dof, float(fps), device
        self.weight_range = weight_range
        links = list(TRACKED_LINKS) + [TORSO_LINK]
        arrays: dict[str, list[np.ndarray]] = {
            k: []
            for k in (
                "root_pos",
                "root_quat",
                "root_lin_vel",
                "root_ang_vel",
                "joint_pos",
                "joint_vel",
                "link_pos",
                "link_vel",
                "torso_pos",
                "torso_quat",
                "contacts",
            )
        }
        self.entries: list[ClipEntry] = []
        start = 0
        for i, clip in enumerate(clips):
            c = clip if abs(clip.fps - self.fps) < 1e-9 else resample(clip, self.fps)
            pos, quat = fk_links(dof, c.root_pos, c.root_quat, c.joint_pos, links)
            w_world = (
                mquat.angular_velocity_world(c.root_quat, self.fps)
                if c.num_frames > 1
                else np.zeros((c.num_frames, 3))
            )
            w_body = np.einsum("tji,tj->ti", mquat.to_matrix(c.root_quat), w_world)
            arrays["root_pos"].append(c.root_pos)
            arrays["root_quat"].append(c.root_quat)
            arrays["root_lin_vel"].append(_finite_diff(c.root_pos, self.fps))
            arrays["root_ang_vel"].append(w_body)
            arrays["joint_pos"].append(c.joint_pos)
            arrays["joint_vel"].append(_finite_diff(c.joint_pos, self.fps))
            arrays["link_pos"].append(pos[:, :-1])
            arrays["link_vel"].append(_finite_diff(pos[:, :-1], self.fps))
            arrays["torso_pos"].append(pos[:, -1])
            arrays["torso_quat"].append(quat[:, -1])
            arrays["contacts"].append(np.asarray(c.contacts, bool))
            name = names[i] if names else f"clip{i}"
            terrain = terrains[i] if terrains else None
            self.entries.append(ClipEntry(name, terrain, start, c.num_frames))
            start += c.num_frames
        self.frames = {
            k: torch.as_tensor(
                np.concatenate(v), device=device, dtype=torch.bool if k == "contacts" else torch.float32
            )
            for k, v in arrays.items()
        }
        self.clip_start = torch.tensor([e.start for e in self.entries], device=device)
        self.clip_length = torch.tensor([e.length for e in self.entries], device=device)
        self.episodes = torch.zeros(len(self.entries), device=device)
        self.failures = torch.zeros(len(self.entries), device=device)
        self.base_weights = torch.ones(len(self.entries), device=device)  # data mix, before failure weighting

    @classmethod
    def from_paths(
        cls,
        paths: list[str],
        fps: float = 50.0,
        device: str = "cpu",
        weight_range: tuple[float, float] = (1.0 / 3.0, 3.0),
        path_weights: list[float] | None = None,
    ) -> MotionLibrary:
        """Load every clip under ``paths``; ``path_weights`` (one per path, e.g. stage 4's 0.9 video /
        0.1 flat walking) is the share of episodes each path gets, split evenly over its clips."""
        if path_weights is not None and (len(path_weights) != len(paths) or min(path_weights) <= 0):
            raise ValueError(
                f"clip_weights needs one positive weight per clips entry ({len(paths)}), got {path_weights}"
            )
        files, base = [], []
        for k, p in enumerate(paths):
            found = find_clips([p])
            files += found
            w = 1.0 if path_weights is None else float(path_weights[k])
            base += [w / len(found) if path_weights is not None else 1.0] * len(found)
        clips = [load(f) for f in files]
        terrains = [c.load_terrain(f) for c, f in zip(clips, files)]
        lib = cls(clips, fps, device, [f.stem for f in files], terrains, weight_range)
        lib.base_weights = torch.tensor(base, device=device)
        return lib

    @property
    def num_clips(self) -> int:
        return len(self.entries)

    def weights(self) -> torch.Tensor:
        """Per-clip sampling weights: the data mix times a failure-rate factor in ``weight_range`` (the
        factor is 1 until every clip has been tried)."""
        rate = self.failures / self.episodes.clamp(min=1)
        if bool((self.episodes == 0).any()) or float(rate.mean()) <= 0:
            return self.base_weights.clone()
        lo, hi = self.weight_range
        return self.base_weights * (rate / rate.mean()).clamp(lo, hi)

    def sample(
        self,
        n: int,
        clip_ids: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
        allowed: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(clip id, global start frame) for ``n`` episodes; the start is uniform over the clip except its
        last frame (Reference State Initialisation). ``allowed`` (num_clips,) bool restricts the choice."""
        if clip_ids is None:
            w = self.weights()
            if allowed is not None:
                w = w * allowed.float()
            clip_ids = torch.multinomial(w, n, replacement=True, generator=generator)
        length = self.clip_length[clip_ids]
        offset = (torch.rand(n, generator=generator, device=self.device) * (length - 1).clamp(min=1)).long()
        offset = torch.minimum(offset, (length - 2).clamp(min=0))
        return clip_ids, self.clip_start[clip_ids] + offset

    def record(self, clip_ids: torch.Tensor, failed: torch.Tensor, decay: float = 0.99) -> None:
        """Update the failure statistics with finished episodes (exponentially forgetting old ones)."""
        if clip_ids.numel() == 0:
            return
        self.episodes *= decay
        self.failures *= decay
        self.episodes.index_add_(0, clip_ids, torch.ones_like(clip_ids, dtype=torch.float32))
        self.failures.index_add_(0, clip_ids, failed.float())

    def last_frame(self, clip_ids: torch.Tensor) -> torch.Tensor:
        return self.clip_start[clip_ids] + self.clip_length[clip_ids] - 1

    def get(self, frames: torch.Tensor, keys: Iterable[str] | None = None) -> dict[str, torch.Tensor]:
        """The reference state at global frame numbers (N,): every field, or only ``keys``."""
        if keys is None:
            return {k: v[frames] for k, v in self.frames.items()}
        return {k: self.frames[k][frames] for k in keys}

    def success_rate(self) -> torch.Tensor:
        return 1.0 - self.failures / self.episodes.clamp(min=1e-6)


FOOT_INDEX = tuple(TRACKED_LINKS.index(f) for f in FOOT_LINKS)
