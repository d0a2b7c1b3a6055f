"""The retargeting problem, assembled in one place: variables, costs, warm start and the solve.

One Levenberg-Marquardt problem per window of frames (VideoMimic's formulation): per-frame SE(3) root and
joint angles, plus one vector of per-edge scales shared by the whole clip. Two solvers over the same
residuals: ``banded`` (default, ``banded.py``: exact block-tridiagonal solve of the normal equations) and
``jaxls_cg`` (jaxls' LM with conjugate gradient, the original, ~40x slower here).

Where the speed comes from (measured in ``hsi-offline bench retarget``):
- the banded direct linear solve (see ``banded.py``) instead of conjugate gradient;
- all per-frame terms live in ONE cost, so forward kinematics runs once per frame and Jacobian, not once per
  term, and its Jacobian is the analytic geometric one (``robot_model.point_jacobians``); the two-frame
  terms (skating, smoothness) reuse the frames' sole Jacobians;
- shapes are fixed: frames are padded to a multiple of ``PAD``, the terrain enters as an 81x81 patch per
  frame around the pelvis (not the whole heightfield), weights are a runtime array: one compilation per
  (DoF, padded length), reused by every clip and weight preset;
- self-collision is checked on a pruned list of capsule pairs (``robot_model``);
- the warm start is the mink per-frame IK (2 steps a frame), so LM needs 12-25 iterations (clean inputs).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import NamedTuple

import jax
import jax.numpy as jnp
import jaxlie
import jaxls
import numpy as np

from hsi_kernel.model.kinematics import fk_links
from hsi_kernel.terrain import Terrain

from . import costs
from .human import HumanMotion
from .robot_model import (
    RetargetRobot,
    get_retarget_robot,
    point_jacobians,
    soles_world,
    world_link_poses,
)
from .skeleton import (
    EDGE_INDEX,
    FOOT_KEYPOINTS,
    KEYPOINTS,
    ROBOT_KEYPOINTS,
    SYMMETRIC_EDGES,
    TOE_KEYPOINTS,
    TREE_EDGES,
    TREE_PATHS,
    K,
)
from .weights import WEIGHT_INDEX, RetargetWeights

jax.config.update("jax_enable_x64", False)


def enable_compilation_cache() -> None:
    """Keep compiled solver programs on disk (``HSI_JAX_CACHE``, default ~/.cache/hsi_robot/jax): the banded
    solve compiles in ~8 s on this CPU (jaxls CG: 50-100 s), once per (DoF, padded length), not per run."""
    if jax.config.jax_compilation_cache_dir:
        return
    path = os.environ.get("HSI_JAX_CACHE", str(Path.home() / ".cache" / "hsi_robot" / "jax"))
    jax.config.update("jax_compilation_cache_dir", path)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 2.0)


enable_compilation_cache()

PAD = 64  # frames are padded to a multiple of this (one compilation per padded length)
WINDOW = 320  # longest window solved at once; longer clips are solved in overlapping windows
OVERLAP = 32
PATCH = 81  # terrain patch cells per side (1.6 m at 2 cm)
PATCH_RES_MIN = 0.02
WORLD_XY_KEYPOINTS = np.array([K["pelvis"], *FOOT_KEYPOINTS, *TOE_KEYPOINTS])


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


# ---------------------------------------------------------------------------------------------- helpers
def robot_keypoints_np(dof: int, root_pos, root_quat, q) -> np.ndarray:
    """(T,15,3) robot keypoints with MuJoCo FK (used for nominal scales, the report and the baseline)."""
    links = [ROBOT_KEYPOINTS[k][0] for k in KEYPOINTS]
    pos, quat = fk_links(dof, root_pos, root_quat, q, links)
    from hsi_offline.motion.quat import to_matrix

    R = to_matrix(quat)
    off = np.array([ROBOT_KEYPOINTS[k][1] for k in KEYPOINTS])
    return pos + np.einsum("tkij,kj->tki", R, off)


@cache
def nominal_robot_edges(dof: int) -> np.ndarray:
    """Edge lengths of the robot skeleton in the default standing pose."""
    from hsi_kernel.contract import NOMINAL_ROOT_HEIGHT, get_contract

    kp = robot_keypoints_np(
        dof,
        np.array([[0, 0, NOMINAL_ROOT_HEIGHT]]),
        np.array([[1.0, 0, 0, 0]]),
        get_contract(dof).default_q[None],
    )[0]
    return np.linalg.norm(kp[EDGE_INDEX[:, 1]] - kp[EDGE_INDEX[:, 0]], axis=-1)


def nominal_scales(human: HumanMotion, dof: int) -> np.ndarray:
    """Robot edge length over the human's median edge length, per edge (the scales' prior)."""
    d = human.keypoints[:, EDGE_INDEX[:, 1]] - human.keypoints[:, EDGE_INDEX[:, 0]]
    ok = np.minimum(human.confidence[:, EDGE_INDEX[:, 0]], human.confidence[:, EDGE_INDEX[:, 1]]) > 0
    lengths = np.array(
        [
            np.median(np.linalg.norm(d[ok[:, e], e], axis=-1)) if ok[:, e].any() else np.nan
            for e in range(len(EDGE_INDEX))
        ]
    )
    s = nominal_robot_edges(dof) / np.maximum(lengths, 1e-3)
    leg = np.nanmedian(s[[1, 2, 5, 6]])
    return np.where(np.isfinite(s), s, leg)


def terrain_patches(terrain: Terrain | None, centres_xy: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """(T,PATCH,PATCH) height patches around each centre, aligned with the terrain's own grid points, so the
    patch's triangles are the terrain's triangles. Flat ground (None) gives zero patches."""
    T = len(centres_xy)
    if terrain is None:
        res = PATCH_RES_MIN
        origin = centres_xy - res * (PATCH - 1) / 2
        return np.zeros((T, PATCH, PATCH)), origin, res
    if terrain.resolution < PATCH_RES_MIN:  # resample so the fixed patch still covers +-0.8 m
        xmin, xmax, ymin, ymax = terrain.extent
        xs = np.arange(xmin, xmax + 1e-9, PATCH_RES_MIN)
        ys = np.arange(ymin, ymax + 1e-9, PATCH_RES_MIN)
        X, Y = np.meshgrid(xs, ys)
        terrain = Terrain(terrain.height_at(np.stack([X, Y], -1)), PATCH_RES_MIN, (xmin, ymin), terrain.name)
    res = terrain.resolution
    ny, nx = terrain.shape
    i0 = np.floor((centres_xy[:, 0] - terrain.origin[0]) / res).astype(int) - PATCH // 2
    j0 = np.floor((centres_xy[:, 1] - terrain.origin[1]) / res).astype(int) - PATCH // 2
    ar = np.arange(PATCH)
    ii = np.clip(i0[:, None] + ar[None], 0, nx - 1)  # (T,P)
    jj = np.clip(j0[:, None] + ar[None], 0, ny - 1)
    patches = terrain.heights[jj[:, :, None], ii[:, None, :]]
    origin = np.stack([terrain.origin[0] + i0 * res, terrain.origin[1] + j0 * res], axis=1)
    return patches, origin, res


def warm_start(
    human: HumanMotion, scales: np.ndarray, terrain: Terrain | None
) -> tuple[np.ndarray, np.ndarray]:
    """Root positions (T,3) and yaw-only orientations (T,4 wxyz) from the human pelvis and hips."""
    kp = human.keypoints
    pelvis = kp[:, K["pelvis"]]
    across = kp[:, K["left_hip"]] - kp[:, K["right_hip"]]
    yaw = np.arctan2(across[:, 1], across[:, 0]) - np.pi / 2  # +y (left) is yaw + 90 deg
    ground = terrain.height_at(pelvis[:, :2]) if terrain is not None else np.zeros(len(kp))
    ankles = kp[:, FOOT_KEYPOINTS, 2].min(axis=1)
    foot_ground = terrain.height_at(kp[:, FOOT_KEYPOINTS, :2]).max(axis=1) if terrain is not None else ground
    leg_scale = float(np.median(scales[[1, 2, 5, 6]]))
    base = np.maximum(ground, foot_ground)
    height = base + 0.06 + leg_scale * np.maximum(pelvis[:, 2] - np.minimum(ankles, pelvis[:, 2]), 0.0)
    root = np.column_stack([pelvis[:, :2], height + ROBOT_KEYPOINTS["pelvis"][1][2] * -1.0])
    quat = np.column_stack([np.cos(yaw / 2), np.zeros_like(yaw), np.zeros_like(yaw), np.sin(yaw / 2)])
    return root, quat


def swing_clearance(human: HumanMotion, terrain: Terrain | None, leg_scale: float) -> np.ndarray:
    """(T,2) wanted lowest-sole height above the terrain: the human's foot clearance, leg-scaled."""
    pts = human.keypoints[:, np.stack([FOOT_KEYPOINTS, TOE_KEYPOINTS], axis=1)]  # (T,2,2,3)
    ground = terrain.height_at(pts[..., :2]) if terrain is not None else np.zeros(pts.shape[:-1])
    gap = (pts[..., 2] - ground).min(axis=2)  # (T,2)
    rest = np.percentile(gap, 5, axis=0)
    return np.clip(leg_scale * (gap - rest), 0.0, 0.5)


# ---------------------------------------------------------------------------------------------- costs
class ProblemParts(NamedTuple):
    JointVar: type
    ScaleVar: type
    make_frame_cost: Callable
    make_pair_cost: Callable
    frame_terms: Callable  # (root SE3, q, s, *frame data, w) -> (residual, soles (2,4,3))
    pair_terms: Callable  # (root_a, root_b, q_a, q_b, soles_a, soles_b, contact_both, w) -> residual
    frame_points: Callable  # (root, q) -> (P,3) world points
    frame_points_jac: Callable  # (root, q) -> (P,3), (P,3,6+dof)
    residual_from_points: Callable  # (points, q, s, *frame data, w) -> residual
    sole_rows: slice  # rows of the points that are the sole corners (left 4, right 4)


@cache
def _problem_parts(dof: int):
    """Variable classes and cost factories for one DoF (cached: stable identities -> compiled once)."""
    rr: RetargetRobot = get_retarget_robot(dof)
    E = len(EDGE_INDEX)
    default_q = jnp.asarray(rr.default_q, dtype=jnp.float32)

    class JointVar(jaxls.Var[jax.Array], default_factory=lambda: default_q):
        """Joint angles in contract order."""

    class ScaleVar(jaxls.Var[jax.Array], default_factory=lambda: jnp.ones(E)):
        """Per-edge human->robot scales, shared by all frames."""

    edges = jnp.asarray(EDGE_INDEX)
    tree_edges, tree_paths = jnp.asarray(TREE_EDGES), jnp.asarray(TREE_PATHS, dtype=jnp.float32)
    sym = jnp.asarray(SYMMETRIC_EDGES)
    xy_idx = jnp.asarray(WORLD_XY_KEYPOINTS)
    lower, upper = jnp.asarray(rr.lower), jnp.asarray(rr.upper)
    not_feet = np.array([i for i, lk in enumerate(rr.cap_link) if lk not in rr.foot_link])
    Wi = WEIGHT_INDEX

    # Every point the frame terms look at, as (link, offset in the link frame): keypoints, sole corners,
    # capsule end points. Rows: [0,K) keypoints, [K,K+8) soles (left 4, right 4), then C starts, C ends.
    C = len(rr.cap_link)
    point_link = np.concatenate([rr.kp_link, np.repeat(rr.foot_link, 4), rr.cap_link, rr.cap_link])
    point_local = np.concatenate([rr.kp_offset, np.tile(rr.sole, (2, 1)), rr.cap_p0, rr.cap_p1])
    n_kp = len(rr.kp_link)

    def frame_points(root: jaxlie.SE3, q):
        """(P,3) world points of one frame (FK once)."""
        links = world_link_poses(rr, root, q)
        return jaxlie.SE3(links.wxyz_xyz[point_link]).apply(jnp.asarray(point_local))

    def frame_points_jac(root: jaxlie.SE3, q):
        """(P,3) world points and their (P,3,6+dof) Jacobian w.r.t. (root tangent, joints)."""
        return point_jacobians(rr, world_link_poses(rr, root, q), root, point_link, jnp.asarray(point_local))

    def residual_from_points(
        points,
        q,
        s,
        human_kp,
        conf,
        contact,
        clearance,
        hf_h,
        hf_o,
        hf_r,
        nominal,
        prior_q,
        prior_pel,
        prior_w,
        w,
    ):
        """The weighted residual of one frame from its world points (frame_points), joints and scales."""
        kp = points[:n_kp]
        soles = points[n_kp : n_kp + 8].reshape(2, 4, 3)
        c0, c1 = points[n_kp + 8 : n_kp + 8 + C], points[n_kp + 8 + C :]
        hf = (hf_h, hf_o, hf_r)
        pts = jnp.concatenate(
            [c0[not_feet], c1[not_feet], 0.5 * (c0[not_feet] + c1[not_feet]), soles.reshape(-1, 3)]
        )
        radii = jnp.concatenate([jnp.asarray(rr.cap_r[not_feet])] * 3 + [jnp.zeros(8)])
        foot = costs.foot_height(soles, hf, clearance, contact)
        return jnp.concatenate(
            [
                w[Wi["local"]] * costs.local_pose(kp, human_kp, s, edges, conf),
                w[Wi["rooted"]] * costs.rooted_chain(kp, human_kp, s, tree_edges, tree_paths, conf),
                w[Wi["direction"]] * costs.direction(kp, human_kp, edges, conf),
                w[Wi["world_xy"]] * costs.world_xy(kp, human_kp, xy_idx, conf),
                w[Wi["contact"]] * foot[:8],
                w[Wi["clearance"]] * foot[8:],
                w[Wi["penetration"]] * costs.penetration(pts, radii, hf),
                w[Wi["self_collision"]]
                * costs.self_collision(
                    c0, c1, jnp.asarray(rr.cap_r), rr.pair_a, rr.pair_b, w[Wi["self_margin"]]
                ),
                w[Wi["limits"]] * costs.joint_limits(q, lower, upper),
                w[Wi["scale_reg"]] * costs.scale_regularisation(s, nominal, sym) / 30.0,
                w[Wi["seam"]] * prior_w * jnp.concatenate([q - prior_q, kp[0] - prior_pel]),
            ]
        )

    def frame_terms(root: jaxlie.SE3, q, s, *data):
        """Everything that depends on one frame (FK once): the weighted residual and the sole corners."""
        points = frame_points(root, q)
        return residual_from_points(points, q, s, *data), points[n_kp : n_kp + 8].reshape(2, 4, 3)

    def pair_terms(ra: jaxlie.SE3, rb: jaxlie.SE3, qa, qb, sa, sb, contact_both, w):
        """Terms linking consecutive frames (skating and smoothness), given both frames' sole corners."""
        return jnp.concatenate(
            [
                w[Wi["skating"]] * costs.skating(sa, sb, contact_both),
                w[Wi["joint_smooth"]] * costs.smoothness(qa, qb),
                w[Wi["root_smooth"]] * (ra.inverse() @ rb).log(),
            ]
        )

    def frame_cost(vals, root_var, joint_var, scale_var, *data):
        return frame_terms(vals[root_var], vals[joint_var], vals[scale_var], *data)[0]

    def pair_cost(vals, root_a, root_b, joint_a, joint_b, contact_both, w):
        ra, rb, qa, qb = vals[root_a], vals[root_b], vals[joint_a], vals[joint_b]
        sa = soles_world(rr, world_link_poses(rr, ra, qa))
        sb = soles_world(rr, world_link_poses(rr, rb, qb))
        return pair_terms(ra, rb, qa, qb, sa, sb, contact_both, w)

    # jaxls.Cost.factory wraps the function in a new lambda per call, which jax's compilation cache sees as
    # a new function: the solve would recompile for every clip (~50 s here). Stable wrappers avoid that.
    def frame_residual(vals, args):
        return frame_cost(vals, *args)

    def pair_residual(vals, args):
        return pair_cost(vals, *args)

    def make_frame_cost(*args):
        return jaxls.Cost(compute_residual=frame_residual, args=(args,), name="frame_cost")

    def make_pair_cost(*args):
        return jaxls.Cost(compute_residual=pair_residual, args=(args,), name="pair_cost")

    return ProblemParts(
        JointVar,
        ScaleVar,
        make_frame_cost,
        make_pair_cost,
        frame_terms,
        pair_terms,
        frame_points,
        frame_points_jac,
        residual_from_points,
        slice(n_kp, n_kp + 8),
    )


# ---------------------------------------------------------------------------------------------- solve
@dataclass
class WindowProblem:
    """One window's arrays, padded to ``n_pad`` frames (a multiple of ``PAD``) by repeating the last frame:
    the fixed shapes every solver backend compiles for."""

    n: int  # real frames
    n_pad: int
    data: tuple  # per-frame arrays, ``frame_terms``' data arguments (leading axis n_pad)
    contact_both: jax.Array  # (n_pad-1,2)
    w: jax.Array  # weights array
    roots7: jax.Array  # (n_pad,7) initial root poses, wxyz_xyz
    q: jax.Array  # (n_pad,dof) initial joints
    scales: jax.Array  # (E,) initial scales


def window_problem(
    human: HumanMotion,
    idx: np.ndarray,
    nominal: np.ndarray,
    scales0: np.ndarray,
    weights: RetargetWeights,
    init_root: np.ndarray,
    init_quat: np.ndarray,
    init_q: np.ndarray,
    clearance: np.ndarray,
    prior: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
) -> WindowProblem:
    """``init_*``, ``prior`` are the window's own frames; ``clearance`` is clip-long. ``prior`` = (joints
    (n,dof), pelvis keypoint (n,3), weight (n,)) the frames are held to: the previous window's solution over
    the overlap, weight 0 elsewhere (and everywhere when None)."""
    n = len(idx)
    n_pad = int(np.ceil(n / PAD) * PAD)
    pad = np.concatenate([np.arange(n), np.full(n_pad - n, n - 1)])  # repeat the last frame
    sel = idx[pad]
    kp = human.keypoints[sel]
    contact = human.contacts[sel].astype(np.float32)
    hf_h, hf_o, hf_r = terrain_patches(human.terrain, kp[:, K["pelvis"], :2])
    f32 = lambda a: jnp.asarray(a, dtype=jnp.float32)  # noqa: E731
    data = (
        f32(kp),
        f32(human.confidence[sel]),
        f32(contact),
        f32(clearance[sel]),
        f32(hf_h),
        f32(hf_o),
        jnp.full((n_pad,), hf_r, jnp.float32),
        f32(nominal)[None].repeat(n_pad, 0),
        *(
            (f32(prior[0][pad]), f32(prior[1][pad]), f32(prior[2][pad]))
            if prior is not None
            else (f32(init_q[pad]), jnp.zeros((n_pad, 3), jnp.float32), jnp.zeros((n_pad,), jnp.float32))
        ),
    )
    return WindowProblem(
        n,
        n_pad,
        data,
        f32(contact[:-1] * contact[1:]),
        f32(weights.as_array()),
        f32(np.concatenate([init_quat[pad], init_root[pad]], axis=1)),
        f32(init_q[pad]),
        f32(scales0),
    )


def _solve_banded(wp: WindowProblem, cfg: SolverConfig) -> tuple[jax.Array, jax.Array, jax.Array, dict]:
    from .banded import make_solver, solver_settings

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
    """The original formulation: jaxls LM with its conjugate-gradient linear solver (kept for comparison)."""
    parts = _problem_parts(cfg.dof)
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


def window_cost(wp: WindowProblem, dof: int, roots7, q, scales) -> float:
    """The objective (sum of squared weighted residuals) of a window at the given values."""
    from .banded import make_solver

    _, pieces = make_solver(dof)
    return float(pieces["total_cost"](roots7, q, scales, wp.data, wp.contact_both, wp.w))


def _solve_window(
    human: HumanMotion,
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
    the overlap's middle half (the frames near either window's edge are the least constrained). A fixed
    mid-overlap switch left visible steps (a 3.6 cm sole jump on a box-climb seam); a cross-fade removed
    them but pushed blended poses into the terrain (3 cm): each frame here is one window's solution.
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
    human: HumanMotion, weights: RetargetWeights | None = None, cfg: SolverConfig | None = None
) -> RetargetResult:
    """Solve the whole clip (in overlapping windows of at most ``WINDOW`` frames)."""
    from hsi_kernel.contract import get_contract

    human.validate()
    weights = weights or RetargetWeights()
    cfg = cfg or SolverConfig()
    if not (1 <= cfg.overlap < cfg.window):
        raise ValueError(f"solver: overlap {cfg.overlap} must be in 1..window-1 (window {cfg.window})")
    contract = get_contract(cfg.dof)
    T = human.num_frames
    nominal = nominal_scales(human, cfg.dof)
    t_init = time.perf_counter()
    if cfg.warm_start == "ik":
        from .baseline_mink import mink_solve

        init_root, init_quat, init_q, _ = mink_solve(human, cfg.dof, cfg.ik_iterations, cfg.ik_stride)
    elif cfg.warm_start == "pose":
        init_root, init_quat = warm_start(human, nominal, human.terrain)
        init_q = np.tile(contract.default_q, (T, 1))
    else:
        raise ValueError(f"unknown warm start '{cfg.warm_start}': use 'ik' or 'pose'")
    init_seconds = time.perf_counter() - t_init
    clearance = swing_clearance(human, human.terrain, float(np.median(nominal[[1, 2, 5, 6]])))
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
    )
