"""Retargeting cost terms as small pure functions of arrays (JAX), one per idea of VideoMimic's appendix A.3.

Each returns an unweighted residual vector; the problem (``problem.py``) multiplies by the weights and stacks
them. Keeping them pure makes each one testable on its own and lets the same function serve the optimiser
and, through numpy inputs, the quality report's reasoning.
"""

from __future__ import annotations

import jax.numpy as jnp


def local_pose(robot_kp, human_kp, scales, edges, conf):
    """Kinematic-tree motion transfer: robot edge vector vs the human edge vector times its pair scale.

    robot_kp, human_kp (K,3); scales (E,); edges (E,2) int; conf (K,). Residual (E*3,).
    """
    d_r = robot_kp[edges[:, 1]] - robot_kp[edges[:, 0]]
    d_h = human_kp[edges[:, 1]] - human_kp[edges[:, 0]]
    w = jnp.minimum(conf[edges[:, 0]], conf[edges[:, 1]])[:, None]
    return (w * (d_r - scales[:, None] * d_h)).reshape(-1)


def rooted_chain(robot_kp, human_kp, scales, tree_edges, paths, conf):
    """Keypoints relative to the pelvis vs the human skeleton rebuilt from the pelvis with scaled edges.

    The local term matches each edge on its own, so small per-edge errors add up along a limb (knee, ankle and
    toe drift several cm from where the scaled human puts them); this term (VideoMimic's end-effector idea,
    applied to every keypoint of the tree) ties the chain's accumulated position, which is also what the
    quality report's keypoint error measures. tree_edges (14,2) parent-first, rooted at keypoint 0; paths
    (K,14) edge-on-path incidence (``keypoint_skeleton.TREE_PATHS``): the chain sum is one small matrix
    product.
    Residual ((K-1)*3,).
    """
    d_h = human_kp[tree_edges[:, 1]] - human_kp[tree_edges[:, 0]]  # (14,3)
    target = paths[1:] @ (scales[: tree_edges.shape[0], None] * d_h)  # (K-1,3) relative to the pelvis
    return (conf[1:, None] * (robot_kp[1:] - robot_kp[0] - target)).reshape(-1)


def direction(robot_kp, human_kp, edges, conf):
    """1 - cos(angle) between robot and human edge directions (scale free). Residual (E,)."""
    d_r = robot_kp[edges[:, 1]] - robot_kp[edges[:, 0]]
    d_h = human_kp[edges[:, 1]] - human_kp[edges[:, 0]]
    d_r = d_r / (jnp.linalg.norm(d_r, axis=-1, keepdims=True) + 1e-6)
    d_h = d_h / (jnp.linalg.norm(d_h, axis=-1, keepdims=True) + 1e-6)
    w = jnp.minimum(conf[edges[:, 0]], conf[edges[:, 1]])
    return w * (1.0 - jnp.sum(d_r * d_h, axis=-1))


def world_xy(robot_kp, human_kp, idx, conf):
    """Horizontal world position of selected keypoints (pelvis, feet) follows the human. Residual (n*2,)."""
    return (conf[idx][:, None] * (robot_kp[idx, :2] - human_kp[idx, :2])).reshape(-1)


def height_at(hf, xy):
    """Height of a heightfield patch at points xy (...,2), on the same two triangles per cell as MuJoCo.

    hf = (heights (ny,nx), origin (2,), resolution ()); points outside the patch take the edge value.
    """
    heights, origin, res = hf
    ny, nx = heights.shape
    u = jnp.clip((xy[..., 0] - origin[0]) / res, 0.0, nx - 1 - 1e-6)
    v = jnp.clip((xy[..., 1] - origin[1]) / res, 0.0, ny - 1 - 1e-6)
    i, j = jnp.floor(u).astype(jnp.int32), jnp.floor(v).astype(jnp.int32)
    fu, fv = u - i, v - j
    h00, h10 = heights[j, i], heights[j, i + 1]
    h01, h11 = heights[j + 1, i], heights[j + 1, i + 1]
    z_lower = h00 + fu * (h10 - h00) + fv * (h11 - h10)
    z_upper = h00 + fv * (h01 - h00) + fu * (h11 - h01)
    return jnp.where(fu >= fv, z_lower, z_upper)


def foot_height(soles, hf, target_clearance, contact):
    """Sole corners on the terrain in contact; lowest corner at the human's clearance in swing.

    soles (2,4,3); target_clearance (2,); contact (2,) 0/1. Residual (2*4 + 2,).
    """
    ground = height_at(hf, soles[..., :2])
    gap = soles[..., 2] - ground  # (2,4)
    flat = contact[:, None] * gap  # every corner on the ground while in contact
    swing = (1.0 - contact) * (jnp.min(gap, axis=1) - target_clearance)
    return jnp.concatenate([flat.reshape(-1), swing])


def penetration(points, radii, hf):
    """How far points (N,3) with radii (N,) sink below the terrain surface (0 when above). Residual (N,)."""
    return jnp.maximum(0.0, height_at(hf, points[:, :2]) + radii - points[:, 2])


def segment_distance(a0, a1, b0, b1):
    """Distance between segments a0-a1 and b0-b1 (batched over a leading axis), by clamped closest points."""
    da, db, r = a1 - a0, b1 - b0, a0 - b0
    aa = jnp.sum(da * da, -1) + 1e-9
    bb = jnp.sum(db * db, -1) + 1e-9
    ab = jnp.sum(da * db, -1)
    ar, br = jnp.sum(da * r, -1), jnp.sum(db * r, -1)
    denom = aa * bb - ab * ab
    s = jnp.clip(jnp.where(denom > 1e-9, (ab * br - ar * bb) / jnp.maximum(denom, 1e-9), 0.0), 0.0, 1.0)
    t = jnp.clip((ab * s + br) / bb, 0.0, 1.0)
    s = jnp.clip((ab * t - ar) / aa, 0.0, 1.0)
    diff = (a0 + s[..., None] * da) - (b0 + t[..., None] * db)
    return jnp.sqrt(jnp.sum(diff * diff, -1) + 1e-12)


def self_collision(p0, p1, radii, pair_a, pair_b, margin):
    """Capsule pairs closer than ``margin`` (surface to surface). Residual (P,)."""
    d = segment_distance(p0[pair_a], p1[pair_a], p0[pair_b], p1[pair_b]) - radii[pair_a] - radii[pair_b]
    return jnp.maximum(0.0, margin - d)


def joint_limits(q, lower, upper):
    """Amount by which joints leave their range. Residual (dof,)."""
    return jnp.maximum(0.0, q - upper) + jnp.maximum(0.0, lower - q)


def skating(soles_t, soles_t1, contact_both):
    """Horizontal sole-corner motion between consecutive frames while the foot stays in contact.

    soles_* (2,4,3); contact_both (2,) 0/1. Residual (2*4*2,).
    """
    return (contact_both[:, None, None] * (soles_t1[..., :2] - soles_t[..., :2])).reshape(-1)


def smoothness(q_t, q_t1):
    """Joint velocity (per frame). Residual (dof,)."""
    return q_t1 - q_t


def scale_regularisation(scales, nominal, symmetric_pairs):
    """Per-pair scales stay near their nominal value, equal left/right, and non-negative."""
    return jnp.concatenate(
        [
            scales / nominal - 1.0,
            scales[symmetric_pairs[:, 0]] - scales[symmetric_pairs[:, 1]],
            jnp.maximum(0.0, -scales) * 10.0,
        ]
    )
