"""The G1 as the optimiser sees it: PyRoki kinematics plus keypoint, sole and collision-capsule tables.

Everything is derived from the contract, the generated URDF and ``mjcf_builder.COLLISION`` (the collision
primitives the simulator uses), so the optimiser's notion of "touching" is the simulator's. Self-collision
pairs are pruned to those that can meet in human-like motion (legs against each other, hands and forearms
against the trunk and thighs): the full set of pairs made PyRoki's humanoid example 3.5x slower.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import jax
import jax.numpy as jnp
import jaxlie
import numpy as np
import pyroki as pk

from hsi_kernel.contract import FOOT_LINKS, get_contract
from hsi_kernel.model.mjcf_builder import COLLISION
from hsi_kernel.model.urdf_builder import load_urdf

from .keypoint_skeleton import KEYPOINTS, ROBOT_KEYPOINTS, SOLE_CORNERS

# Capsule pairs (by body name) checked for self-collision. Sides are expanded for "L"/"R" templates.
_PAIR_TEMPLATES = (
    ("left_knee_link", "right_knee_link"),
    ("left_ankle_roll_link", "right_ankle_roll_link"),
    ("left_knee_link", "right_ankle_roll_link"),
    ("right_knee_link", "left_ankle_roll_link"),
    ("left_hip_yaw_link", "right_hip_yaw_link"),
    ("{s}_wrist_yaw_link", "torso_link"),
    ("{s}_wrist_yaw_link", "pelvis"),
    ("{s}_wrist_yaw_link", "left_hip_yaw_link"),
    ("{s}_wrist_yaw_link", "right_hip_yaw_link"),
    ("{s}_elbow_link", "torso_link"),
    ("{s}_elbow_link", "pelvis"),
    ("left_wrist_yaw_link", "right_wrist_yaw_link"),
    ("left_elbow_link", "right_elbow_link"),
)


def _capsules() -> list[tuple[str, np.ndarray, np.ndarray, float]]:
    """(body, p0, p1, radius) for every collision primitive; spheres are zero-length capsules and the foot
    boxes are capsules along the sole (used for self-collision only: the terrain test uses sole corners)."""
    out = []
    for body, geoms in COLLISION.items():
        for g in geoms:
            if g["type"] == "capsule":
                p = np.array(g["fromto"].split(), dtype=float)
                out.append((body, p[:3], p[3:], float(g["size"])))
            elif g["type"] == "sphere":
                p = np.array(g["pos"].split(), dtype=float)
                out.append((body, p, p, float(g["size"])))
            elif g["type"] == "box":
                size, pos = np.array(g["size"].split(), float), np.array(g["pos"].split(), float)
                r = size[1]
                dx = np.array([size[0] - r, 0, 0])
                out.append((body, pos - dx, pos + dx, r))
    return out


def self_collision_pairs() -> list[tuple[str, str]]:
    pairs = []
    for a, b in _PAIR_TEMPLATES:
        sides = ("left", "right") if "{s}" in a else ("",)
        for s in sides:
            pairs.append((a.format(s=s), b))
    return pairs


@dataclass(frozen=True)
class RetargetRobot:
    """Static tables for one DoF; arrays are numpy (turned into constants inside the jitted costs)."""

    dof: int
    robot: pk.Robot
    to_pyroki: np.ndarray  # contract-order q -> PyRoki actuated order: q[to_pyroki]
    lower: np.ndarray
    upper: np.ndarray
    default_q: np.ndarray
    kp_link: np.ndarray  # (15,) PyRoki link index of each keypoint
    kp_offset: np.ndarray  # (15,3) offset in that link's frame
    foot_link: np.ndarray  # (2,) left/right ankle-roll link index
    sole: np.ndarray  # (4,3) sole corners in the foot frame
    cap_link: np.ndarray  # (C,) link index of each capsule
    cap_p0: np.ndarray  # (C,3)
    cap_p1: np.ndarray  # (C,3)
    cap_r: np.ndarray  # (C,)
    pair_a: np.ndarray  # (P,) capsule indices of self-collision pairs
    pair_b: np.ndarray


@cache
def get_retarget_robot(dof: int) -> RetargetRobot:
    contract = get_contract(dof)
    robot = pk.Robot.from_urdf(load_urdf(dof))
    names = list(robot.links.names)
    to_pyroki = np.array([contract.index(n) for n in robot.joints.actuated_names])
    kp_link = np.array([names.index(ROBOT_KEYPOINTS[k][0]) for k in KEYPOINTS])
    kp_offset = np.array([ROBOT_KEYPOINTS[k][1] for k in KEYPOINTS], dtype=float)
    caps = _capsules()
    cap_body = [c[0] for c in caps]
    pa, pb = [], []
    for a, b in self_collision_pairs():
        for i, ca in enumerate(cap_body):
            for j, cb in enumerate(cap_body):
                if ca == a and cb == b:
                    pa.append(i)
                    pb.append(j)
    return RetargetRobot(
        dof=dof,
        robot=robot,
        to_pyroki=to_pyroki,
        lower=contract.lower,
        upper=contract.upper,
        default_q=contract.default_q,
        kp_link=kp_link,
        kp_offset=kp_offset,
        foot_link=np.array([names.index(n) for n in FOOT_LINKS]),
        sole=SOLE_CORNERS.copy(),
        cap_link=np.array([names.index(b) for b in cap_body]),
        cap_p0=np.array([c[1] for c in caps]),
        cap_p1=np.array([c[2] for c in caps]),
        cap_r=np.array([c[3] for c in caps]),
        pair_a=np.array(pa),
        pair_b=np.array(pb),
    )


def world_link_poses(rr: RetargetRobot, root: jaxlie.SE3, q: jnp.ndarray) -> jaxlie.SE3:
    """World SE(3) of every PyRoki link for one frame (root pose times the fixed-base FK)."""
    local = rr.robot.forward_kinematics(q[rr.to_pyroki], unroll_fk=True)
    return root @ jaxlie.SE3(local)


def soles_world(rr: RetargetRobot, links: jaxlie.SE3) -> jnp.ndarray:
    """(2,4,3) sole corners of the left and right foot."""
    feet = jaxlie.SE3(links.wxyz_xyz[rr.foot_link])  # batch (2,)
    return jax_apply_many(feet, jnp.asarray(rr.sole))


def jax_apply_many(poses: jaxlie.SE3, pts: jnp.ndarray) -> jnp.ndarray:
    """Apply each of N poses to the same M points: (N,M,3)."""
    R = poses.rotation().as_matrix()  # (N,3,3)
    return jnp.einsum("nij,mj->nmi", R, pts) + poses.translation()[:, None, :]


# ------------------------------------------------------------------------------- analytic point Jacobians
@dataclass(frozen=True)
class JacobianTables:
    """What the geometric Jacobian of points on the G1 needs, in contract joint order."""

    joint_link: np.ndarray  # (dof,) link whose world pose is the joint's frame (the joint's child link)
    twist: np.ndarray  # (dof,6) joint twist (v, omega) in that frame, jaxlie's tangent order
    ancestor: np.ndarray  # (L,dof) float: 1 where the joint moves the link


@cache
def jacobian_tables(dof: int) -> JacobianTables:
    rr = get_retarget_robot(dof)
    j = rr.robot.joints
    parent_joint = np.array(rr.robot.links.parent_joint_indices)
    act = np.array(j.actuated_indices)
    if any(m != -1 for m in j.mimic_act_indices):
        raise ValueError("retarget: mimic joints are not supported by the analytic Jacobian")
    # PyRoki actuated index a is contract joint rr.to_pyroki[a]
    contract_of_joint = np.where(act >= 0, rr.to_pyroki[np.maximum(act, 0)], -1)
    twists = np.asarray(jax.device_get(j.twists))  # concrete even when first called inside a trace
    child_link = {int(pj): k for k, pj in enumerate(parent_joint) if pj >= 0}
    joint_link, twist = np.zeros(dof, int), np.zeros((dof, 6))
    for ji, c in enumerate(contract_of_joint):
        if c >= 0:
            joint_link[c], twist[c] = child_link[ji], twists[ji]
    ancestor = np.zeros((len(parent_joint), dof))
    for k, pj in enumerate(parent_joint):
        ji = int(pj)
        while ji >= 0:
            if contract_of_joint[ji] >= 0:
                ancestor[k, contract_of_joint[ji]] = 1.0
            ji = int(j.parent_indices[ji])
    return JacobianTables(joint_link, twist, ancestor)


def point_jacobians(
    rr: RetargetRobot, links: jaxlie.SE3, root: jaxlie.SE3, point_link: np.ndarray, point_local: jnp.ndarray
) -> tuple[jnp.ndarray, jnp.ndarray]:
    """World points (P,3) fixed on links, and their Jacobians (P,3,6+dof) w.r.t. the root tangent (right
    perturbation ``root @ exp(delta)``, jaxlie order v, omega) and the joint angles (contract order).

    Geometric Jacobian: a revolute joint with world twist (v_w, w_w) at frame origin o moves a point p of a
    descendant link at R v + w_w x (p - o). Exact, and ~30x cheaper than forward-mode through the FK."""
    tab = jacobian_tables(rr.dof)
    poses = jaxlie.SE3(links.wxyz_xyz[point_link])
    pts = poses.apply(point_local)  # (P,3)
    Tj = jaxlie.SE3(links.wxyz_xyz[tab.joint_link])
    Rj = Tj.rotation().as_matrix()  # (dof,3,3)
    tw = jnp.asarray(tab.twist)
    v_w = jnp.einsum("jab,jb->ja", Rj, tw[:, :3])
    w_w = jnp.einsum("jab,jb->ja", Rj, tw[:, 3:])
    rel = pts[:, None, :] - Tj.translation()[None]  # (P,dof,3)
    dq = (v_w[None] + jnp.cross(w_w[None], rel)) * jnp.asarray(tab.ancestor)[point_link][..., None]
    R = root.rotation().as_matrix()
    p_root = (pts - root.translation()) @ R  # R^T (p - t)
    zero = jnp.zeros(p_root.shape[:-1])
    skew = jnp.stack(
        [
            jnp.stack([zero, -p_root[:, 2], p_root[:, 1]], -1),
            jnp.stack([p_root[:, 2], zero, -p_root[:, 0]], -1),
            jnp.stack([-p_root[:, 1], p_root[:, 0], zero], -1),
        ],
        -2,
    )  # [p]x
    d_v = jnp.broadcast_to(R, (len(point_link), 3, 3))
    d_w = -jnp.einsum("ab,pbc->pac", R, skew)
    return pts, jnp.concatenate([d_v, d_w, jnp.swapaxes(dq, 1, 2)], axis=-1)
