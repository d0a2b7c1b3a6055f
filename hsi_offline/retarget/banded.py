"""Levenberg-Marquardt on the retargeting problem's own structure: block-tridiagonal normal equations with a
dense border for the clip's scales, solved exactly by a block Cholesky (a "banded" direct solve).

Why not jaxls' solvers: the problem has per-frame variables x_t = (root tangent 6, joints dof) coupled only to
their neighbours (skating, smoothness) plus 16 scales shared by every frame. Its Gauss-Newton matrix is
block-tridiagonal with an arrow border. jaxls offers conjugate gradient (hundreds of matrix products per LM
step on this ill-conditioned system: most of the time), CHOLMOD (scikit-sparse is not installable here) or a
dense Cholesky of the full (T*(6+dof)+16)^2 matrix (10^11 flops at 320 frames). A block-tridiagonal
Cholesky is O(T * n^3) with n = 6 + dof: a few milliseconds for 320 frames, exact, so LM converges in far
fewer, cheaper steps.

The residuals are the problem's own (``problem.problem_parts``: ``frame_terms`` and ``pair_terms``, which
the jaxls formulation in ``windowed_solve.py`` minimises too), and so are the variables' retractions (root:
``T @ exp(delta)``, joints and scales: plus). Jacobians are computed once per frame (FK and its forward-mode
derivative once): the pair terms reuse the frames' sole-corner Jacobians (skating is linear in the corners),
so FK is never differentiated twice.
"""

from __future__ import annotations

from functools import cache

import jax
import jax.numpy as jnp
import jaxlie

from .problem import problem_parts

# ------------------------------------------------------------------------------------------ linear algebra


def _chol(a):
    return jnp.linalg.cholesky(a)


def _tri_solve(L, b, trans=False):
    """Solve L x = b (or L^T x = b) with L lower triangular; b (n,k)."""
    return jax.scipy.linalg.solve_triangular(L, b, lower=True, trans=1 if trans else 0)


def block_tridiag_factor(D, B):
    """Cholesky of the symmetric block-tridiagonal matrix with diagonal blocks D (T,n,n) and sub-diagonal
    blocks B (T-1,n,n) (B[t] = H[t+1,t]). Returns diagonal factors L (T,n,n) and sub-diagonal factors
    M (T-1,n,n), with H = LL^T, L[t,t] = L[t], L[t+1,t] = M[t]."""
    L0 = _chol(D[0])

    def step(Lprev, inp):
        Dt, Bt = inp
        M = _tri_solve(Lprev, Bt.T).T  # Bt Lprev^-T
        Lt = _chol(Dt - M @ M.T)
        return Lt, (Lt, M)

    _, (Ls, Ms) = jax.lax.scan(step, L0, (D[1:], B))
    return jnp.concatenate([L0[None], Ls]), Ms


def block_tridiag_solve(L, M, R):
    """Solve H X = R for the factored H; R (T,n,k)."""
    y0 = _tri_solve(L[0], R[0])

    def fwd(yprev, inp):
        Lt, Mt, Rt = inp
        y = _tri_solve(Lt, Rt - Mt @ yprev)
        return y, y

    _, ys = jax.lax.scan(fwd, y0, (L[1:], M, R[1:]))
    y = jnp.concatenate([y0[None], ys])
    xT = _tri_solve(L[-1], y[-1], trans=True)

    def bwd(xnext, inp):
        Lt, Mt, yt = inp  # Mt = L[t+1,t]
        x = _tri_solve(Lt, yt - Mt.T @ xnext, trans=True)
        return x, x

    _, xs = jax.lax.scan(bwd, xT, (L[:-1], M, y[:-1]), reverse=True)
    return jnp.concatenate([xs, xT[None]])


def arrow_solve(D, B, C, S, gx, gs):
    """Solve [[A, C], [C^T, S]] [x; s] = [gx; gs] where A is block-tridiagonal (D, B); C (T,n,m) couples
    every frame to m shared variables, S (m,m). Schur complement on the shared variables."""
    L, M = block_tridiag_factor(D, B)
    Y = block_tridiag_solve(L, M, jnp.concatenate([gx[..., None], C], axis=-1))
    yg, YC = Y[..., 0], Y[..., 1:]
    schur = S - jnp.einsum("tni,tnj->ij", C, YC)
    rhs = gs - jnp.einsum("tni,tn->i", C, yg)
    ds = jax.scipy.linalg.cho_solve((_chol(schur), True), rhs)
    dx = yg - jnp.einsum("tnj,j->tn", YC, ds)
    return dx, ds


# ---------------------------------------------------------------------------------------------- the LM solve


def _retract(roots, q, s, dx, ds):
    """roots (T,7) wxyz_xyz; the same retraction as jaxls' SE3Var (T @ exp(delta)) and Euclidean vars."""
    r = jax.vmap(lambda T, d: (jaxlie.SE3(T) @ jaxlie.SE3.exp(d)).wxyz_xyz)(roots, dx[:, :6])
    return r, q + dx[:, 6:], s + ds


HISTORY = 64  # per-iteration cost, tries and damping are recorded for the first HISTORY iterations
SETTINGS = (
    "max_iterations",
    "cost_tolerance",
    "lambda_initial",
    "lambda_min",
    "lambda_up",
    "lambda_down",
    "marquardt",
    "max_step_tries",
    "backtrack",
)


def solver_settings(cfg) -> dict:
    """The runtime settings of the compiled solve from a ``windowed_solve.SolverConfig``."""
    ints = ("max_iterations", "max_step_tries", "backtrack")
    return {k: (jnp.int32 if k in ints else jnp.float32)(getattr(cfg, k)) for k in SETTINGS}


@cache
def make_solver(dof: int):
    """The jitted solve for one DoF: ``solve(roots, q, s, frame_data, contact_both, w, settings)``.

    frame_data: tuple of per-frame arrays, ``frame_terms``' data arguments after (root, q, s) (leading axis
    T); contact_both (T-1,2); w: weights array; settings: dict of scalars (``SETTINGS``), runtime values:
    changing them never recompiles.
    Returns roots, q, s, and a summary dict (iterations, linear solves, initial and final cost).
    """
    parts = problem_parts(dof)
    frame_terms, pair_terms = parts.frame_terms, parts.pair_terms
    n = 6 + dof
    q_cols = jnp.concatenate([jnp.zeros((dof, 6)), jnp.eye(dof)], axis=1)  # d q / d (frame tangent)

    def frame_res(root7, q, s, data, w):
        return frame_terms(jaxlie.SE3(root7), q, s, *data, w)

    def frame_lin(root7, q, s, data, w):
        """Residual, sole xy, and their Jacobians w.r.t. the frame tangent (n) and the scales (m).

        Chain rule: points from FK with their analytic (geometric) Jacobian, then forward mode through the
        cheap point-to-residual map only."""
        pts, Jp = parts.frame_points_jac(jaxlie.SE3(root7), q)  # (P,3), (P,3,n)
        res, jvp_fn = jax.linearize(lambda p, qq: parts.residual_from_points(p, qq, s, *data, w), pts, q)
        Jx = jax.vmap(jvp_fn, in_axes=(2, 1), out_axes=1)(Jp, q_cols)
        # the scales enter a few terms only: with the points held fixed, forward mode skips everything else
        Js = jax.jacfwd(lambda ss: parts.residual_from_points(pts, q, ss, *data, w))(s)
        sxy = pts[parts.sole_rows, :2].reshape(-1)
        Jsxy = Jp[parts.sole_rows, :2, :].reshape(-1, n)
        return res, sxy, Jx, Jsxy, Js

    def pair_res_xy(ra7, rb7, qa, qb, sxy_a, sxy_b, cb, w):
        """Pair residual with the soles given as xy (the only part of them the skating term uses)."""
        za = jnp.zeros((2, 4, 1))
        sa = jnp.concatenate([sxy_a.reshape(2, 4, 2), za], -1)
        sb = jnp.concatenate([sxy_b.reshape(2, 4, 2), za], -1)
        return pair_terms(jaxlie.SE3(ra7), jaxlie.SE3(rb7), qa, qb, sa, sb, cb, w)

    def pair_lin(ra7, rb7, qa, qb, sxy_a, sxy_b, Ja, Jb, cb, w):
        """Pair residual and its Jacobians w.r.t. both frames' tangents. Forward mode one input at a time (so
        each pushforward skips the terms that do not depend on it: 6+6 root tangents through the SE(3) log,
        joints and sole corners through linear terms); the soles then chain through the frames' sole
        Jacobians Ja, Jb."""

        def f(da6, db6, qa_, qb_, sa_, sb_):
            ra = (jaxlie.SE3(ra7) @ jaxlie.SE3.exp(da6)).wxyz_xyz
            rb = (jaxlie.SE3(rb7) @ jaxlie.SE3.exp(db6)).wxyz_xyz
            return pair_res_xy(ra, rb, qa_, qb_, sa_, sb_, cb, w)

        z6 = jnp.zeros(6)
        args = (z6, z6, qa, qb, sxy_a, sxy_b)
        r = f(*args)
        J = [jax.jacfwd(f, argnums=i)(*args) for i in range(6)]
        Pa = jnp.concatenate([J[0], J[2]], axis=1) + J[4] @ Ja
        Pb = jnp.concatenate([J[1], J[3]], axis=1) + J[5] @ Jb
        return r, Pa, Pb

    def residuals(roots, q, s, data, cb, w):
        """(frame residuals (T,r), pair residuals (T-1,p)): the whole objective is their sum of squares."""
        res, soles = jax.vmap(frame_res, in_axes=(0, 0, None, 0, None))(roots, q, s, data, w)
        sxy = soles[..., :2].reshape(len(q), -1)
        pr = jax.vmap(pair_res_xy, in_axes=(0, 0, 0, 0, 0, 0, 0, None))(
            roots[:-1], roots[1:], q[:-1], q[1:], sxy[:-1], sxy[1:], cb, w
        )
        return res, pr

    def total_cost(roots, q, s, data, cb, w):
        res, pr = residuals(roots, q, s, data, cb, w)
        return jnp.sum(res**2) + jnp.sum(pr**2)

    def jacobians(roots, q, s, data, cb, w):
        """Residuals and Jacobians of every frame term and pair term."""
        res, sxy, Jx, Jsxy, Js = jax.vmap(frame_lin, in_axes=(0, 0, None, 0, None))(roots, q, s, data, w)
        pr, Pa, Pb = jax.vmap(pair_lin, in_axes=(0, 0, 0, 0, 0, 0, 0, 0, 0, None))(
            roots[:-1], roots[1:], q[:-1], q[1:], sxy[:-1], sxy[1:], Jsxy[:-1], Jsxy[1:], cb, w
        )
        return res, Jx, Js, pr, Pa, Pb

    def assemble(res, Jx, Js, pr, Pa, Pb):
        """Blocks of J^T J and the gradient -J^T r; also the cost."""
        D = jnp.einsum("tri,trj->tij", Jx, Jx)
        D = D.at[:-1].add(jnp.einsum("tri,trj->tij", Pa, Pa))
        D = D.at[1:].add(jnp.einsum("tri,trj->tij", Pb, Pb))
        B = jnp.einsum("tri,trj->tij", Pb, Pa)  # H[t+1,t]
        C = jnp.einsum("tri,trj->tij", Jx, Js)
        Js_rows = Js.reshape(-1, Js.shape[-1])  # one GEMM: XLA's batched einsum over t is 5x slower here
        S = Js_rows.T @ Js_rows
        gx = -jnp.einsum("tri,tr->ti", Jx, res)
        gx = gx.at[:-1].add(-jnp.einsum("tri,tr->ti", Pa, pr))
        gx = gx.at[1:].add(-jnp.einsum("tri,tr->ti", Pb, pr))
        gs = -(Js_rows.T @ res.reshape(-1))
        cost = jnp.sum(res**2) + jnp.sum(pr**2)
        return (D, B, C, S, gx, gs), cost

    def normal_equations(roots, q, s, data, cb, w):
        return assemble(*jacobians(roots, q, s, data, cb, w))

    def damped_step(eqs, lam, dmp_x, dmp_s):
        """Solve (H + lam diag(dmp)) h = g."""
        D, B, C, S, gx, gs = eqs
        Dd = D + lam * (jnp.eye(D.shape[-1]) * dmp_x[:, None, :])
        Sd = S + lam * jnp.diag(dmp_s)
        return arrow_solve(Dd, B, C, Sd, gx, gs)

    def damping(eqs, marquardt):
        """Damping diagonal: 1 + marquardt * diag(H) (marquardt = 0: plain lam I as jaxls does)."""
        D, S = eqs[0], eqs[3]
        return 1.0 + marquardt * jnp.diagonal(D, axis1=-2, axis2=-1), 1.0 + marquardt * jnp.diagonal(S)

    @jax.jit
    def solve(roots, q, s, data, cb, w, settings):
        st_ = settings

        def outer_cond(st):
            return (st["it"] < st_["max_iterations"]) & ~st["done"]

        def outer_body(st):
            eqs, cost = normal_equations(st["roots"], st["q"], st["s"], data, cb, w)
            gx, gs = eqs[4], eqs[5]
            dmp_x, dmp_s = damping(eqs, st_["marquardt"])

            def inner_cond(inn):
                return ~inn["accepted"] & ~inn["stalled"] & (inn["tries"] < st_["max_step_tries"])

            def inner_body(inn):
                lam = inn["lam"]
                dx, ds = damped_step(eqs, lam, dmp_x, dmp_s)
                hg = jnp.sum(dx * gx) + jnp.sum(ds * gs)
                hdh = jnp.sum(dmp_x * dx * dx) + jnp.sum(dmp_s * ds * ds)

                def trial(alpha):
                    """Cost at the step scaled by alpha, and the quadratic model's predicted reduction."""
                    r2, q2, s2 = _retract(st["roots"], st["q"], st["s"], alpha * dx, alpha * ds)
                    new_cost = total_cost(r2, q2, s2, data, cb, w)
                    # model: (H + lam D) h = g, so h^T H h = h^T g - lam h^T D h
                    pred = 2.0 * alpha * hg - alpha**2 * (hg - lam * hdh)
                    rho = (cost - new_cost) / jnp.maximum(pred, 1e-12)
                    ok = jnp.isfinite(new_cost) & (new_cost < cost) & (rho > 1e-3)
                    return ok, new_cost, pred, (r2, q2, s2)

                # the full step, then (when it fails) up to ``backtrack`` halvings along the same direction:
                # a cost evaluation is 3x cheaper than a new factorisation, and the direction is often right
                # where the model's length is not (kinks of the terrain, hinge terms switching on)
                ok, new_cost, pred, vals = trial(1.0)

                def bt_cond(c):
                    return ~c[0] & (c[4] < st_["backtrack"])

                def bt_body(c):
                    alpha = 0.5 ** (c[4] + 1)
                    ok2, cost2, _, vals2 = trial(alpha)
                    return ok2, cost2, vals2, alpha, c[4] + 1

                ok, new_cost, vals, alpha, halvings = jax.lax.while_loop(
                    bt_cond, bt_body, (ok, new_cost, vals, jnp.float32(1.0), jnp.int32(0))
                )
                r2, q2, s2 = vals
                # the model promises less than a tenth of the stopping tolerance: converged (or stuck)
                stalled = ~ok & (pred < 0.1 * st_["cost_tolerance"] * cost)
                lam_next = jnp.where(
                    ok,
                    jnp.where(alpha < 1.0, lam, jnp.maximum(lam / st_["lambda_down"], st_["lambda_min"])),
                    lam * st_["lambda_up"],
                )
                return {
                    "accepted": ok,
                    "stalled": stalled,
                    "tries": inn["tries"] + 1,
                    "evals": inn["evals"] + 1 + halvings,
                    "lam": lam_next,
                    "roots": jnp.where(ok, r2, inn["roots"]),
                    "q": jnp.where(ok, q2, inn["q"]),
                    "s": jnp.where(ok, s2, inn["s"]),
                    "cost": jnp.where(ok, new_cost, inn["cost"]),
                }

            inn = jax.lax.while_loop(
                inner_cond,
                inner_body,
                {
                    "accepted": jnp.array(False),
                    "stalled": jnp.array(False),
                    "tries": jnp.array(0),
                    "evals": jnp.array(0),
                    "lam": st["lam"],
                    "roots": st["roots"],
                    "q": st["q"],
                    "s": st["s"],
                    "cost": cost,
                },
            )
            rel = (cost - inn["cost"]) / jnp.maximum(cost, 1e-12)
            done = ~inn["accepted"] | (rel < st_["cost_tolerance"])
            return {
                "roots": inn["roots"],
                "q": inn["q"],
                "s": inn["s"],
                "lam": inn["lam"],
                "it": st["it"] + 1,
                "solves": st["solves"] + inn["tries"],
                "evals": st["evals"] + inn["evals"],
                "cost0": st["cost0"],
                "cost": inn["cost"],
                "done": done,
                "cost_hist": st["cost_hist"].at[st["it"]].set(inn["cost"], mode="drop"),
                "tries_hist": st["tries_hist"].at[st["it"]].set(inn["tries"], mode="drop"),
                "lam_hist": st["lam_hist"].at[st["it"]].set(inn["lam"], mode="drop"),
            }

        cost0 = total_cost(roots, q, s, data, cb, w)
        st = jax.lax.while_loop(
            outer_cond,
            outer_body,
            {
                "roots": roots,
                "q": q,
                "s": s,
                "lam": st_["lambda_initial"],
                "it": jnp.array(0),
                "solves": jnp.array(0),
                "evals": jnp.array(0),
                "cost0": cost0,
                "cost": cost0,
                "done": jnp.array(False),
                "cost_hist": jnp.zeros(HISTORY),
                "tries_hist": jnp.zeros(HISTORY, jnp.int32),
                "lam_hist": jnp.zeros(HISTORY),
            },
        )
        summary = {
            k: st[k]
            for k in ("it", "solves", "evals", "cost0", "cost", "lam", "cost_hist", "tries_hist", "lam_hist")
        }
        return st["roots"], st["q"], st["s"], summary

    pieces = {
        "jacobians": jax.jit(jacobians),
        "assemble": jax.jit(assemble),
        "damping": jax.jit(damping),
        "normal_equations": jax.jit(normal_equations),
        "damped_step": jax.jit(damped_step),
        "total_cost": jax.jit(total_cost),
        "residuals": jax.jit(residuals),
        "retract": jax.jit(_retract),
    }
    return solve, pieces
