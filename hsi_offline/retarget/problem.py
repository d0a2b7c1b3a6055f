"""The retargeting problem, assembled in one place: variables, costs, warm start and the jaxls solve.

One Levenberg-Marquardt problem per window of frames (VideoMimic's formulation): per-frame SE(3) root and
joint angles, plus one vector of per-edge scales shared by the whole clip.

Where the speed comes from (measured in ``hsi-offline bench retarget``):
- all per-frame terms live in ONE cost, so forward kinematics runs once per frame and Jacobian, not once per
  term; the two-frame terms (skating, smoothness) in a second cost;
- shapes are fixed: frames are padded to a multiple of ``PAD``, the terrain enters as an 81x81 patch per
  frame around the pelvis (not the whole heightfield), weights are a runtime array: one compilation per
  (DoF, padded length), reused by every clip and weight preset;
- self-collision is checked on a pruned list of capsule pairs (``robot_model``);
- a warm start puts the root under the human pelvis at leg-scaled height, facing where the hips face.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import jax
import jax.numpy as jnp
import jaxlie
import jaxls
import numpy as np

from hsi_robot_nodes.model.kinematics import fk_links
from hsi_robot_nodes.terrain import Terrain

from . import costs
from .human import HumanMotion
from .robot_model import (
    RetargetRobot,
    capsules_world,
    get_retarget_robot,
    keypoints_world,
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
    K,
)
from .weights import WEIGHT_INDEX, RetargetWeights

jax.config.update("jax_enable_x64", False)


def enable_compilation_cache() -> None:
    """Keep compiled solver programs on disk (``HSI_JAX_CACHE``, default ~/.cache/hsi_robot/jax): the solve
    compiles for about a minute on this CPU, once per (DoF, padded length, iteration cap), not per process."""
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
    max_iterations: int = 40
    dof: int = 23
    warm_start: str = "ik"  # "ik": per-frame mink IK (~2 ms/frame); "pose": default pose under the pelvis
    # Inexact Newton: jaxls' default CG floor (1e-7) spends thousands of CG steps per LM step near the end.
    cg_tolerance_min: float = 1e-3
    cg_tolerance_max: float = 1e-2
    window: int = WINDOW  # frames per LM problem; longer clips are solved in overlapping windows
    overlap: int = OVERLAP
    lambda_min: float = 1e-5  # LM damping floor (a higher floor keeps the CG systems well conditioned)


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
    from hsi_robot_nodes.contract import NOMINAL_ROOT_HEIGHT, get_contract

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
    sym = jnp.asarray(SYMMETRIC_EDGES)
    xy_idx = jnp.asarray(WORLD_XY_KEYPOINTS)
    lower, upper = jnp.asarray(rr.lower), jnp.asarray(rr.upper)
    not_feet = np.array([i for i, lk in enumerate(rr.cap_link) if lk not in rr.foot_link])
    Wi = WEIGHT_INDEX

    def frame_parts(root: jaxlie.SE3, q):
        links = world_link_poses(rr, root, q)
        return keypoints_world(rr, links), soles_world(rr, links), capsules_world(rr, links)

    def frame_cost(
        vals, root_var, joint_var, scale_var, human_kp, conf, contact, clearance, hf_h, hf_o, hf_r, nominal, w
    ):
        """Everything that depends on one frame (FK once)."""
        root, q, s = vals[root_var], vals[joint_var], vals[scale_var]
        kp, soles, (c0, c1) = frame_parts(root, q)
        hf = (hf_h, hf_o, hf_r)
        pts = jnp.concatenate(
            [c0[not_feet], c1[not_feet], 0.5 * (c0[not_feet] + c1[not_feet]), soles.reshape(-1, 3)]
        )
        radii = jnp.concatenate([jnp.asarray(rr.cap_r[not_feet])] * 3 + [jnp.zeros(8)])
        foot = costs.foot_height(soles, hf, clearance, contact)
        return jnp.concatenate(
            [
                w[Wi["local"]] * costs.local_pose(kp, human_kp, s, edges, conf),
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
            ]
        )

    def pair_cost(vals, root_a, root_b, joint_a, joint_b, contact_both, w):
        """Terms linking consecutive frames: skating and smoothness."""
        ra, rb, qa, qb = vals[root_a], vals[root_b], vals[joint_a], vals[joint_b]
        sa = soles_world(rr, world_link_poses(rr, ra, qa))
        sb = soles_world(rr, world_link_poses(rr, rb, qb))
        return jnp.concatenate(
            [
                w[Wi["skating"]] * costs.skating(sa, sb, contact_both),
                w[Wi["joint_smooth"]] * costs.smoothness(qa, qb),
                w[Wi["root_smooth"]] * (ra.inverse() @ rb).log(),
            ]
        )

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

    return JointVar, ScaleVar, make_frame_cost, make_pair_cost


# ---------------------------------------------------------------------------------------------- solve
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
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    JointVar, ScaleVar, frame_cost, pair_cost = _problem_parts(cfg.dof)
    n = len(idx)
    n_pad = int(np.ceil(n / PAD) * PAD)
    sel = np.concatenate([idx, np.full(n_pad - n, idx[-1])])  # pad by repeating the last frame
    kp = human.keypoints[sel]
    conf = human.confidence[sel]
    contact = human.contacts[sel].astype(np.float32)
    hf_h, hf_o, hf_r = terrain_patches(human.terrain, kp[:, K["pelvis"], :2])
    w = jnp.asarray(weights.as_array(), dtype=jnp.float32)
    ids = jnp.arange(n_pad)
    roots, joints, scale = jaxls.SE3Var(ids), JointVar(ids), ScaleVar(0)
    f32 = lambda a: jnp.asarray(a, dtype=jnp.float32)  # noqa: E731
    problem_costs = [
        frame_cost(
            roots,
            joints,
            scale,
            f32(kp),
            f32(conf),
            f32(contact),
            f32(clearance[sel]),
            f32(hf_h),
            f32(hf_o),
            jnp.full((n_pad,), hf_r, jnp.float32),
            f32(nominal)[None].repeat(n_pad, 0),
            w[None].repeat(n_pad, 0),
        ),
        pair_cost(
            jaxls.SE3Var(ids[:-1]),
            jaxls.SE3Var(ids[1:]),
            JointVar(ids[:-1]),
            JointVar(ids[1:]),
            f32(contact[:-1] * contact[1:]),
            w[None].repeat(n_pad - 1, 0),
        ),
    ]
    root_init = np.concatenate([init_root, np.repeat(init_root[-1:], n_pad - n, 0)])
    quat_init = np.concatenate([init_quat, np.repeat(init_quat[-1:], n_pad - n, 0)])
    q_init = np.concatenate([init_q, np.repeat(init_q[-1:], n_pad - n, 0)])
    init = jaxls.VarValues.make(
        [
            roots.with_value(
                jaxlie.SE3.from_rotation_and_translation(jaxlie.SO3(f32(quat_init)), f32(root_init))
            ),
            joints.with_value(f32(q_init)),
            scale.with_value(f32(scales0)),
        ]
    )
    problem = jaxls.LeastSquaresProblem(problem_costs, [roots, joints, scale]).analyze()
    sol, summary = problem.solve(
        init,
        linear_solver=jaxls.ConjugateGradientConfig(
            tolerance_min=cfg.cg_tolerance_min, tolerance_max=cfg.cg_tolerance_max
        ),
        verbose=False,
        return_summary=True,
        termination=jaxls.TerminationConfig(max_iterations=cfg.max_iterations, cost_tolerance=1e-4),
        trust_region=jaxls.TrustRegionConfig(lambda_initial=1e-2, lambda_min=cfg.lambda_min),
    )
    se3 = sol[roots]
    root_pos = np.asarray(se3.translation(), dtype=np.float64)[:n]
    root_quat = np.asarray(se3.rotation().wxyz, dtype=np.float64)[:n]
    q = np.asarray(sol[joints], dtype=np.float64)[:n]
    return root_pos, root_quat, q, np.asarray(sol[scale], dtype=np.float64), int(summary.iterations)


def retarget(
    human: HumanMotion, weights: RetargetWeights | None = None, cfg: SolverConfig | None = None
) -> RetargetResult:
    """Solve the whole clip (in overlapping windows of at most ``WINDOW`` frames)."""
    from hsi_robot_nodes.contract import get_contract

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
        from .baseline_mink import mink_retarget

        ik, _ = mink_retarget(human, cfg.dof)
        init_root, init_quat, init_q = ik.root_pos.copy(), ik.root_quat.copy(), ik.joint_pos.copy()
    elif cfg.warm_start == "pose":
        init_root, init_quat = warm_start(human, nominal, human.terrain)
        init_q = np.tile(contract.default_q, (T, 1))
    else:
        raise ValueError(f"unknown warm start '{cfg.warm_start}': use 'ik' or 'pose'")
    init_seconds = time.perf_counter() - t_init
    clearance = swing_clearance(human, human.terrain, float(np.median(nominal[[1, 2, 5, 6]])))
    out_root, out_quat, out_q = init_root.copy(), init_quat.copy(), init_q.copy()
    scales = nominal.copy()
    start, iters = 0, 0
    t0 = time.perf_counter()
    while True:
        stop = min(T, start + cfg.window)
        idx = np.arange(start, stop)
        r, qt, q, scales, it = _solve_window(
            human, idx, nominal, scales, weights, cfg, out_root[idx], out_quat[idx], out_q[idx], clearance
        )
        iters += it
        keep = idx if start == 0 else idx[cfg.overlap // 2 :]
        sl = slice(keep[0] - start, None)
        out_root[keep], out_quat[keep], out_q[keep] = r[sl], qt[sl], q[sl]
        if stop >= T:
            break
        start = stop - cfg.overlap
        # the next window starts from the solved overlap (already in out_*) and the IK elsewhere
    seconds = time.perf_counter() - t0
    over = np.maximum(contract.lower - out_q, out_q - contract.upper).max()
    out_q = contract.clamp_to_limits(out_q)
    out_quat /= np.linalg.norm(out_quat, axis=1, keepdims=True)
    return RetargetResult(
        out_root, out_quat, out_q, scales, nominal, seconds, init_seconds, iters, float(max(over, 0.0))
    )
