"""The banded Levenberg-Marquardt solver (``retarget/banded.py``): its linear algebra against dense numpy, its
analytic point Jacobians and normal equations against JAX autodiff of the same residuals."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import jaxlie
import numpy as np
import pytest

from hsi_offline.retarget import problem as rp
from hsi_offline.retarget.banded import arrow_solve, make_solver, solver_settings
from hsi_offline.retarget.robot_model import get_retarget_robot, point_jacobians, world_link_poses
from hsi_offline.retarget.synthetic_human import stair_climb
from hsi_offline.retarget.warm_start import ik_warm_start, pelvis_root
from hsi_offline.retarget.weights import RetargetWeights
from hsi_offline.retarget.windowed_solve import SolverConfig


def test_arrow_solve_matches_dense_solve():
    rng = np.random.default_rng(0)
    T, n, m = 7, 5, 3
    J = rng.normal(size=(40 * T, T * n + m))
    mask = np.zeros((T * n + m,) * 2, bool)
    for t in range(T):
        for u in range(max(0, t - 1), min(T, t + 2)):
            mask[t * n : (t + 1) * n, u * n : (u + 1) * n] = True
    mask[:, T * n :] = mask[T * n :, :] = True
    H = (J.T @ J) * mask + np.eye(T * n + m)  # block-tridiagonal with an arrow border, SPD
    g = rng.normal(size=T * n + m)
    blk = lambda a, b: H[a * n : (a + 1) * n, b * n : (b + 1) * n]  # noqa: E731
    D = np.stack([blk(t, t) for t in range(T)])
    B = np.stack([blk(t + 1, t) for t in range(T - 1)])
    C = np.stack([H[t * n : (t + 1) * n, T * n :] for t in range(T)])
    f32 = lambda a: jnp.asarray(a, jnp.float32)  # noqa: E731
    dx, ds = arrow_solve(
        f32(D), f32(B), f32(C), f32(H[T * n :, T * n :]), f32(g[: T * n].reshape(T, n)), f32(g[T * n :])
    )
    ref = np.linalg.solve(H, g)
    np.testing.assert_allclose(np.concatenate([np.ravel(dx), ds]), ref, atol=1e-5 * np.abs(ref).max())


def test_point_jacobians_match_forward_mode():
    rr = get_retarget_robot(23)
    rng = np.random.default_rng(1)
    q = jnp.asarray(rr.default_q + rng.normal(size=23) * 0.3, jnp.float32)
    rot = jaxlie.SO3.exp(jnp.asarray(rng.normal(size=3), jnp.float32))
    root = jaxlie.SE3.from_rotation_and_translation(rot, jnp.array([0.3, -0.2, 0.8]))
    links = np.concatenate([rr.kp_link, rr.cap_link])
    local = jnp.asarray(np.concatenate([rr.kp_offset, rr.cap_p1]), jnp.float32)

    def points(d):
        poses = world_link_poses(rr, root @ jaxlie.SE3.exp(d[:6]), q + d[6:])
        return jaxlie.SE3(poses.wxyz_xyz[links]).apply(local)

    pts, J = point_jacobians(rr, world_link_poses(rr, root, q), root, links, local)
    np.testing.assert_allclose(np.asarray(pts), np.asarray(points(jnp.zeros(29))), atol=1e-6)
    np.testing.assert_allclose(np.asarray(J), np.asarray(jax.jacfwd(points)(jnp.zeros(29))), atol=1e-5)


@pytest.fixture(scope="module")
def small_window():
    """A 64-frame window of the stair climb (IK-free warm start, perturbed), cut to 5 frames."""
    h = stair_climb()
    idx = np.arange(60, 124)
    nominal = rp.nominal_scales(h, 23)
    root, quat = pelvis_root(h, nominal, h.terrain)
    rng = np.random.default_rng(3)
    q = (
        np.tile(get_retarget_robot(23).default_q, (len(h.keypoints), 1))
        + rng.normal(size=(len(h.keypoints), 23)) * 0.1
    )
    clear = rp.swing_clearance(h, h.terrain, 1.0)
    wp = rp.window_problem(
        h, idx, nominal, nominal * 1.05, RetargetWeights(), root[idx], quat[idx], q[idx], clear
    )
    k = 5
    return (wp.roots7[:k], wp.q[:k], wp.scales, tuple(a[:k] for a in wp.data), wp.contact_both[: k - 1], wp.w)


def test_normal_equations_match_autodiff(small_window):
    roots, q, s, data, cb, w = small_window
    _, pieces = make_solver(23)
    T, n = q.shape[0], 29
    (D, B, C, S, gx, gs), cost = pieces["normal_equations"](roots, q, s, data, cb, w)

    def residual(delta):
        dx, ds = delta[: T * n].reshape(T, n), delta[T * n :]
        r, pr = pieces["residuals"](*pieces["retract"](roots, q, s, dx, ds), data, cb, w)
        return jnp.concatenate([r.ravel(), pr.ravel()])

    z = jnp.zeros(T * n + len(s))
    r0 = residual(z)
    J = np.asarray(jax.jacfwd(residual)(z), np.float64)
    H = J.T @ J
    g = -J.T @ np.asarray(r0, np.float64)
    assert float(cost) == pytest.approx(float(jnp.sum(r0**2)), rel=1e-5)
    scale = np.abs(H).max()
    for t in range(T):
        np.testing.assert_allclose(D[t], H[t * n : (t + 1) * n, t * n : (t + 1) * n], atol=2e-4 * scale)
        np.testing.assert_allclose(C[t], H[t * n : (t + 1) * n, T * n :], atol=2e-4 * scale)
    for t in range(T - 1):
        np.testing.assert_allclose(B[t], H[(t + 1) * n : (t + 2) * n, t * n : (t + 1) * n], atol=2e-4 * scale)
    # frames two apart are not coupled: the matrix really is block-tridiagonal (plus the scale border)
    assert np.abs(H[:n, 2 * n : 3 * n]).max() == 0.0
    np.testing.assert_allclose(S, H[T * n :, T * n :], atol=2e-4 * scale)
    np.testing.assert_allclose(np.ravel(gx), g[: T * n], atol=2e-4 * np.abs(g).max())
    np.testing.assert_allclose(gs, g[T * n :], atol=2e-4 * np.abs(g).max())


def test_banded_solve_lowers_the_cost_like_a_dense_newton_step(small_window):
    roots, q, s, data, cb, w = small_window
    solve, pieces = make_solver(23)
    settings = solver_settings(SolverConfig(max_iterations=15, cost_tolerance=1e-5))
    r2, q2, s2, summary = solve(roots, q, s, data, cb, w, settings)
    assert int(summary["it"]) >= 2 and float(summary["cost"]) < 0.2 * float(summary["cost0"])
    assert float(pieces["total_cost"](r2, q2, s2, data, cb, w)) == pytest.approx(
        float(summary["cost"]), rel=1e-4
    )
    np.testing.assert_allclose(np.linalg.norm(np.asarray(r2[:, :4]), axis=1), 1.0, atol=1e-5)


def test_strided_ik_warm_start_interpolates_between_solved_frames():
    from hsi_offline.retarget.human import HumanKeypointMotion

    h = stair_climb()
    sl = slice(45, 75)
    h = HumanKeypointMotion(h.fps, h.keypoints[sl], h.confidence[sl], h.contacts[sl], h.terrain, "test")
    r1, q1, j1, _ = ik_warm_start(h, 23, iterations=4, stride=1)
    r3, q3, j3, _ = ik_warm_start(h, 23, iterations=4, stride=3)
    assert r3.shape == r1.shape and j3.shape == j1.shape
    np.testing.assert_allclose(np.linalg.norm(q3, axis=1), 1.0, atol=1e-9)
    contract_lower, contract_upper = get_retarget_robot(23).lower, get_retarget_robot(23).upper
    assert np.all(j3 >= contract_lower - 1e-9) and np.all(j3 <= contract_upper + 1e-9)
    assert np.abs(r3 - r1).max() < 0.05  # interpolated frames stay close to the per-frame solution
