"""The retargeting solve: a whole clip, in overlapping windows, from a warm start.

Each window of at most ``SolverConfig.window`` frames is one problem (``problem.window_problem``), solved by
one of two Levenberg-Marquardt solvers over the same residuals: ``banded`` (default, ``banded.py``: exact
block-tridiagonal solve of the normal equations) or ``jaxls_cg`` (jaxls' LM with conjugate gradient, ~40x
slower here, kept for comparison). Later windows are held to the previous window's solution over the overlap
and switched into the clip where the two agree best, so seams leave no step.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import jaxlie
import jaxls
import numpy as np

from hsi_kernel.contract import get_contract

from .banded import make_solver, solver_settings
from .human import HumanKeypointMotion, robot_sized
from .problem import (
    WindowProblem,
    nominal_scales,
    problem_parts,
    robot_keypoints_np,
    swing_clearance,
    window_problem,
)
from .warm_start import ik_warm_start, pose_warm_start
from .weights import RetargetWeights

WINDOW = 320  # longest window solved at once; longer clips are solved in overlapping windows
OVERLAP = 32


@dataclass
class SolverConfig:
    """Every solver setting, with its default: the one place they live (weights are in ``weights.py``).

    The banded settings are runtime values of the compiled solve (changing them never recompiles); a compiled
    program exists per (DoF, padded window length). Figures behind the defaults: docs/retargeting.md."""

    dof: int = 23
    solver: str = "banded"  # "banded": block-tridiagonal direct LM (banded.py); "jaxls_cg": jaxls + CG
    max_iterations: int = 40  # LM cap; clean clips stop by themselves after 12-25, noisy ones use it all
    cost_tolerance: float = 1e-4  # stop when an accepted step lowers the cost by less than this fraction
    # warm start
    warm_start: str = "ik"  # "ik": per-frame mink IK (~0.5 ms/frame); "pose": default pose under the pelvis
    ik_iterations: int = 2  # mink steps per frame (1: worse minima; 4, 8: +0.1, +0.35 s, no better solves)
    ik_stride: int = 1  # IK on every ik_stride-th frame, interpolated (2-3: worse minima, measured)
    # windows: clips longer than ``window`` are solved in overlapping windows, each padded to PAD multiples
    window: int = WINDOW
    overlap: int = OVERLAP
    # Levenberg-Marquardt damping (both solvers)
    lambda_initial: float = 1e-2
    lambda_min: float = 1e-5
    # banded solver only
    lambda_up: float = 10.0  # damping times this after a rejected step
    lambda_down: float = 5.0  # damping divided by this after an accepted step
    marquardt: float = 0.0  # damping lam * (1 + marquardt * diag(J^T J)); 0 = lam * I (1: worse minima)
    max_step_tries: int = 12  # rejected steps in a row (damping raised each time) before stopping
    backtrack: int = 2  # halvings of a rejected step tried before raising the damping (0: worse minima)
    # jaxls_cg only. Inexact Newton: jaxls' default CG floor (1e-7) spends thousands of CG steps per LM step.
    cg_tolerance_min: float = 1e-3
    cg_tolerance_max: float = 1e-2
    # on flat ground, solve for the person scaled to the robot's leg length (human.robot_sized)
    robot_sized: bool = True


@dataclass
class RetargetResult:
    root_pos: np.ndarray  # (T,3)
    root_quat: np.ndarray  # (T,4) wxyz
    joint_pos: np.ndarray  # (T,dof) contract order, clipped to the limits
    scales: np.ndarray  # (E,)
    nominal_scales: np.ndarray  # (E,)
    solve_seconds: float  # wall time of the LM solves (includes compilation on a cold first call)
    init_seconds: float  # wall time of the warm start
    iterations: int
    raw_limit_violation: float  # rad, largest limit excess before the final clip
    windows: list = field(default_factory=list)  # per window: it, solves (linear solves), cost0, cost
    human: HumanKeypointMotion | None = None  # the motion the solve tracked (robot-sized on flat ground)


def _solve_banded(wp: WindowProblem, cfg: SolverConfig) -> tuple[jax.Array, jax.Array, jax.Array, dict]:
    solve, _ = make_solver(cfg.dof)
    settings = solver_settings(cfg)
    roots7, q, scales, summary = solve(wp.roots7, wp.q, wp.scales, wp.data, wp.contact_both, wp.w, settings)
    info = {k: float(v) for k, v in summary.items() if np.ndim(v) == 0}
    it = min(int(info["it"]), len(summary["cost_hist"]))
    info["history"] = {
        k[:-5]: np.asarray(summary[k])[:it].tolist() for k in ("cost_hist", "tries_hist", "lam_hist")
    }
    return roots7, q, scales, info


def _solve_jaxls_cg(wp: WindowProblem, cfg: SolverConfig) -> tuple[jax.Array, jax.Array, jax.Array, dict]:
    """jaxls' LM with its conjugate-gradient linear solver on the same costs: a reference the banded solver
    is checked and timed against."""
    parts = problem_parts(cfg.dof)
    n_pad = wp.n_pad
    ids = jnp.arange(n_pad)
    roots, joints, scale = jaxls.SE3Var(ids), parts.JointVar(ids), parts.ScaleVar(0)
    problem_costs = [
        parts.make_frame_cost(roots, joints, scale, *wp.data, wp.w[None].repeat(n_pad, 0)),
        parts.make_pair_cost(
            jaxls.SE3Var(ids[:-1]),
            jaxls.SE3Var(ids[1:]),
            parts.JointVar(ids[:-1]),
            parts.JointVar(ids[1:]),
            wp.contact_both,
            wp.w[None].repeat(n_pad - 1, 0),
        ),
    ]
    init = jaxls.VarValues.make(
        [roots.with_value(jaxlie.SE3(wp.roots7)), joints.with_value(wp.q), scale.with_value(wp.scales)]
    )
    problem = jaxls.LeastSquaresProblem(problem_costs, [roots, joints, scale]).analyze()
    sol, summary = problem.solve(
        init,
        linear_solver=jaxls.ConjugateGradientConfig(
            tolerance_min=cfg.cg_tolerance_min, tolerance_max=cfg.cg_tolerance_max
        ),
        verbose=False,
        return_summary=True,
        termination=jaxls.TerminationConfig(
            max_iterations=cfg.max_iterations, cost_tolerance=cfg.cost_tolerance
        ),
        trust_region=jaxls.TrustRegionConfig(lambda_initial=cfg.lambda_initial, lambda_min=cfg.lambda_min),
    )
    it = int(summary.iterations)
    hist = np.asarray(summary.cost_history)
    info = {
        "it": float(it),
        "solves": float(it),
        "cost0": float(hist[0]),
        "cost": float(hist[min(it, len(hist) - 1)]),
    }
    return sol[roots].wxyz_xyz, sol[joints], sol[scale], info


SOLVERS = {"banded": _solve_banded, "jaxls_cg": _solve_jaxls_cg}


def _solve_window(
    human: HumanKeypointMotion,
    idx: np.ndarray,
    nominal: np.ndarray,
    scales0: np.ndarray,
    weights: RetargetWeights,
    cfg: SolverConfig,
    init_root: np.ndarray,
    init_quat: np.ndarray,
    init_q: np.ndarray,
    clearance: np.ndarray,
    prior: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict]:
    if cfg.solver not in SOLVERS:
        raise ValueError(f"unknown solver '{cfg.solver}': choose one of {', '.join(SOLVERS)}")
    wp = window_problem(human, idx, nominal, scales0, weights, init_root, init_quat, init_q, clearance, prior)
    roots7, q, scales, info = SOLVERS[cfg.solver](wp, cfg)
    roots7 = np.asarray(roots7, dtype=np.float64)[: wp.n]
    q = np.asarray(q, dtype=np.float64)[: wp.n]
    return roots7[:, 4:], roots7[:, :4], q, np.asarray(scales, dtype=np.float64), info


def _seam_prior(root, quat, q, overlap: int, dof: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """What a later window's first ``overlap`` frames are held to: the previous window's joints and pelvis
    keypoint there, with a weight fading from 1 to 0 across the overlap (smoothstep), 0 after it. Without
    it, a contact foot in the overlap is free to settle a few cm from where the previous window put it."""
    o = min(overlap, len(q))
    u = (np.arange(o) + 0.5) / o
    w = np.zeros(len(q))
    w[:o] = 1.0 - u * u * (3 - 2 * u)
    pel = np.zeros((len(q), 3))
    pel[:o] = robot_keypoints_np(dof, root[:o], quat[:o], q[:o])[:, 0]
    return q.copy(), pel, w


def _switch_into(out_root, out_quat, out_q, start: int, overlap: int, r, qt, q, dof: int) -> int:
    """Write a window solved from frame ``start`` into the clip arrays, switching from the previous window's
    solution at the overlap frame where the two agree best (largest keypoint distance, MuJoCo FK), within
    the overlap's middle half (the frames near either window's edge are the least constrained). Why not a
    fixed mid-overlap switch: it leaves visible steps (a 3.6 cm sole jump on a box-climb seam); nor a
    cross-fade: blended poses go into the terrain (3 cm). So each frame here is one window's solution.
    Returns the switch frame."""
    o = min(overlap, len(r))
    prev = robot_keypoints_np(
        dof, out_root[start : start + o], out_quat[start : start + o], out_q[start : start + o]
    )
    new = robot_keypoints_np(dof, r[:o], qt[:o], q[:o])
    gap = np.linalg.norm(prev - new, axis=-1).max(axis=1)
    lo, hi = o // 4, max(o // 4 + 1, (3 * o) // 4)
    k = lo + int(np.argmin(gap[lo:hi]))
    n = len(r)
    out_root[start + k : start + n], out_quat[start + k : start + n], out_q[start + k : start + n] = (
        r[k:],
        qt[k:],
        q[k:],
    )
    return start + k


def retarget(
    human: HumanKeypointMotion, weights: RetargetWeights | None = None, cfg: SolverConfig | None = None
) -> RetargetResult:
    """Solve the whole clip (in overlapping windows of at most ``WINDOW`` frames)."""
    human.validate()
    weights = weights or RetargetWeights()
    cfg = cfg or SolverConfig()
    if not (1 <= cfg.overlap < cfg.window):
        raise ValueError(f"solver: overlap {cfg.overlap} must be in 1..window-1 (window {cfg.window})")
    contract = get_contract(cfg.dof)
    T = human.num_frames
    nominal = nominal_scales(human, cfg.dof)
    if cfg.robot_sized and (human.terrain is None or human.terrain.is_flat):
        human = robot_sized(human, float(np.median(nominal[[1, 2, 5, 6]])))
        nominal = nominal_scales(human, cfg.dof)
    leg_scale = float(np.median(nominal[[1, 2, 5, 6]]))
    t_init = time.perf_counter()
    if cfg.warm_start == "ik":
        init_root, init_quat, init_q, _ = ik_warm_start(human, cfg.dof, cfg.ik_iterations, cfg.ik_stride)
    elif cfg.warm_start == "pose":
        init_root, init_quat, init_q = pose_warm_start(human, nominal, cfg.dof)
    else:
        raise ValueError(f"unknown warm start '{cfg.warm_start}': use 'ik' or 'pose'")
    init_seconds = time.perf_counter() - t_init
    clearance = swing_clearance(human, human.terrain, leg_scale)
    out_root, out_quat, out_q = init_root.copy(), init_quat.copy(), init_q.copy()
    scales = nominal.copy()
    start, iters, windows = 0, 0, []
    t0 = time.perf_counter()
    while True:
        stop = min(T, start + cfg.window)
        idx = np.arange(start, stop)
        prior = _seam_prior(out_root[idx], out_quat[idx], out_q[idx], cfg.overlap, cfg.dof) if start else None
        r, qt, q, scales, info = _solve_window(
            human,
            idx,
            nominal,
            scales,
            weights,
            cfg,
            out_root[idx],
            out_quat[idx],
            out_q[idx],
            clearance,
            prior,
        )
        iters += int(info["it"])
        windows.append(info)
        if start == 0:
            out_root[idx], out_quat[idx], out_q[idx] = r, qt, q
        else:
            _switch_into(out_root, out_quat, out_q, start, cfg.overlap, r, qt, q, cfg.dof)
        if stop >= T:
            break
        start = stop - cfg.overlap
        # the next window starts from the solved overlap (already in out_*) and the IK elsewhere
    seconds = time.perf_counter() - t0
    over = np.maximum(contract.lower - out_q, out_q - contract.upper).max()
    out_q = contract.clamp_to_limits(out_q)
    out_quat /= np.linalg.norm(out_quat, axis=1, keepdims=True)
    return RetargetResult(
        out_root,
        out_quat,
        out_q,
        scales,
        nominal,
        seconds,
        init_seconds,
        iters,
        float(max(over, 0.0)),
        windows,
        human,
    )
