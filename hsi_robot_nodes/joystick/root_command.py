"""Sticks or a goal pose -> the policy's root target: an (x, y, yaw) offset in the robot's heading frame.

VideoMimic's policy is trained to track a target torso position/yaw a short distance ahead, not a velocity,
so the joystick sets an OFFSET: x = 0.5*ly m forward, y = -0.5*lx m left, yaw = -0.3*rx rad (Unitree stick
convention, see ``profiles``). A dead zone removes stick drift (rescaled so the output is continuous at its
edge) and a rate limit bounds how fast the offset may change, so a flicked stick cannot step the policy's
command further than it saw in training in one cycle.

Goal mode ("root target from a path"): a goal pose in the odometry frame is turned into the local offset
every cycle from the latest odometry, clamped to the joystick's range (the offsets the policy was trained
on). The operator has priority: while a stick is outside the dead zone the sticks drive; without fresh
odometry the goal yields a zero offset (stand still) rather than a stale guess.

Inputs are checked at this boundary: a non-finite stick, goal or odometry sample is dropped and counted in
``dropped``, never stored, so one bad sample cannot poison the command (the previous value stays, and goes
stale on its own timeout like any input that stops).
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class RootCommandConfig:
    scale_x: float = 0.5  # m per unit ly
    scale_y: float = -0.5  # m per unit lx
    scale_yaw: float = -0.3  # rad per unit rx
    dead_zone: float = 0.1  # stick units
    max_rate_xy: float = 1.0  # m/s change of the x and y offsets
    max_rate_yaw: float = 1.5  # rad/s change of the yaw offset
    odom_timeout_s: float = 0.5  # goal mode needs odometry younger than this
    goal_tolerance_xy: float = 0.05  # m: closer than this the goal counts as reached

    @property
    def max_xy(self) -> float:
        return max(abs(self.scale_x), abs(self.scale_y))

    @property
    def max_yaw(self) -> float:
        return abs(self.scale_yaw)


def dead_zone(v: float, dz: float) -> float:
    """0 inside |v| <= dz; outside, rescaled to reach +-1 at full deflection (continuous at the edge)."""
    v = max(-1.0, min(1.0, float(v))) if math.isfinite(v) else 0.0
    if abs(v) <= dz:
        return 0.0
    return math.copysign((abs(v) - dz) / (1.0 - dz), v)


def sticks_to_offset(lx: float, ly: float, rx: float, cfg: RootCommandConfig) -> np.ndarray:
    """VideoMimic's stick mapping after the dead zone: (x forward, y left, yaw) offset."""
    dz = cfg.dead_zone
    return np.array(
        [cfg.scale_x * dead_zone(ly, dz), cfg.scale_y * dead_zone(lx, dz), cfg.scale_yaw * dead_zone(rx, dz)]
    )


def wrap_angle(a: float) -> float:
    return (a + math.pi) % (2.0 * math.pi) - math.pi


def goal_to_local(goal_xy_yaw, robot_xy_yaw) -> np.ndarray:
    """Goal and robot pose (x, y, yaw), both in the odometry frame -> offset in the heading frame."""
    gx, gy, gyaw = map(float, goal_xy_yaw)
    rx, ry, ryaw = map(float, robot_xy_yaw)
    dx, dy = gx - rx, gy - ry
    c, s = math.cos(ryaw), math.sin(ryaw)
    return np.array([c * dx + s * dy, -s * dx + c * dy, wrap_angle(gyaw - ryaw)])


def clamp_offset(offset: np.ndarray, max_xy: float, max_yaw: float) -> np.ndarray:
    """Scale xy down to at most ``max_xy`` (keeping direction) and clip yaw to +-``max_yaw``."""
    out = np.asarray(offset, dtype=np.float64).copy()
    n = math.hypot(out[0], out[1])
    if n > max_xy:
        out[:2] *= max_xy / n
    out[2] = max(-max_yaw, min(max_yaw, out[2]))
    return out


def yaw_from_quat_xyzw(x: float, y: float, z: float, w: float) -> float:
    """Heading (rotation about +z) of a ROS x-y-z-w quaternion."""
    return math.atan2(2.0 * (w * z + x * y), 1.0 - 2.0 * (y * y + z * z))


class RootCommand:
    """Stateful: latest sticks, goal and odometry in; one rate-limited offset out per ``step``."""

    def __init__(self, cfg: RootCommandConfig | None = None):
        self.cfg = cfg or RootCommandConfig()
        self.sticks = (0.0, 0.0, 0.0)
        self.goal: np.ndarray | None = None
        self.odom: np.ndarray | None = None
        self.odom_time = -math.inf
        self.output = np.zeros(3)
        self.source = "idle"
        self.dropped: Counter[str] = Counter()  # non-finite samples dropped, per input (sticks/goal/odometry)

    def _finite(self, kind: str, values: tuple[float, ...]) -> bool:
        if all(math.isfinite(v) for v in values):
            return True
        self.dropped[kind] += 1
        return False

    def set_sticks(self, lx: float, ly: float, rx: float) -> bool:
        """Stick deflections (Unitree convention); False (dropped, counted) when one is not finite."""
        values = (float(lx), float(ly), float(rx))
        if not self._finite("sticks", values):
            return False
        self.sticks = values
        return True

    def set_goal(self, x: float, y: float, yaw: float) -> bool:
        """Goal pose in the odometry frame; False (dropped, counted) when not finite."""
        values = (float(x), float(y), float(yaw))
        if not self._finite("goal", values):
            return False
        self.goal = np.array(values)
        return True

    def clear_goal(self) -> None:
        self.goal = None

    def set_odometry(self, x: float, y: float, yaw: float, t: float) -> bool:
        """Robot pose (x, y, yaw) in the odometry frame at ``t``; False (dropped, counted) when not finite."""
        values = (float(x), float(y), float(yaw), float(t))
        if not self._finite("odometry", values):
            return False
        self.odom, self.odom_time = np.array(values[:3]), values[3]
        return True

    def _desired(self, t: float) -> tuple[np.ndarray, str]:
        stick = sticks_to_offset(*self.sticks, self.cfg)
        if np.any(stick != 0.0) or self.goal is None:
            return stick, "joystick" if np.any(stick != 0.0) else "idle"
        if self.odom is None or t - self.odom_time > self.cfg.odom_timeout_s:
            return np.zeros(3), "goal_no_odometry"
        local = goal_to_local(self.goal, self.odom)
        if math.hypot(local[0], local[1]) < self.cfg.goal_tolerance_xy:
            local[:2] = 0.0
        return clamp_offset(local, self.cfg.max_xy, self.cfg.max_yaw), "goal"

    def step(self, dt: float, t: float) -> np.ndarray:
        """The offset for this cycle (x m, y m, yaw rad), moved toward the desired one at the rate limits."""
        desired, self.source = self._desired(t)
        dt = max(0.0, float(dt))
        step_xy, step_yaw = self.cfg.max_rate_xy * dt, self.cfg.max_rate_yaw * dt
        delta = desired - self.output
        delta[:2] = np.clip(delta[:2], -step_xy, step_xy)
        delta[2] = max(-step_yaw, min(step_yaw, delta[2]))
        self.output = self.output + delta
        return self.output.copy()
