"""Scenario metrics as pure functions of a ``Rollout`` and its ``Scenario`` (no I/O, no clocks).

Why pure: the same function scores the deployed stack and the training environment, so a difference in the
numbers is a difference in behaviour, never in bookkeeping; and the training-env numbers are bit-identical
for one seed because nothing here reads time or randomness.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from hsi_kernel.contract import get_contract
from hsi_offline.evaluation.rollout import Rollout
from hsi_offline.evaluation.scenarios import SIT_MAX_PELVIS_Z, Scenario

NOMINAL_PERIOD_MS = 20.0
MISSED_FACTOR = 1.5  # a policy period longer than 1.5 x 20 ms counts as a missed cycle


@dataclass
class ScenarioMetrics:
    """What the report shows for one scenario on one side. Lengths in m, angles in rad, time in s."""

    completed: bool
    why_not: str  # the first failed criterion ('' when completed)
    fell: bool
    fall_time_s: float | None
    fall_reason: str
    safety_trip: str  # the bridge's reason when RUN ended on a fault ('' otherwise)
    ran_s: float
    goal_error_m: float  # final pelvis xy to the path's end
    track_rms_m: float  # pelvis xy vs the commanded path p(t), RMS over the run
    track_final_m: float
    track_max_m: float
    yaw_rms_rad: float
    final_height_m: float
    min_pelvis_z_m: float  # above the start's ground level
    seated: bool | None  # only for scenarios that must sit
    max_torque_ratio: float  # largest |tau| / effort limit seen (1.0 = at the limit)
    min_torque_margin: float  # 1 - max_torque_ratio
    torque_joint: str
    min_joint_limit_margin_rad: float
    joint_limit_joint: str
    policy_rate_hz: float | None  # deploy: measured; training env: None (simulated time, exactly 50 Hz)
    policy_period_p99_ms: float | None
    missed_cycles: int | None
    root_target_mean_m: float  # mean |x, y| of the root target the policy received
    root_target_max_m: float
    odometry_hz: float | None  # deploy: LiDAR scans (with odometry) per second; the goal mode needs < 0.5 s

    def to_dict(self, digits: int = 4) -> dict:
        def r(v):  # JSON has no NaN: a figure that could not be measured is null
            if isinstance(v, float):
                return round(v, digits) if math.isfinite(v) else None
            return v

        return {k: r(v) for k, v in asdict(self).items()}


def path_world(scenario: Scenario, start_pose: np.ndarray, t: np.ndarray) -> np.ndarray:
    """(N, 3) commanded pose (x, y, yaw) in the world at times ``t``: ``p(t)`` placed at the start pose."""
    p = scenario.path_at(t).reshape(-1, 3)
    c, s = math.cos(start_pose[2]), math.sin(start_pose[2])
    x = start_pose[0] + c * p[:, 0] - s * p[:, 1]
    y = start_pose[1] + s * p[:, 0] + c * p[:, 1]
    return np.column_stack([x, y, start_pose[2] + p[:, 2]])


def wrap(a: np.ndarray) -> np.ndarray:
    return (np.asarray(a) + np.pi) % (2 * np.pi) - np.pi


def detect_fall(r: Rollout, scenario: Scenario) -> tuple[float | None, str]:
    """(time, reason) of the first ground-truth fall sample, or (None, '')."""
    tilt_bad = r.tilt > scenario.fall_tilt_rad
    low = r.height < scenario.fall_height_m if scenario.fall_height_m > 0 else np.zeros_like(tilt_bad)
    bad = np.flatnonzero(tilt_bad | low)
    if len(bad) == 0:
        return None, ""
    i = int(bad[0])
    if tilt_bad[i]:
        return float(r.t[i]), f"pelvis tilt {math.degrees(r.tilt[i]):.0f} deg"
    return float(r.t[i]), f"pelvis {r.height[i]:.2f} m above the terrain"


def policy_rate(periods_ms: np.ndarray) -> tuple[float | None, float | None, int | None]:
    """(median rate Hz, p99 period ms, missed cycles) of measured policy periods; Nones when unmeasured."""
    p = np.asarray(periods_ms, dtype=np.float64)
    p = p[np.isfinite(p) & (p > 0)]
    if len(p) == 0:
        return None, None, None
    return (
        1000.0 / float(np.median(p)),
        float(np.percentile(p, 99)),
        int(np.sum(p > MISSED_FACTOR * NOMINAL_PERIOD_MS)),
    )


def score(r: Rollout, scenario: Scenario, dof: int = 23) -> ScenarioMetrics:
    """All metrics of one run. A run without data scores as not completed, with NaN figures."""
    names = get_contract(dof).joint_names
    rate, p99, missed = policy_rate(r.policy_periods_ms)
    tgt = np.hypot(r.target[:, 0], r.target[:, 1])
    tgt_mean, tgt_max = (float(tgt.mean()), float(tgt.max())) if len(tgt) else (math.nan, math.nan)
    safety = r.ended[len("safety: ") :] if r.ended.startswith("safety: ") else ""
    nan = float("nan")
    if not r.ran:
        return ScenarioMetrics(
            False,
            r.ended,
            False,
            None,
            "",
            safety,
            0.0,
            nan,
            nan,
            nan,
            nan,
            nan,
            nan,
            nan,
            None,
            nan,
            nan,
            "",
            nan,
            "",
            rate,
            p99,
            missed,
            tgt_mean,
            tgt_max,
            r.odometry_hz,
        )
    cmd = path_world(scenario, r.start_pose, r.t)
    err = np.hypot(*(r.xy - cmd[:, :2]).T)
    goal = path_world(scenario, r.start_pose, np.array([r.t[-1] + 1e6]))[0]
    goal_error = float(np.hypot(*(r.xy[-1] - goal[:2])))
    heading_error = float(wrap(np.array([r.yaw[-1] - goal[2]]))[0])
    fall_t, fall_reason = detect_fall(r, scenario)
    if fall_t is None and safety.startswith("base tilt"):
        fall_t, fall_reason = float(r.t[-1]), f"bridge: {safety}"
    ground0 = float(r.z[0] - r.height[0])
    min_z = float(np.min(r.z) - ground0)
    seated = bool(min_z <= SIT_MAX_PELVIS_Z) if scenario.must_sit else None
    i_tau, i_q = int(np.argmax(r.tau_ratio)), int(np.argmin(r.qlim_margin))
    ran_s = float(r.t[-1] - r.t[0])
    checks = [
        (r.ended == "duration", f"run ended early ({r.ended})"),
        (fall_t is None, f"fell at {fall_t if fall_t is not None else 0:.1f} s ({fall_reason})"),
        (ran_s >= scenario.duration_s - 0.2, f"ran {ran_s:.1f} of {scenario.duration_s:.1f} s"),
        (
            goal_error <= scenario.goal_tolerance_m,
            f"ended {goal_error:.2f} m from the goal (tolerance {scenario.goal_tolerance_m:.2f} m)",
        ),
        (
            abs(heading_error) <= scenario.goal_yaw_tolerance_rad,
            f"ended facing {np.degrees(heading_error):+.0f} deg off the goal heading "
            f"(tolerance {np.degrees(scenario.goal_yaw_tolerance_rad):.0f} deg)",
        ),
        (
            float(r.height[-1]) >= scenario.stand_min_height_m,
            f"not standing at the end (pelvis {r.height[-1]:.2f} m above the terrain)",
        ),
        (
            seated is not False,
            f"never sat (lowest pelvis {min_z:.2f} m above the floor, needs <= {SIT_MAX_PELVIS_Z:.2f})",
        ),
    ]
    why = next((msg for ok, msg in checks if not ok), "")
    return ScenarioMetrics(
        completed=not why,
        why_not=why,
        fell=fall_t is not None,
        fall_time_s=fall_t,
        fall_reason=fall_reason,
        safety_trip=safety,
        ran_s=ran_s,
        goal_error_m=goal_error,
        track_rms_m=float(np.sqrt(np.mean(err**2))),
        track_final_m=float(err[-1]),
        track_max_m=float(err.max()),
        yaw_rms_rad=float(np.sqrt(np.mean(wrap(r.yaw - cmd[:, 2]) ** 2))),
        final_height_m=float(r.height[-1]),
        min_pelvis_z_m=min_z,
        seated=seated,
        max_torque_ratio=float(r.tau_ratio[i_tau]),
        min_torque_margin=float(1.0 - r.tau_ratio[i_tau]),
        torque_joint=names[int(r.tau_joint[i_tau])],
        min_joint_limit_margin_rad=float(r.qlim_margin[i_q]),
        joint_limit_joint=names[int(r.qlim_joint[i_q])],
        policy_rate_hz=rate,
        policy_period_p99_ms=p99,
        missed_cycles=missed,
        root_target_mean_m=tgt_mean,
        root_target_max_m=tgt_max,
        odometry_hz=r.odometry_hz,
    )


GAP_FIELDS = (
    "goal_error_m",
    "track_rms_m",
    "track_final_m",
    "yaw_rms_rad",
    "final_height_m",
    "max_torque_ratio",
    "min_joint_limit_margin_rad",
    "root_target_mean_m",
)


def gap(a: ScenarioMetrics, b: ScenarioMetrics) -> dict[str, float | bool]:
    """``a`` minus ``b`` for the numeric figures (e.g. deploy minus training env), and whether the verdicts
    agree."""
    out: dict[str, float | bool] = {"same_verdict": a.completed == b.completed and a.fell == b.fell}
    for f in GAP_FIELDS:
        out[f] = float(getattr(a, f)) - float(getattr(b, f))
    return out


def totals(results: list[ScenarioMetrics]) -> dict[str, float | int]:
    """Completion rate and fall count over scenarios (one side)."""
    n = len(results)
    return {
        "scenarios": n,
        "completed": sum(m.completed for m in results),
        "completion_rate": (sum(m.completed for m in results) / n) if n else float("nan"),
        "falls": sum(m.fell for m in results),
        "safety_trips": sum(bool(m.safety_trip) for m in results),
    }
