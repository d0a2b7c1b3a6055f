"""Default retargeting weights: the one place they live. Presets are named overrides of these defaults.

Each weight multiplies a residual of ``costs.py`` before squaring (jaxls minimises the sum of squares), so
a weight of 10 on a metre-valued residual makes 1 cm cost as much as 10 cm at weight 1. Values were tuned on
the procedural stair and sit clips and the real BVH walk (``hsi-offline bench retarget``); VideoMimic's
released weights (local 8, end effector 5, global 2, self-collision 1, world 0.01, limits 1000, smoothness 10,
skating 10, contact 1) are the starting point, rescaled because our residuals are in metres per keypoint.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import numpy as np


@dataclass(frozen=True)
class RetargetWeights:
    local: float = 8.0  # kinematic-tree edge vectors vs scaled human edges
    rooted: float = 14.0  # keypoints rel. to the pelvis vs the scaled human chain (what kp error measures)
    direction: float = 2.0  # edge direction agreement (scale free)
    world_xy: float = 3.0  # pelvis and feet horizontal positions follow the human
    contact: float = 30.0  # sole on the terrain while the foot is in contact
    clearance: float = 3.0  # swing-foot height above the terrain follows the human's
    penetration: float = 200.0  # any collision point below the terrain surface (60 left 3 cm at nosings)
    self_collision: float = 200.0  # capsule pairs closer than the margin (20: hands into thighs once rooted)
    limits: float = 100.0  # joint range
    skating: float = 40.0  # sole motion while in contact, per frame
    joint_smooth: float = 0.6  # joint velocity per frame
    root_smooth: float = 1.5  # root twist per frame
    scale_reg: float = 1.0  # scales near nominal, symmetric, non-negative
    seam: float = 40.0  # a later window's overlap frames held to the previous window's solution (fading)
    self_margin: float = 0.01  # m: wanted clearance between capsule pairs

    def as_array(self) -> np.ndarray:
        return np.array(list(asdict(self).values()), dtype=np.float64)


PRESETS: dict[str, dict[str, float]] = {
    "default": {},
    "flat": {"penetration": 60.0},  # mocap on flat ground
    "tracking": {"local": 12.0, "direction": 4.0, "skating": 20.0},  # closer to the human, less physical
}


def weights_for(preset: str = "default", **overrides: float) -> RetargetWeights:
    if preset not in PRESETS:
        raise ValueError(f"unknown retarget preset '{preset}': choose one of {', '.join(PRESETS)}")
    return replace(RetargetWeights(), **{**PRESETS[preset], **overrides})


WEIGHT_INDEX = {name: i for i, name in enumerate(asdict(RetargetWeights()))}
