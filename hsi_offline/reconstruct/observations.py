"""What perception (or an importer, or the synthetic benchmark) hands to the fitter: one dataclass.

Keeping this boundary explicit is what lets the benchmark run "the same fitting code as the video path":
MediaPipe, the SMPL importer and the synthetic renderer all produce `Observations`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from hsi_offline.reconstruct.body_skeleton import Skeleton


@dataclass
class Observations:
    """Per-frame 2D keypoints, lifted root-relative 3D joints (camera axes, metres) and their confidences."""

    skeleton: Skeleton
    uv: np.ndarray  # (T, J, 2) pixels
    conf2d: np.ndarray  # (T, J) 0..1 (0 where unseen)
    lifted: (
        np.ndarray
    )  # (T, J, 3) joints minus hip midpoint, camera axes (x right, y down, z forward), metres
    conf3d: np.ndarray  # (T, J)
    valid: np.ndarray  # (T,) person tracked in the frame
    K: np.ndarray  # (3, 3) intrinsics
    width: int
    height: int
    fps: float
    masks: list[np.ndarray | None] = field(default_factory=list)  # optional per-frame person masks (small)
    # optional (T, 4) image box of the kept person (x0, y0, x1, y1 pixels; NaN where untracked)
    boxes: np.ndarray | None = None

    def __post_init__(self) -> None:
        T, J = self.uv.shape[:2]
        if len(self.skeleton.joint_names) != J:
            raise ValueError(
                f"observations have {J} joints, skeleton {self.skeleton.name} has "
                f"{len(self.skeleton.joint_names)}"
            )
        for name, a, shape in (
            ("conf2d", self.conf2d, (T, J)),
            ("lifted", self.lifted, (T, J, 3)),
            ("conf3d", self.conf3d, (T, J)),
            ("valid", self.valid, (T,)),
        ):
            if np.shape(a) != shape:
                raise ValueError(f"observations: {name} must be {shape}, got {np.shape(a)}")
        self.valid = np.asarray(self.valid, dtype=bool)
        self.conf2d = np.where(self.valid[:, None], np.nan_to_num(self.conf2d), 0.0)
        self.conf3d = np.where(self.valid[:, None], np.nan_to_num(self.conf3d), 0.0)
        self.uv = np.nan_to_num(np.asarray(self.uv, dtype=np.float64))
        self.lifted = np.nan_to_num(np.asarray(self.lifted, dtype=np.float64))

    @property
    def num_frames(self) -> int:
        return int(self.uv.shape[0])
