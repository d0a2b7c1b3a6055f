"""MegaSaM / MonST3R-style per-frame depth + camera poses + intrinsics -> camera track and scene points.

Input .npz: depths (T,H,W) (up to scale), cam_c2w (T,4,4) world-from-camera (OpenCV axes), intrinsic (3,3)
at the depth maps' resolution; optional images (T,H,W,3) are ignored. The poses' translations are in the depth
units, so the fitter's alpha (the human body) makes both metric. Points on the person (dilated mask) and at
depth edges are dropped, as VideoMimic does.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hsi_offline.npz import read_npz
from hsi_offline.reconstruct.fit import CameraPoses
from hsi_offline.reconstruct.observations import Observations


@dataclass
class DepthCameras:
    cams: CameraPoses  # relative to the first camera
    points: np.ndarray  # (N, 3) in the first camera's frame, depth units
    K: np.ndarray  # intrinsics at the video's resolution


def load_depth_cameras(
    path: str | Path, obs: Observations, stride: int = 4, edge_rel: float = 0.05, every: int = 2
) -> DepthCameras:
    path = Path(path)
    f = read_npz(path, "depth/camera", ("depths", "cam_c2w", "intrinsic"))
    D, P, Kd = (f[k].astype(np.float64) for k in ("depths", "cam_c2w", "intrinsic"))
    T = obs.num_frames
    if D.ndim != 3 or P.shape != (D.shape[0], 4, 4) or Kd.shape != (3, 3):
        raise ValueError(
            f"'{path}': need depths (T,H,W), cam_c2w (T,4,4), intrinsic (3,3); got {D.shape}, "
            f"{P.shape}, {Kd.shape}"
        )
    if D.shape[0] != T:
        raise ValueError(f"'{path}' has {D.shape[0]} frames but the video has {T}: export every frame")
    H, W = D.shape[1:]
    s = obs.width / W
    K = Kd.copy()
    K[:2] *= s
    R0, c0 = P[0, :3, :3], P[0, :3, 3]
    R = np.einsum("ji,tjk->tik", R0, P[:, :3, :3])
    c = (P[:, :3, 3] - c0) @ R0
    pts = []
    vv, uu = np.mgrid[0:H:stride, 0:W:stride]
    rays = np.stack(
        [(uu - Kd[0, 2]) / Kd[0, 0], (vv - Kd[1, 2]) / Kd[1, 1], np.ones_like(uu, dtype=float)], -1
    )
    for t in range(0, T, every):
        d = D[t, ::stride, ::stride]
        gy, gx = np.gradient(d)
        ok = np.isfinite(d) & (d > 0) & (np.hypot(gx, gy) < edge_rel * d)
        if t < len(obs.masks) and obs.masks[t] is not None and obs.masks[t].any():
            import cv2

            m = cv2.resize(
                obs.masks[t].astype(np.uint8), (d.shape[1], d.shape[0]), interpolation=cv2.INTER_NEAREST
            )
            ok &= cv2.dilate(m, np.ones((5, 5), np.uint8)) == 0
        Xc = rays[ok] * d[ok][:, None]
        pts.append(Xc @ R[t].T + c[t])
    return DepthCameras(CameraPoses(R, c), np.concatenate(pts) if pts else np.zeros((0, 3)), K)
