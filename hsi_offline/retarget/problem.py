"""The retargeting problem, defined in one place: its variables, its costs and one window's arrays.

One Levenberg-Marquardt problem per window of frames (VideoMimic's formulation): per-frame SE(3) root and
joint angles, plus one vector of per-edge scales shared by the whole clip. ``problem_parts`` assembles every
cost term; the solvers (``banded.py``, and jaxls' CG in ``windowed_solve.py``) minimise these same residuals,
and ``windowed_solve.py`` drives them over a clip.

Why it is shaped this way (speed, measured in ``hsi-offline bench retarget``):
- all per-frame terms live in ONE cost, so forward kinematics runs once per frame and Jacobian, not once per
  term, and its Jacobian is the analytic geometric one (``robot_model.point_jacobians``); the two-frame
  terms (skating, smoothness) reuse the frames' sole Jacobians;
- shapes are fixed: frames are padded to a multiple of ``PAD``, the terrain enters as an 81x81 patch per
  frame around the pelvis (not the whole heightfield), weights are a runtime array: one compilation per
  (DoF, padded length), reused by every clip and weight preset;
- self-collision is checked on a pruned list of capsule pairs (``robot_model``).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import NamedTuple

import jax
import jax.numpy as jnp
import jaxlie
import jaxls
import numpy as np

from hsi_kernel.contract import NOMINAL_ROOT_HEIGHT, get_contract
from hsi_kernel.model.kinematics import fk_links
from hsi_kernel.terrain import Terrain
from hsi_offline.motion.quat import to_matrix

from . import costs
from .human import HumanKeypointMotion
from .keypoint_skeleton import (
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
from .robot_model import (
    RetargetRobot,
    get_retarget_robot,
    point_jacobians,
    soles_world,
    world_link_poses,
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
PATCH = 81  # terrain patch cells per side (1.6 m at 2 cm)
PATCH_RES_MIN = 0.02
WORLD_XY_KEYPOINTS = np.array([K["pelvis"], *FOOT_KEYPOINTS, *TOE_KEYPOINTS])


# ---------------------------------------------------------------------------------------------- helpers
def robot_keypoints_np(dof: int, root_pos, root_quat, q) -> np.ndarray:
    """(T,15,3) robot keypoints with MuJoCo FK (used for nominal scales, the report and the seams)."""
    links = [ROBOT_KEYPOINTS[k][0] for k in KEYPOINTS]
    pos, quat = fk_links(dof, root_pos, root_quat, q, links)
    R = to_matrix(quat)
    off = np.array([ROBOT_KEYPOINTS[k][1] for k in KEYPOINTS])
    return pos + np.einsum("tkij,kj->tki", R, off)


@cache
def nominal_robot_edges(dof: int) -> np.ndarray:
    """Edge lengths of the robot skeleton in the default standing pose."""
    kp = robot_keypoints_np(
        dof,
        np.array([[0, 0, NOMINAL_ROOT_HEIGHT]]),
        np.array([[1.0, 0, 0, 0]]),
        get_contract(dof).default_q[None],
    )[0]
    return np.linalg.norm(kp[EDGE_INDEX[:, 1]] - kp[EDGE_INDEX[:, 0]], axis=-1)


def nominal_scales(human: HumanKeypointMotion, dof: int) -> np.ndarray:
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


def swing_clearance(human: HumanKeypointMotion, terrain: Terrain | None, leg_scale: float) -> np.ndarray:
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
def problem_parts(dof: int) -> ProblemParts:
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


# ---------------------------------------------------------------------------------------------- windows
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
    human: HumanKeypointMotion,
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
