"""Optional user-supplied monocular depth model (ONNX, run with onnxruntime) -> metric scene points.

The model takes one RGB image (1, 3, H, W) float32 in [0, 1] (ImageNet-normalised when the model's metadata
says `normalize=imagenet`) and returns depth (1, H, W) or (1, 1, H, W) up to scale; `output=disparity` in the
metadata means inverse depth. Its scale is fixed per clip by the human body: the depth the body-size fit
gives the toes (which touch the floor), divided by the model's depth at the toe pixels (median over
frames). Person pixels and depth edges are dropped. Static cameras only (a moving camera takes the SfM
or imported-depth path).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from hsi_offline.reconstruct.fit import CameraPoses, init_root_positions
from hsi_offline.reconstruct.observations import Observations
from hsi_offline.reconstruct.video import iter_frames

log = logging.getLogger(__name__)
_MEAN = np.array([0.485, 0.456, 0.406], np.float32)[:, None, None]
_STD = np.array([0.229, 0.224, 0.225], np.float32)[:, None, None]


def load_depth_model(path: str | Path):  # noqa: ANN201
    import onnxruntime as ort

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"depth model '{path}' does not exist")
    try:
        sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as e:
        raise ValueError(f"'{path}' is not a loadable ONNX model ({e.__class__.__name__})") from None
    inp = sess.get_inputs()[0]
    if len(inp.shape) != 4 or inp.shape[1] not in (3, "3"):
        raise ValueError(f"depth model '{path}': input must be (1, 3, H, W), got {inp.shape}")
    return sess


def predict_depth(sess, img: np.ndarray) -> np.ndarray:  # noqa: ANN001
    """Depth (H, W) at the model's input size (or the image's, for dynamic shapes)."""
    import cv2

    inp = sess.get_inputs()[0]
    h, w = inp.shape[2], inp.shape[3]
    h = h if isinstance(h, int) else (img.shape[0] // 14) * 14
    w = w if isinstance(w, int) else (img.shape[1] // 14) * 14
    x = cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA).astype(np.float32).transpose(2, 0, 1) / 255.0
    meta = sess.get_modelmeta().custom_metadata_map
    if meta.get("normalize") == "imagenet":
        x = (x - _MEAN) / _STD
    d = np.asarray(sess.run(None, {inp.name: x[None]})[0], dtype=np.float64).reshape(h, w)
    if meta.get("output") == "disparity":
        d = 1.0 / np.maximum(d, 1e-6)
    return d


def scene_points_from_onnx(
    model: str | Path,
    video: str | Path,
    obs: Observations,
    cams: CameraPoses | None,
    every: int = 5,
    stride: int = 4,
    edge_rel: float = 0.05,
) -> np.ndarray:
    """(N, 3) metric scene points in the (static) camera frame."""
    if cams is not None and cams.translates:
        raise ValueError(
            "--depth-onnx supports static cameras only; a moving camera uses SfM or --depth-cameras"
        )
    sess = load_depth_model(model)
    root_c = init_root_positions(obs)
    Kinv = np.linalg.inv(obs.K)
    sk = obs.skeleton
    feet = [f[-1] for f in (sk.left_foot, sk.right_foot)]  # toes: where the foot meets the floor
    ratios, per_frame = [], []
    for t, (_, img) in enumerate(iter_frames(video, 640)):
        if t >= obs.num_frames:
            break
        if t % every:
            continue
        d = predict_depth(sess, img)
        h, w = d.shape
        sx, sy = w / obs.width, h / obs.height
        if obs.valid[t]:
            for j in feet:
                u, v = (
                    int(np.clip(obs.uv[t, j, 0] * sx, 0, w - 1)),
                    int(np.clip(obs.uv[t, j, 1] * sy, 0, h - 1)),
                )
                z = root_c[t, 2] + obs.lifted[t, j, 2]
                if d[v, u] > 0 and obs.conf2d[t, j] > 0.3:
                    ratios.append(z / d[v, u])
        per_frame.append((t, d, sx, sy))
        if t % 50 == 0:
            log.info("depth model: frame %d/%d", t + 1, obs.num_frames)
    if not ratios:
        raise ValueError("the depth model's scale could not be tied to the person (no tracked frame sampled)")
    scale = float(np.median(ratios))
    pts = []
    for t, d, sx, sy in per_frame:
        vv, uu = np.mgrid[0 : d.shape[0] : stride, 0 : d.shape[1] : stride]
        dd = d[::stride, ::stride] * scale
        gy, gx = np.gradient(dd)
        ok = (dd > 0) & np.isfinite(dd) & (np.hypot(gx, gy) < edge_rel * dd * stride)
        if t < len(obs.masks) and obs.masks[t] is not None and obs.masks[t].any():
            import cv2

            m = cv2.resize(
                obs.masks[t].astype(np.uint8), (dd.shape[1], dd.shape[0]), interpolation=cv2.INTER_NEAREST
            )
            ok &= cv2.dilate(m, np.ones((3, 3), np.uint8)) == 0
        pix = np.stack([uu[ok] / sx, vv[ok] / sy, np.ones(ok.sum())], 1)
        pts.append((pix @ Kinv.T) * dd[ok][:, None])
    log.info(
        "depth model: scale %.3f from %d frames, %d points", scale, len(ratios), sum(len(p) for p in pts)
    )
    return np.concatenate(pts) if pts else np.zeros((0, 3))
