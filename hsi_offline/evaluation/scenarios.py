"""The evaluation scenarios: a scene, a scripted root path, and what counts as done.

Why a time-parameterised root path and not stick positions: VideoMimic's policy input is a root *target*
(x, y in the heading frame, yaw offset), and training builds it from the next frame of a reference root path.
A scripted path ``p(t)`` in the robot's start frame is therefore the one command both sides can be given
identically: the training environment gets it as the reference root it was trained to follow, the deployed
stack gets the same path as goal poses on ``/goal_pose`` that the joystick node's goal mode turns into the
root target (with its clamp, dead band and rate limit). The ground truth of both is then compared with the
same ``p(t)``.

Every scene (``hsi_kernel.terrain.make_scene_terrain``) starts the robot at (0, 0) facing +x; the paths
are written against that terrain (stairs begin at x = 1.0, the landing spans 1.9..3.4 m, the kerb is at 1.0,
the kerb_up_down strip spans x = 1.0..2.0 m, the bench seat spans x = -0.55..-0.15 at 0.42 m). Times are
seconds after the policy took over.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass, replace

import numpy as np

SIT_MAX_PELVIS_Z = 0.62
"""Pelvis at or below this height above the floor counts as seated (standing: 0.77 m; on the 0.42 m seat
a seated G1's pelvis is about 0.5 m up)."""


@dataclass(frozen=True)
class Scenario:
    """One scripted run. ``keyframes``: (t s, x m, y m, yaw rad) in the start frame, linearly interpolated
    and held after the last one."""

    name: str
    scene: str
    description: str
    keyframes: tuple[tuple[float, float, float, float], ...]
    duration_s: float
    goal_tolerance_m: float = 0.3  # final pelvis xy within this of the path's end
    goal_yaw_tolerance_rad: float = math.inf  # final heading within this of the path's end (turns)
    stand_min_height_m: float = 0.6  # final pelvis height above the terrain at least this (not collapsed)
    fall_height_m: float = 0.35  # pelvis lower than this above the terrain below it = fallen (0: unused)
    fall_tilt_rad: float = 1.0  # the bridge's own tilt limit
    must_sit: bool = False  # the pelvis must get down to SIT_MAX_PELVIS_Z (above the floor) at some point
    lookahead_s: float = 0.02  # the command is p(t + lookahead): one policy frame ahead, as in training

    def __post_init__(self) -> None:
        ts = [k[0] for k in self.keyframes]
        if not self.keyframes or ts[0] != 0.0 or any(b < a for a, b in zip(ts, ts[1:])):
            raise ValueError(f"scenario '{self.name}': keyframe times must start at 0 and not decrease")
        if self.duration_s <= 0:
            raise ValueError(f"scenario '{self.name}': duration must be positive")

    def scaled(self, factor: float) -> Scenario:
        """The same path played ``factor`` times as long (factor < 1: shorter and faster, for tests)."""
        if not (math.isfinite(factor) and factor > 0):
            raise ValueError(f"duration scale must be a positive number, got {factor}")
        return replace(
            self,
            keyframes=tuple((t * factor, x, y, yaw) for t, x, y, yaw in self.keyframes),
            duration_s=self.duration_s * factor,
        )

    def path_at(self, t: np.ndarray | float) -> np.ndarray:
        """(..., 3) commanded root pose (x, y, yaw) in the start frame at times ``t`` (s)."""
        k = np.asarray(self.keyframes, dtype=np.float64)
        tt = np.asarray(t, dtype=np.float64)
        return np.stack([np.interp(tt, k[:, 0], k[:, i]) for i in (1, 2, 3)], axis=-1)

    @property
    def goal(self) -> np.ndarray:
        """The path's end pose (x, y, yaw) in the start frame."""
        return np.asarray(self.keyframes[-1][1:], dtype=np.float64)

    @property
    def path_length_m(self) -> float:
        k = np.asarray(self.keyframes, dtype=np.float64)
        return float(np.sum(np.hypot(np.diff(k[:, 1]), np.diff(k[:, 2]))))


def _arc(radius: float, t0: float, t1: float, n: int = 10) -> tuple[tuple[float, float, float, float], ...]:
    """A quarter circle to the left, from the start pose facing +x, heading along the tangent."""
    out = []
    for k in range(1, n + 1):
        th = 0.5 * math.pi * k / n
        out.append((t0 + (t1 - t0) * k / n, radius * math.sin(th), radius * (1 - math.cos(th)), th))
    return tuple(out)


SCENARIOS: tuple[Scenario, ...] = (
    # the baseline every shipped policy must pass before any walking: hold the start pose on flat ground
    Scenario(
        "stand",
        "flat",
        "stand still on flat ground for 10 s (root target: the start pose)",
        ((0.0, 0.0, 0.0, 0.0),),
        10.0,
        goal_tolerance_m=0.15,
    ),
    Scenario(
        "flat",
        "flat",
        "walk 2 m forward on flat ground (0.4 m/s), then stand",
        ((0.0, 0.0, 0.0, 0.0), (0.5, 0.0, 0.0, 0.0), (5.5, 2.0, 0.0, 0.0)),
        7.0,
    ),
    Scenario(
        "stairs_up",
        "stairs",
        "walk 2.6 m forward up four 0.15 m steps onto the landing (0.3 m/s)",
        ((0.0, 0.0, 0.0, 0.0), (0.5, 0.0, 0.0, 0.0), (9.0, 2.6, 0.0, 0.0)),
        10.5,
    ),
    Scenario(
        "stairs_down",
        "stairs_down",
        "walk 2.3 m forward off a 0.6 m platform down four steps",
        ((0.0, 0.0, 0.0, 0.0), (0.5, 0.0, 0.0, 0.0), (8.0, 2.3, 0.0, 0.0)),
        9.5,
    ),
    Scenario(
        "kerb",
        "kerb",
        "walk 1.6 m forward stepping up a 0.15 m kerb at 1.0 m (0.4 m/s)",
        ((0.0, 0.0, 0.0, 0.0), (0.5, 0.0, 0.0, 0.0), (4.5, 1.6, 0.0, 0.0)),
        6.0,
    ),
    Scenario(
        "bench_sit_stand",
        "bench",
        "move the root 0.35 m back over the 0.42 m bench behind, sit 2.5 s, return to the start, stand",
        (
            (0.0, 0.0, 0.0, 0.0),
            (0.5, 0.0, 0.0, 0.0),
            (2.5, -0.35, 0.0, 0.0),
            (5.0, -0.35, 0.0, 0.0),
            (7.0, 0.0, 0.0, 0.0),
        ),
        8.5,
        goal_tolerance_m=0.15,
        fall_height_m=0.0,
        must_sit=True,
    ),
    # the walking skills: turning on the spot, a curve, a goal off to the side, a kerb up and down again
    Scenario(
        "turn_in_place",
        "flat",
        "turn 180 deg on the spot in 4 s, then stand",
        ((0.0, 0.0, 0.0, 0.0), (0.5, 0.0, 0.0, 0.0), (4.5, 0.0, 0.0, math.pi)),
        6.0,
        goal_yaw_tolerance_rad=0.35,
    ),
    Scenario(
        "curve_walk",
        "flat",
        "walk a 2 m quarter circle to the left (0.4 m/s, heading along the curve), then stand",
        ((0.0, 0.0, 0.0, 0.0), (0.5, 0.0, 0.0, 0.0), *_arc(4.0 / math.pi, 0.5, 5.5)),
        7.0,
        goal_yaw_tolerance_rad=0.35,
    ),
    Scenario(
        "goal_lateral",
        "flat",
        "walk to a goal 1.5 m ahead and 0.5 m to the left, facing forward all the way, then stand",
        ((0.0, 0.0, 0.0, 0.0), (0.5, 0.0, 0.0, 0.0), (4.5, 1.5, 0.5, 0.0)),
        6.0,
    ),
    Scenario(
        "kerb_up_down",
        "kerb_up_down",
        "walk 3 m forward: up a 0.15 m kerb at 1.0 m and down off it at 2.0 m (0.4 m/s)",
        ((0.0, 0.0, 0.0, 0.0), (0.5, 0.0, 0.0, 0.0), (8.0, 3.0, 0.0, 0.0)),
        9.5,
    ),
)
NAMES = tuple(s.name for s in SCENARIOS)


def get_scenarios(names: list[str] | None = None, duration_scale: float = 1.0) -> list[Scenario]:
    """The named scenarios (all when ``names`` is empty), in the order given, scaled in time."""
    by_name = {s.name: s for s in SCENARIOS}
    unknown = [n for n in names or [] if n not in by_name]
    if unknown:
        raise ValueError(f"unknown scenario(s) {unknown}: choose from {', '.join(NAMES)}")
    return [by_name[n].scaled(duration_scale) for n in (names or NAMES)]


def scenario_seed(seed: int, name: str) -> int:
    """A per-scenario seed from ``--seed`` and the scenario's name only (not from which others run)."""
    return (int(seed) * 1_000_003 + zlib.crc32(name.encode())) % (2**31 - 1)
