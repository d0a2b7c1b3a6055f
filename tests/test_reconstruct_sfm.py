"""Camera motion from the background with OpenCV, on synthetic textured videos written with PyAV."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from hsi_offline.reconstruct.body_skeleton import SMPL
from hsi_offline.reconstruct.observations import Observations
from hsi_offline.reconstruct.sfm import estimate_camera_motion
from hsi_offline.reconstruct.video import write_video

W, H, F = 320, 240, 300.0
K = np.array([[F, 0, W / 2], [0, F, H / 2], [0, 0, 1.0]])


def _texture(seed: int = 0) -> np.ndarray:
    import cv2

    rng = np.random.default_rng(seed)
    img = (rng.random((3 * H, 3 * W)) * 255).astype(np.uint8)
    img = cv2.GaussianBlur(img, (0, 0), 2.0)
    return cv2.cvtColor(cv2.equalizeHist(img), cv2.COLOR_GRAY2RGB)


def _obs(T: int) -> Observations:
    z = np.zeros((T, 24))
    return Observations(
        SMPL,
        np.zeros((T, 24, 2)),
        z,
        np.zeros((T, 24, 3)),
        z,
        np.ones(T, bool),
        K,
        W,
        H,
        30.0,
        [np.zeros((H // 8, W // 8), bool)] * T,
    )


def _panning_video(path: Path, T: int, deg_per_frame: float) -> Path:
    """A camera rotating about its vertical axis in front of a far textured wall: pure rotation."""
    import cv2

    tex = _texture()
    Kt = np.array([[F, 0, 1.5 * W], [0, F, 1.5 * H], [0, 0, 1.0]])  # the texture as seen at frame 0
    frames = []
    for t in range(T):
        R = Rotation.from_euler("y", deg_per_frame * t, degrees=True).as_matrix()  # camera t from camera 0
        Hm = K @ R.T @ np.linalg.inv(Kt)
        frames.append(cv2.warpPerspective(tex, Hm, (W, H)))
    return write_video(path, frames, fps=30)


def test_static_camera_is_detected(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    base = _texture()[:H, :W]
    frames = [np.clip(base + rng.normal(0, 2, base.shape), 0, 255).astype(np.uint8) for _ in range(25)]
    video = write_video(tmp_path / "static.mp4", frames, fps=30)
    cm = estimate_camera_motion(str(video), _obs(25))
    assert cm.cams is None and cm.source == "static"
    assert cm.summary["background_drift_px"] < 1.0


def test_panning_camera_rotation_is_recovered(tmp_path: Path) -> None:
    T = 30
    video = _panning_video(tmp_path / "pan.mp4", T, 0.6)
    cm = estimate_camera_motion(str(video), _obs(T))
    assert cm.source == "sfm" and cm.cams is not None
    assert cm.summary["rotation_only_pairs"] >= 1
    last = Rotation.from_matrix(cm.cams.R_wc[-1]).as_rotvec()
    assert abs(np.degrees(np.linalg.norm(last)) - 0.6 * (T - 1)) < 1.5  # 17.4 deg pan recovered
    assert abs(abs(last[1]) / np.linalg.norm(last) - 1) < 0.05  # about the vertical (y) axis
    assert not cm.cams.translates  # a pure rotation: no translation invented


def test_translating_camera_direction_is_recovered(tmp_path: Path) -> None:
    """Sideways dolly past textured blobs at 4-12 m: parallax, so the essential-matrix path runs."""
    import cv2

    rng = np.random.default_rng(2)
    P = np.stack([rng.uniform(-7, 8, 400), rng.uniform(-3, 3, 400), rng.uniform(4, 12, 400)], 1)
    shade = rng.integers(80, 255, 400)
    T = 30
    frames = []
    for t in range(T):
        img = np.zeros((H, W), np.uint8)
        X = P - [0.04 * t, 0, 0]
        uv = X[:, :2] / X[:, 2:] * F + [W / 2, H / 2]
        for (u, v), s in zip(uv, shade):
            if 0 <= u < W and 0 <= v < H:
                cv2.circle(img, (int(round(u)), int(round(v))), 3, int(s), -1)
        frames.append(cv2.cvtColor(cv2.GaussianBlur(img, (0, 0), 1.0), cv2.COLOR_GRAY2RGB))
    video = write_video(tmp_path / "dolly.mp4", frames, fps=30)
    cm = estimate_camera_motion(str(video), _obs(T))
    assert cm.source == "sfm" and cm.cams is not None and cm.cams.translates
    d = cm.cams.c[-1] / np.linalg.norm(cm.cams.c[-1])
    assert d[0] > 0.95  # moved along +x (scale unknown: SfM is up to scale)
    ang = np.degrees(np.linalg.norm(Rotation.from_matrix(cm.cams.R_wc[-1]).as_rotvec()))
    assert ang < 2.0
