"""Accuracy figures (SLOPER4D / WHAM conventions as VideoMimic reports them)."""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

from hsi_kernel.terrain import Terrain


def umeyama(src: np.ndarray, dst: np.ndarray, scale: bool = True) -> tuple[float, np.ndarray, np.ndarray]:
    """s, R, t minimising |s R src + t - dst|^2 over point sets (N, 3)."""
    mu_s, mu_d = src.mean(0), dst.mean(0)
    a, b = src - mu_s, dst - mu_d
    U, S, Vt = np.linalg.svd(b.T @ a / len(src))
    D = np.eye(3)
    if np.linalg.det(U) * np.linalg.det(Vt) < 0:
        D[2, 2] = -1
    R = U @ D @ Vt
    s = float(np.trace(np.diag(S) @ D) / (a**2).sum(1).mean()) if scale else 1.0
    return s, R, mu_d - s * R @ mu_s


def _apply(sRt: tuple[float, np.ndarray, np.ndarray], X: np.ndarray) -> np.ndarray:
    s, R, t = sRt
    return s * X @ R.T + t


def segment_mpjpe(est: np.ndarray, gt: np.ndarray, seg: int = 100) -> dict[str, float]:
    """WA-MPJPE (similarity alignment of the whole segment) and W-MPJPE (rigid alignment of the segment's
    first two frames), mm, averaged over consecutive `seg`-frame segments (the clip if shorter)."""
    T = est.shape[0]
    starts = list(range(0, max(T - seg, 0) + 1, seg)) if seg <= T else [0]
    wa, w = [], []
    for s in starts:
        e, g = est[s : s + seg], gt[s : s + seg]
        A = umeyama(e.reshape(-1, 3), g.reshape(-1, 3), scale=True)
        wa.append(np.linalg.norm(_apply(A, e) - g, axis=-1).mean())
        B = umeyama(e[:2].reshape(-1, 3), g[:2].reshape(-1, 3), scale=False)
        w.append(np.linalg.norm(_apply(B, e) - g, axis=-1).mean())
    return {
        "wa_mpjpe_mm": 1000 * float(np.mean(wa)),
        "w_mpjpe_mm": 1000 * float(np.mean(w)),
        "segments": len(starts),
    }


def terrain_points(t: Terrain) -> np.ndarray:
    ny, nx = t.shape
    X, Y = np.meshgrid(t.origin[0] + np.arange(nx) * t.resolution, t.origin[1] + np.arange(ny) * t.resolution)
    return np.stack([X.ravel(), Y.ravel(), t.heights.ravel()], 1)


def terrain_errors(
    est_t: Terrain,
    gt_t: Terrain,
    est_joints: np.ndarray,
    gt_joints: np.ndarray,
    gt_contacts: np.ndarray,
    feet: tuple[tuple[int, ...], tuple[int, ...]],
    region: float = 0.6,
) -> dict[str, float]:
    """Support-height error under the true contacts and a symmetric Chamfer distance, after mapping the
    estimate into the ground-truth frame with the whole-clip similarity alignment of the joints."""
    A = umeyama(est_joints.reshape(-1, 3), gt_joints.reshape(-1, 3), scale=True)
    P = _apply(A, terrain_points(est_t))
    tree = cKDTree(P[:, :2])
    errs = []
    for side, fj in enumerate(feet):
        ts = np.flatnonzero(gt_contacts[:, side])
        if ts.size == 0:
            continue
        xy = gt_joints[ts][:, list(fj), :2].mean(1)
        _, i = tree.query(xy, k=4)
        z_est = P[i, 2].mean(1)
        z_gt = gt_t.height_at(gt_joints[ts][:, list(fj), :2].reshape(-1, 2)).reshape(len(ts), -1).max(1)
        errs.append(np.abs(z_est - z_gt))
    support = float(np.mean(np.concatenate(errs))) if errs else float("nan")
    body = cKDTree(gt_joints[..., :2].reshape(-1, 2)[::7])
    G = terrain_points(gt_t)
    x0, x1, y0, y1 = gt_t.extent  # compare only where both terrains exist
    G = G[body.query(G[:, :2], k=1)[0] <= region]
    P = P[
        (body.query(P[:, :2], k=1)[0] <= region)
        & (P[:, 0] >= x0)
        & (P[:, 0] <= x1)
        & (P[:, 1] >= y0)
        & (P[:, 1] <= y1)
    ]
    G = G[cKDTree(P[:, :2]).query(G[:, :2], k=1)[0] <= 2 * est_t.resolution]
    d1 = cKDTree(G).query(P, k=1)[0]
    d2 = cKDTree(P).query(G, k=1)[0]
    return {"support_height_err_cm": 100 * support, "chamfer_cm": 100 * float(0.5 * (d1.mean() + d2.mean()))}
