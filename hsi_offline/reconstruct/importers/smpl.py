"""Per-frame SMPL / SMPL-X parameters (WHAM, TRAM, 4D-Humans, GVHMR-style exports) -> `Observations`.

Input .npz (camera frame, OpenCV axes, metres): global_orient (T,3) axis-angle, body_pose (T,69) for SMPL or
(T,63) for SMPL-X, betas (B,) or (T,B), transl (T,3), K (3,3), width, height, fps; optional valid (T,).
Joints come from the real `smplx` layer given the user's licensed model file; they are projected with K to
get the 2D keypoints, and the root-relative joints are the lifted 3D - then the same fit as the video path.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hsi_offline.npz import read_npz
from hsi_offline.reconstruct.body_skeleton import SMPL
from hsi_offline.reconstruct.observations import Observations
from hsi_offline.reconstruct.perception import PerceptionConfig, check_tracking

REQUIRED = ("global_orient", "body_pose", "betas", "transl", "K", "width", "height", "fps")


def load_smpl_params(path: str | Path) -> dict[str, np.ndarray]:
    path = Path(path)
    d = read_npz(path, "SMPL parameter", REQUIRED)
    T = d["global_orient"].shape[0]
    for k, w in (("global_orient", 3), ("transl", 3)):
        if d[k].shape != (T, w):
            raise ValueError(f"'{path}': {k} must be ({T}, {w}), got {d[k].shape}")
    if d["body_pose"].shape not in ((T, 69), (T, 63)):
        raise ValueError(f"'{path}': body_pose must be ({T}, 69) for SMPL or ({T}, 63) for SMPL-X")
    if np.asarray(d["K"]).shape != (3, 3):
        raise ValueError(f"'{path}': K must be a 3x3 intrinsics matrix")
    for k in ("global_orient", "body_pose", "betas", "transl"):
        if not np.all(np.isfinite(d[k])):
            raise ValueError(f"'{path}': {k} contains NaN or inf")
    return d


def smpl_joints(params: dict[str, np.ndarray], model_path: str | Path) -> np.ndarray:
    """(T, 24, 3) SMPL-24 joints in the parameters' frame, computed by the smplx layer."""
    import smplx
    import torch

    model_path = Path(model_path)
    if not model_path.exists():
        raise FileNotFoundError(
            f"SMPL model '{model_path}' does not exist (download it from smpl.is.tue.mpg.de)"
        )
    T = params["global_orient"].shape[0]
    is_x = params["body_pose"].shape[1] == 63
    betas = np.asarray(params["betas"], dtype=np.float32)
    betas = np.repeat(betas[None], T, 0) if betas.ndim == 1 else betas
    kind = "smplx" if is_x else "smpl"
    try:
        model = smplx.create(
            str(model_path),
            model_type=kind,
            num_betas=betas.shape[1],
            batch_size=T,
            ext=model_path.suffix.lstrip(".") if model_path.is_file() else "npz",
        )
    except Exception as e:
        raise ValueError(f"cannot load the {kind.upper()} model '{model_path}': {e}") from None
    t = lambda a: torch.as_tensor(np.asarray(a, dtype=np.float32))  # noqa: E731
    with torch.no_grad():
        out = model(
            global_orient=t(params["global_orient"]),
            body_pose=t(params["body_pose"]),
            betas=t(betas),
            transl=t(params["transl"]),
        )
    J = out.joints.numpy().astype(np.float64)
    if is_x:  # SMPL-X joints 0-21 are SMPL's; SMPL's hand joints ~ the middle-finger base (SMPL-X 28, 43)
        J = np.concatenate([J[:, :22], J[:, [28, 43]]], axis=1)
    return J[:, :24]


def observations_from_smpl(
    params_path: str | Path, model_path: str | Path, cfg: PerceptionConfig | None = None
) -> tuple[Observations, dict]:
    cfg = cfg or PerceptionConfig()
    p = load_smpl_params(params_path)
    Jc = smpl_joints(p, model_path)
    T = Jc.shape[0]
    valid = np.asarray(p.get("valid", np.ones(T, bool)), dtype=bool)
    fps = float(p["fps"])
    check_tracking(valid, fps, cfg, f"SMPL file '{Path(params_path).name}'")
    K = np.asarray(p["K"], dtype=np.float64)
    if np.any(Jc[valid, :, 2] <= 0.05):
        raise ValueError(
            f"'{params_path}': joints lie behind the camera; parameters must be in the camera frame "
            "(OpenCV axes: x right, y down, z forward)"
        )
    z = np.maximum(Jc[..., 2:3], 1e-3)
    uv = Jc[..., :2] / z @ K[:2, :2].T + K[:2, 2]
    root = 0.5 * (Jc[:, SMPL.left_hip] + Jc[:, SMPL.right_hip])
    lifted = Jc - root[:, None]
    conf = np.where(valid[:, None], 1.0, 0.0) * np.ones((T, 24))
    obs = Observations(SMPL, uv, conf, lifted, conf, valid, K, int(p["width"]), int(p["height"]), fps)
    return obs, {"frames": T, "tracked_frames": int(valid.sum()), "source": "smpl"}
