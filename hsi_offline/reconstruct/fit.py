"""Joint human-scene optimisation (VideoMimic sec. 3.2 / app. A.2, reduced to what runs fast on a CPU).

Variables: every joint's world position X (T, J, 3) and the log of the scene scale alpha (only when the
camera moves: SfM/depth translations are up to scale, the human body fixes it). Residuals, all divided by
their noise level so the weights are physical:

- 2D reprojection of X through the per-frame camera (pixels / sigma_px, weighted by keypoint confidence);
- 3D agreement with the lifted, root-relative joints rotated into the world (metres / sigma_3d): this is
  where the metric scale of the body comes from;
- smoothness: joint acceleration (metres per frame^2 / sigma_acc);
- contact consistency: a foot joint in contact does not move between frames (/ sigma_slip).

All terms but the reprojection are linear in X, so their sparse Jacobian is built once; Levenberg-Marquardt
then solves the block-tridiagonal normal equations (blocks of 2 frames) by block Cholesky.
Optimising joint positions rather than SMPL pose parameters is a deliberate simplification: the retargeter
fits the robot to joint positions anyway, and it keeps the problem sparse and small.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.linalg import cho_factor, cho_solve
from scipy.ndimage import uniform_filter1d
from threadpoolctl import threadpool_limits

from hsi_offline.reconstruct.body_skeleton import fit_subset
from hsi_offline.reconstruct.observations import Observations

log = logging.getLogger(__name__)


@dataclass
class FitConfig:
    sigma_px: float = 4.0  # 2D keypoint noise (pixels)
    sigma_3d: float = 0.05  # lifted joint noise (m)
    sigma_acc: float = 0.02  # joint acceleration per frame^2 at 30 fps (m); scaled with fps
    sigma_slip: float = 0.03  # foot motion per frame while in contact (m): loose, feet roll heel to toe
    optimise_alpha: bool = False  # False: alpha stays where the feet put it (see refine_alpha)
    max_iters: int = 15
    tol: float = 1e-4  # relative cost decrease that stops LM


@dataclass
class CameraPoses:
    """World-from-camera rotations and camera centres up to the scene scale alpha (static: identity)."""

    R_wc: np.ndarray  # (T, 3, 3)
    c: np.ndarray  # (T, 3)

    @property
    def static(self) -> bool:
        return bool(np.allclose(self.c, 0.0) and np.allclose(self.R_wc, self.R_wc[:1]))

    @property
    def translates(self) -> bool:
        """False for a static or purely rotating camera: then there is no scene scale to fit."""
        return not np.allclose(self.c, 0.0)

    @classmethod
    def identity(cls, T: int) -> CameraPoses:
        return cls(np.repeat(np.eye(3)[None], T, 0), np.zeros((T, 3)))


@dataclass
class FitResult:
    joints: np.ndarray  # (T, J, 3) world (the camera world: first camera's axes until gravity alignment)
    alpha: float
    iterations: int
    seconds: float
    cost: float
    reproj_px: float  # confidence-weighted median reprojection error


def init_root_positions(obs: Observations) -> np.ndarray:
    """Camera-frame hip-midpoint positions (T, 3) by linear least squares per frame (translation-only PnP).

    For each joint with lifted offset L and normalised image point (a, b): (L_x + t_x) - a (L_z + t_z) = 0 and
    (L_y + t_y) - b (L_z + t_z) = 0, linear in t. Frames with too few keypoints are interpolated.
    """
    T = obs.num_frames
    Kinv = np.linalg.inv(obs.K)
    ab = (np.concatenate([obs.uv, np.ones(obs.uv.shape[:2] + (1,))], -1) @ Kinv.T)[..., :2]
    w = np.sqrt(np.minimum(obs.conf2d, obs.conf3d))
    t_out = np.full((T, 3), np.nan)
    L = obs.lifted
    for t in range(T):
        m = w[t] > 0.2
        if m.sum() < 4:
            continue
        a, b, Lt, wt = ab[t, m, 0], ab[t, m, 1], L[t, m], w[t, m]
        A = np.zeros((2 * m.sum(), 3))
        A[0::2, 0], A[0::2, 2] = 1.0, -a
        A[1::2, 1], A[1::2, 2] = 1.0, -b
        rhs = np.empty(2 * m.sum())
        rhs[0::2] = a * Lt[:, 2] - Lt[:, 0]
        rhs[1::2] = b * Lt[:, 2] - Lt[:, 1]
        ww = np.repeat(wt, 2)
        sol, *_ = np.linalg.lstsq(A * ww[:, None], rhs * ww, rcond=None)
        if sol[2] > 0.1:
            t_out[t] = sol
    ok = np.all(np.isfinite(t_out), axis=1)
    if ok.sum() < 2:
        raise ValueError(
            "the person could not be placed in 3D in at least 2 frames (too few visible keypoints)"
        )
    idx = np.arange(T)
    return np.stack([np.interp(idx, idx[ok], t_out[ok, k]) for k in range(3)], axis=1)


def estimate_alpha(root_cam: np.ndarray, cams: CameraPoses, obs: Observations | None = None) -> float:
    """Scene scale from the feet: the stance foot stands still in the world while the camera moves.

    For a log-spaced grid of alpha, world foot tracks are R_t (root + lifted foot) + alpha c_t; the score is
    the summed speed of the slower foot per frame (L1, robust to bad frames). Without observations of the
    feet, the smoothest root trajectory decides.
    """
    grid = np.exp(np.linspace(np.log(1e-3), np.log(1e3), 241))
    win = max(3, int(round(0.2 * obs.fps)) | 1) if obs is not None else 1
    dc = np.diff(uniform_filter1d(cams.c, win, axis=0, mode="nearest"), axis=0)
    if float(np.abs(dc).sum()) < 1e-9:
        return 1.0
    if obs is None:
        pw = np.einsum("tij,tj->ti", cams.R_wc, root_cam)
        a, b = np.diff(pw, 2, axis=0).ravel(), np.diff(cams.c, 2, axis=0).ravel()
        alpha = -float(a @ b) / max(float(b @ b), 1e-12)
        return alpha if alpha > 1e-3 else 1.0
    sk = obs.skeleton
    speeds = []
    for feet in (sk.left_foot, sk.right_foot):
        p = root_cam + obs.lifted[:, list(feet)].mean(axis=1)
        pw = uniform_filter1d(np.einsum("tij,tj->ti", cams.R_wc, p), win, axis=0, mode="nearest")
        dp = np.diff(pw, axis=0)  # (T-1, 3)
        speeds.append(np.linalg.norm(dp[None] + grid[:, None, None] * dc[None], axis=-1))  # (G, T-1)
    ok = obs.valid[1:] & obs.valid[:-1]
    score = np.minimum(speeds[0], speeds[1])[:, ok].sum(axis=1)
    return float(grid[int(np.argmin(score))])


def refine_alpha(X: np.ndarray, alpha: float, cams: CameraPoses, contacts: np.ndarray, feet: tuple) -> float:
    """Scene scale that keeps planted feet still: least squares of |D(R x_c) + alpha D(c)| over contact pairs.

    Done in closed form outside LM on purpose: inside LM the acceleration prior pulls alpha down (a smaller
    world moves less), a bias of 20-45 % measured on real mocap with a following camera.
    """
    Rt = np.transpose(cams.R_wc, (0, 2, 1))
    a_all, b_all = [], []
    for side, fj in enumerate(feet):
        both = np.flatnonzero(contacts[:-1, side] & contacts[1:, side])
        if both.size == 0:
            continue
        xc = np.einsum("tik,tjk->tji", Rt, X[:, list(fj)] - alpha * cams.c[:, None])  # camera frame
        pw = np.einsum("tik,tjk->tji", cams.R_wc, xc)
        a_all.append((pw[both + 1] - pw[both]).reshape(-1))
        b_all.append(np.repeat((cams.c[both + 1] - cams.c[both])[:, None], len(fj), 1).reshape(-1))
    if not a_all:
        return alpha
    a, b = np.concatenate(a_all), np.concatenate(b_all)
    denom = float(b @ b)
    new = -float(a @ b) / denom if denom > 1e-12 else alpha
    return new if new > 1e-4 else alpha


def _linear_system(
    obs: Observations, cams: CameraPoses, contacts: np.ndarray | None, cfg: FitConfig
) -> tuple[sp.csr_matrix, np.ndarray]:
    """Sparse A, b of the linear residual blocks r = A x - b (3D, smoothness, contact)."""
    T, J = obs.uv.shape[:2]
    n = T * J * 3
    sk = obs.skeleton
    vid = np.arange(n).reshape(T, J, 3)
    rows, cols, vals, rhs = [], [], [], []
    r0 = 0
    # 3D: w (X_j - 0.5 X_lh - 0.5 X_rh) = w R L
    w3 = (obs.conf3d / cfg.sigma_3d)[..., None] * np.ones(3)
    Lw = np.einsum("tik,tjk->tji", cams.R_wc, obs.lifted)
    ridx = r0 + np.arange(n).reshape(T, J, 3)
    for col, coef in (
        (vid, 1.0),
        (vid[:, [sk.left_hip]].repeat(J, 1), -0.5),
        (vid[:, [sk.right_hip]].repeat(J, 1), -0.5),
    ):
        rows.append(ridx.ravel())
        cols.append(col.ravel())
        vals.append((coef * w3).ravel())
    rhs.append((w3 * Lw).ravel())
    r0 += n
    # smoothness
    if T >= 3:
        s_acc = cfg.sigma_acc * (30.0 / obs.fps) ** 2
        m = (T - 2) * J * 3
        ridx = r0 + np.arange(m)
        for k, coef in ((0, 1.0), (1, -2.0), (2, 1.0)):
            rows.append(ridx)
            cols.append(vid[k : T - 2 + k].ravel())
            vals.append(np.full(m, coef / s_acc))
        rhs.append(np.zeros(m))
        r0 += m
    # contact: foot joints do not slide
    if contacts is not None:
        for side, feet in ((0, sk.left_foot), (1, sk.right_foot)):
            both = np.flatnonzero(contacts[:-1, side] & contacts[1:, side])
            if both.size == 0:
                continue
            a = vid[both][:, list(feet)].ravel()
            b = vid[both + 1][:, list(feet)].ravel()
            ridx = r0 + np.arange(a.size)
            rows += [ridx, ridx]
            cols += [a, b]
            vals += [np.full(a.size, -1.0 / cfg.sigma_slip), np.full(a.size, 1.0 / cfg.sigma_slip)]
            rhs.append(np.zeros(a.size))
            r0 += a.size
    A = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(r0, n + 1))
    return A, np.concatenate(rhs)


def _reprojection(
    x: np.ndarray, obs: Observations, cams: CameraPoses, cfg: FitConfig, moving: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Weighted reprojection residuals (T, J, 2), their Jacobian w.r.t. each joint (T, J, 2, 3) and, when the
    camera moves, w.r.t. log(alpha) (T, J, 2). Each residual depends on one joint only: block-diagonal."""
    T, J = obs.uv.shape[:2]
    n = T * J * 3
    X = x[:n].reshape(T, J, 3)
    alpha = float(np.exp(x[n]))
    Rt = np.transpose(cams.R_wc, (0, 2, 1))  # camera-from-world
    Xc = np.einsum("tik,tjk->tji", Rt, X - alpha * cams.c[:, None, :])
    z = np.maximum(Xc[..., 2], 1e-2)
    fx, fy, cx, cy = obs.K[0, 0], obs.K[1, 1], obs.K[0, 2], obs.K[1, 2]
    u = fx * Xc[..., 0] / z + cx
    v = fy * Xc[..., 1] / z + cy
    w = obs.conf2d / cfg.sigma_px
    r = np.stack([w * (u - obs.uv[..., 0]), w * (v - obs.uv[..., 1])], -1)
    zero = np.zeros_like(z)
    dproj = np.stack(
        [
            np.stack([fx / z, zero, -fx * Xc[..., 0] / z**2], -1),
            np.stack([zero, fy / z, -fy * Xc[..., 1] / z**2], -1),
        ],
        -2,
    )  # (T, J, 2, 3) d(u,v)/dXc
    JX = np.einsum("tjak,tkl->tjal", dproj, Rt) * w[..., None, None]
    Ja = None
    if moving:
        dXc_da = -alpha * np.einsum("tik,tk->ti", Rt, cams.c)
        Ja = np.einsum("tjak,tk->tja", dproj, dXc_da) * w[..., None]
    return r, JX, Ja


class _BlockTridiagonal:
    """Normal equations whose unknowns are frame-major (t, j, xyz): coupling reaches 2 frames (acceleration),
    so blocks of 2 frames form a block-tridiagonal SPD matrix, solved by block Cholesky in O(T (6J)^3)."""

    def __init__(self, M: sp.spmatrix, T: int, J: int):
        self.fs = J * 3
        self.bounds = [(s, min(s + 2, T)) for s in range(0, T, 2)]
        nb = len(self.bounds)
        self.D = [np.zeros(((e - s) * self.fs,) * 2) for s, e in self.bounds]
        self.B = [
            np.zeros(((e - s) * self.fs, (self.bounds[i + 1][1] - self.bounds[i + 1][0]) * self.fs))
            for i, (s, e) in enumerate(self.bounds[:-1])
        ]
        C = M.tocoo()
        bs = 2 * self.fs
        br, bc = C.row // bs, C.col // bs
        rr, cc = C.row - br * bs, C.col - bc * bs
        for i in range(nb):
            m = (br == i) & (bc == i)
            np.add.at(self.D[i], (rr[m], cc[m]), C.data[m])
        for i in range(nb - 1):
            m = (br == i) & (bc == i + 1)
            np.add.at(self.B[i], (rr[m], cc[m]), C.data[m])

    def solve(self, diag_add: np.ndarray, rhs: np.ndarray) -> np.ndarray:
        """Solve (M + diag(blocks added)) x = rhs; `diag_add` is (T, J*3, J*3)... per-frame blocks."""
        S, Y, W = [], [], []
        f = self.fs
        for i, (s, e) in enumerate(self.bounds):
            Di = self.D[i].copy()
            for k, t in enumerate(range(s, e)):
                Di[k * f : (k + 1) * f, k * f : (k + 1) * f] += diag_add[t]
            yi = rhs[s * f : e * f].copy()
            if i > 0:
                Bp = self.B[i - 1]
                Di -= Bp.T @ W[-1]
                yi -= Bp.T @ cho_solve(S[-1], Y[-1], check_finite=False)
            S.append(cho_factor(Di, check_finite=False))
            Y.append(yi)
            if i < len(self.bounds) - 1:
                W.append(cho_solve(S[-1], self.B[i], check_finite=False))
        x = np.empty_like(rhs)
        nxt = None
        for i in range(len(self.bounds) - 1, -1, -1):
            s, e = self.bounds[i]
            yi = Y[i] if nxt is None else Y[i] - self.B[i] @ nxt
            nxt = cho_solve(S[i], yi, check_finite=False)
            x[s * f : e * f] = nxt
        return x


def fit_motion(
    obs: Observations,
    cams: CameraPoses | None = None,
    contacts: np.ndarray | None = None,
    cfg: FitConfig | None = None,
    init: np.ndarray | None = None,
    alpha0: float | None = None,
) -> FitResult:
    """Levenberg-Marquardt over world joint positions (and the scene scale when the camera moves).

    BLAS runs single-threaded here: the solver does hundreds of small dense factorisations, and a threaded
    BLAS on a busy 2-core machine made each one ~300x slower (measured).
    """
    sub_sk, keep, carried = fit_subset(obs.skeleton)
    if carried:
        red = Observations(
            sub_sk,
            obs.uv[:, keep],
            obs.conf2d[:, keep],
            obs.lifted[:, keep],
            obs.conf3d[:, keep],
            obs.valid,
            obs.K,
            obs.width,
            obs.height,
            obs.fps,
            obs.masks,
        )
        with threadpool_limits(limits=1):
            res = _fit_motion(red, cams, contacts, cfg, None if init is None else init[:, keep], alpha0)
        cams = cams or CameraPoses.identity(obs.num_frames)
        X = np.zeros(obs.lifted.shape)
        X[:, keep] = res.joints
        win = max(3, int(round(0.15 * obs.fps)) | 1)
        for j, p in carried.items():  # carried joints keep their (temporally smoothed) lifted offset
            off = uniform_filter1d(obs.lifted[:, j] - obs.lifted[:, p], win, axis=0, mode="nearest")
            X[:, j] = X[:, p] + np.einsum("tik,tk->ti", cams.R_wc, off)
        res.joints = X
        return res
    with threadpool_limits(limits=1):
        return _fit_motion(obs, cams, contacts, cfg, init, alpha0)


def _fit_motion(
    obs: Observations,
    cams: CameraPoses | None,
    contacts: np.ndarray | None,
    cfg: FitConfig | None,
    init: np.ndarray | None,
    alpha0: float | None,
) -> FitResult:
    cfg = cfg or FitConfig()
    t0 = time.perf_counter()
    T, J = obs.uv.shape[:2]
    n = T * J * 3
    cams = cams or CameraPoses.identity(T)
    moving = cams.translates
    if init is None:
        root_c = init_root_positions(obs)
        alpha = alpha0 if alpha0 is not None else (estimate_alpha(root_c, cams, obs) if moving else 1.0)
        root_w = np.einsum("tij,tj->ti", cams.R_wc, root_c) + alpha * cams.c
        init = root_w[:, None, :] + np.einsum("tik,tjk->tji", cams.R_wc, obs.lifted)
    else:
        alpha = alpha0 if alpha0 is not None else 1.0
    x = np.concatenate([np.asarray(init, dtype=np.float64).ravel(), [np.log(alpha)]])
    A, b = _linear_system(obs, cams, contacts, cfg)
    A = A[:, :n].tocsr()
    system = _BlockTridiagonal((A.T @ A).tocoo(), T, J)
    AtA_diag = np.asarray((A.multiply(A)).sum(axis=0)).ravel()

    def evaluate(xx: np.ndarray) -> tuple[float, tuple]:
        r2, JX, Ja = _reprojection(xx, obs, cams, cfg, moving)
        rl = A @ xx[:n] - b
        return 0.5 * float((r2**2).sum() + rl @ rl), (r2, JX, Ja, rl)

    cost, (r2, JX, Ja, rl) = evaluate(x)
    lam = 1e-3
    it = 0
    rel = 1.0
    for it in range(1, cfg.max_iters + 1):  # noqa: B007
        g = np.einsum("tjal,tja->tjl", JX, r2).ravel() + A.T @ rl
        Hblk = np.einsum("tjal,tjam->tjlm", JX, JX)  # (T, J, 3, 3) per joint
        blocks = np.zeros((T, J * 3, J * 3))
        for j in range(J):
            blocks[:, 3 * j : 3 * j + 3, 3 * j : 3 * j + 3] = Hblk[:, j]
        dH = np.einsum("tjll->tjl", Hblk).reshape(T, J * 3) + AtA_diag.reshape(T, J * 3)
        if moving:
            h_xa = np.einsum("tjal,tja->tjl", JX, Ja).ravel()
            h_aa = float((Ja**2).sum())
            g_a = float((Ja * r2).sum())
        improved = False
        for _ in range(8):
            damp = blocks.copy()
            idx = np.arange(J * 3)
            damp[:, idx, idx] += lam * np.maximum(dH, 1e-6) + 1e-9
            if moving and cfg.optimise_alpha:
                sol = system.solve(damp, np.stack([-g, h_xa], 1))
                u, w = sol[:, 0], sol[:, 1]
                da = (-g_a - h_xa @ u) / (h_aa * (1 + lam) + 1e-12 - h_xa @ w)
                step = np.r_[u - w * da, da]
            else:
                step = np.r_[system.solve(damp, -g[:, None])[:, 0], 0.0]
            x_new = x + step
            cost_new, parts = evaluate(x_new)
            if cost_new < cost:
                rel = (cost - cost_new) / max(cost, 1e-12)
                x, cost, (r2, JX, Ja, rl) = x_new, cost_new, parts
                lam = max(lam / 5.0, 1e-7)
                improved = True
                break
            lam *= 10.0
        if not improved or rel < cfg.tol:
            break
    X = x[:n].reshape(T, J, 3)
    alpha = float(np.exp(x[n]))
    err = np.linalg.norm(r2, axis=-1) * cfg.sigma_px / np.maximum(obs.conf2d, 1e-9)
    e = err[obs.conf2d > 0.3]
    dt = time.perf_counter() - t0
    log.info("fit: %d frames x %d joints, %d LM iterations, %.2f s, alpha %.3f", T, J, it, dt, alpha)
    return FitResult(X, alpha, it, dt, cost, float(np.median(e)) if e.size else float("nan"))
