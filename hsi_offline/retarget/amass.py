"""AMASS-style SMPL parameter files (``poses``/``trans``/``betas``) -> keypoint motion, with the user's model.

AMASS npz keys: ``poses`` (T, 72) SMPL, (T, 156) SMPL+H or (T, 165) SMPL-X axis-angle (global orientation
first, then the body joints), ``trans`` (T, 3), ``betas`` (B,), ``mocap_framerate`` (or
``mocap_frame_rate``), in a +z-up world in metres. Joints come from the one SMPL path of this project
(``reconstruct.importers.smpl.smpl_joints``, the real ``smplx`` layer on the user's licensed model file);
the SMPL models cannot ship with the project. A SMPL model takes the 21 body joints of SMPL+H/SMPL-X poses
and rest hands; a SMPL-X model (file or folder named ``smplx``) takes the first 21 body joints.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hsi_offline.npz import read_npz
from hsi_offline.reconstruct.body_skeleton import SMPL_24

from .human import HumanKeypointMotion, estimate_contacts, to_keypoints

POSE_WIDTHS = {72: "SMPL", 156: "SMPL+H", 165: "SMPL-X"}


def load_amass_params(path: str | Path) -> dict[str, np.ndarray]:
    """Read and check an AMASS npz: poses, trans, betas and the frame rate (one clear error otherwise)."""
    path = Path(path)
    d = read_npz(path, "AMASS")
    missing = [k for k in ("poses", "trans", "betas") if k not in d]
    rate = next((k for k in ("mocap_framerate", "mocap_frame_rate", "fps") if k in d), None)
    if missing or rate is None:
        missing += [] if rate else ["mocap_framerate"]
        raise ValueError(f"'{path}' lacks {missing}: not an AMASS npz")
    poses, trans = d["poses"].astype(np.float64), d["trans"].astype(np.float64)
    if poses.ndim != 2 or poses.shape[1] not in POSE_WIDTHS:
        raise ValueError(f"'{path}': poses must be (T, 72|156|165), got {poses.shape}")
    T = poses.shape[0]
    if T < 2:
        raise ValueError(f"'{path}': {T} frame(s), at least 2 are needed")
    if trans.shape != (T, 3):
        raise ValueError(f"'{path}': trans must be ({T}, 3), got {trans.shape}")
    for k, a in (("poses", poses), ("trans", trans), ("betas", d["betas"])):
        if not np.all(np.isfinite(a)):
            raise ValueError(f"'{path}': {k} contains NaN or inf")
    fps = float(np.asarray(d[rate]).reshape(-1)[0])
    if not (np.isfinite(fps) and fps > 0):
        raise ValueError(f"'{path}': frame rate must be positive, got {fps}")
    return {"poses": poses, "trans": trans, "betas": d["betas"].astype(np.float64).reshape(-1), "fps": fps}


def amass_smpl_params(p: dict[str, np.ndarray], model_path: str | Path) -> dict[str, np.ndarray]:
    """The parameters ``smpl_joints`` takes, for a SMPL or a SMPL-X model."""
    poses = p["poses"]
    is_x = "smplx" in str(model_path).lower()
    if is_x:
        body = poses[:, 3:66]
    elif poses.shape[1] == 72:
        body = poses[:, 3:72]
    else:  # SMPL+H / SMPL-X: 21 body joints, SMPL's two hand joints at rest
        body = np.concatenate([poses[:, 3:66], np.zeros((len(poses), 6))], axis=1)
    betas = p["betas"][: (10 if not is_x else len(p["betas"]))]
    return {"global_orient": poses[:, :3], "body_pose": body, "betas": betas, "transl": p["trans"]}


def load_amass(path: str | Path, model_path: str | Path | None, floor: bool = True) -> HumanKeypointMotion:
    """AMASS npz -> 15 keypoints (z-up metres), contacts; ``floor`` puts the lowest feet 2 cm above z = 0."""
    from hsi_offline.reconstruct.importers.smpl import smpl_joints

    if model_path is None:
        raise ValueError(
            f"AMASS file '{path}': give the SMPL model file (--smpl-model, e.g. SMPL_NEUTRAL.pkl from "
            "smpl.is.tue.mpg.de); it cannot ship with this project"
        )
    p = load_amass_params(path)
    try:
        J = smpl_joints(amass_smpl_params(p, model_path), model_path)
    except FileNotFoundError as e:
        raise ValueError(str(e)) from None
    kp, conf = to_keypoints(J, list(SMPL_24), source=str(path))
    if floor:
        kp[..., 2] -= np.percentile(kp[:, [3, 4, 7, 8], 2].min(axis=1), 2) - 0.02
    contacts = estimate_contacts(kp, p["fps"], None)
    return HumanKeypointMotion(p["fps"], kp, conf, contacts, None, f"amass:{path}").validate()
