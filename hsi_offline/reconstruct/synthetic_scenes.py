"""Synthetic ground truth for the accuracy benchmark and the tests: real (or generated) motion placed on a
known terrain, seen through known static or moving pinhole cameras with keypoint noise, dropouts,
occlusion and lost frames. Produces the same `Observations` perception produces.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter1d

from hsi_kernel.terrain import Terrain
from hsi_offline.reconstruct.body_skeleton import SMPL
from hsi_offline.reconstruct.fit import CameraPoses
from hsi_offline.reconstruct.observations import Observations
from hsi_offline.reconstruct.scene import detect_contacts, true_runs


@dataclass
class NoiseConfig:
    px: float = 3.0  # 2D keypoint noise (pixels)
    lifted_m: float = 0.03  # lifted 3D joint noise (m)
    lifted_scale: float = 0.97  # body-size prior mismatch of the lifter
    dropout: float = 0.05  # fraction of keypoints missing
    occlusion_frames: int = 20  # one stretch where the far-side limbs are occluded
    lost_frames: int = 10  # one stretch where the person is not tracked at all
    cam_rot_deg: float = 0.2  # SfM rotation noise (moving camera)
    cam_trans: float = 0.02  # SfM scale drift over the clip, relative
    sfm_scale: float = 0.37  # SfM reports translations in unknown units: true = alpha * reported
    # Temporally correlated errors, as a single-frame lifter makes them (0: independent per frame).
    correlation_s: float = 0.0  # correlation time of the lifted-joint and keypoint errors
    depth_m: float = 0.0  # extra lifted-joint error along the camera's optical axis (m)
    scale_wobble: float = 0.0  # slowly varying body-size error of the lifter (relative)
    leg_swaps: int = 0  # stretches of 4 frames with left and right legs swapped (2D and 3D)
    sfm_pair_scale: float = 0.0  # following camera: log-normal scale error per 0.5 s SfM keyframe pair

    @classmethod
    def blazepose(cls) -> NoiseConfig:
        """Errors shaped like BlazePose's (modelled, not measured here): correlated over ~0.25 s, larger in
        depth than across the image, a body-size prior off by several per cent that drifts with pose, and an
        occasional left/right leg swap in side views."""
        return cls(
            px=4.0,
            lifted_m=0.04,
            lifted_scale=0.94,
            correlation_s=0.25,
            depth_m=0.06,
            scale_wobble=0.03,
            leg_swaps=1,
        )


CAMERAS = ("static", "moving", "following", "panning")
_LEG_PAIRS = [(SMPL.index(f"left_{n}"), SMPL.index(f"right_{n}")) for n in ("hip", "knee", "ankle", "foot")]


def _noise(rng: np.random.Generator, shape: tuple[int, ...], corr_frames: float) -> np.ndarray:
    """Unit-variance Gaussian noise along axis 0, low-pass filtered over `corr_frames` (0: white)."""
    n = rng.standard_normal(shape)
    if corr_frames <= 1.0:
        return n
    n = gaussian_filter1d(n, corr_frames, axis=0, mode="wrap")
    return n / max(float(n.std()), 1e-9)


@dataclass
class SyntheticClip:
    obs: Observations
    cams: CameraPoses  # what "SfM" reports (static: identity)
    gt_joints: np.ndarray  # (T, J, 3) world
    gt_contacts: np.ndarray  # (T, 2)
    terrain: Terrain
    true_alpha: float


def resample(joints: np.ndarray, fps: float, num_frames: int) -> tuple[np.ndarray, float]:
    """Linearly resample a motion to `num_frames` over the same duration."""
    T = joints.shape[0]
    src = np.linspace(0, T - 1, num_frames)
    i = np.floor(src).astype(int).clip(0, T - 2)
    f = (src - i)[:, None, None]
    out = joints[i] * (1 - f) + joints[i + 1] * f
    return out, fps * (num_frames - 1) / (T - 1)


def place_on_terrain(
    joints: np.ndarray, fps: float, terrain: Terrain, start_x: float = -0.8
) -> tuple[np.ndarray, np.ndarray]:
    """Lay a flat-ground SMPL-24 motion along +x over `terrain`: each contact run of a foot is lifted to the
    terrain height under it, swing phases blend between runs, the trunk follows the mean of the two feet."""
    J = joints.copy()
    xy = J[:, 0, :2]
    c = xy.mean(0)
    w, V = np.linalg.eigh(np.cov((xy - c).T))
    a = V[:, -1]
    R = np.array([[a[0], a[1]], [-a[1], a[0]]])
    J[..., :2] = (J[..., :2] - c) @ R.T
    if J[-1, 0, 0] < J[0, 0, 0] and np.ptp(J[:, 0, 0]) > 0.5 and abs(J[-1, 0, 0] - J[0, 0, 0]) > 0.5:
        J[..., :2] *= -1
    J[..., 0] += start_x - J[:, 0, 0].min()
    contacts = detect_contacts(J, SMPL, fps)
    T = J.shape[0]
    offs = np.zeros((T, 2))
    for side, feet in enumerate((SMPL.left_foot, SMPL.right_foot)):
        keys_t, keys_h = [], []
        for s, t in true_runs(contacts[:, side]):
            h = float(terrain.height_at(J[s:t][:, list(feet), :2].reshape(-1, 2)).max())
            keys_t += [s, t - 1]
            keys_h += [h, h]
        if keys_t:
            offs[:, side] = np.interp(np.arange(T), keys_t, keys_h)
    mid = offs.mean(1)
    lifts = np.repeat(mid[:, None], J.shape[1], 1)
    for side, names in (
        (0, ("left_knee", "left_ankle", "left_foot")),
        (1, ("right_knee", "right_ankle", "right_foot")),
    ):
        for n in names:
            k = SMPL.index(n)
            lifts[:, k] = (
                offs[:, side]
                if n != f"{'left' if side == 0 else 'right'}_knee"
                else 0.5 * (offs[:, side] + mid)
            )
    J[..., 2] += lifts
    return J, contacts


def look_at(eye: np.ndarray, target: np.ndarray) -> np.ndarray:
    """World-from-camera rotation (OpenCV axes) of a camera at `eye` looking at `target`, image up = +z."""
    f = target - eye
    f = f / np.linalg.norm(f)
    r = np.cross(f, [0.0, 0.0, 1.0])
    r /= np.linalg.norm(r)
    d = np.cross(f, r)
    return np.stack([r, d, f], axis=1)


def make_clip(
    gt: np.ndarray,
    fps: float,
    terrain: Terrain,
    gt_contacts: np.ndarray,
    moving: bool | str,
    noise: NoiseConfig | None = None,
    seed: int = 0,
    width: int = 1920,
    height: int = 1080,
    focal: float = 1200.0,
) -> SyntheticClip:
    noise = noise or NoiseConfig()
    kind = moving if isinstance(moving, str) else ("moving" if moving else "static")
    if kind not in CAMERAS:
        raise ValueError(f"synthetic camera '{kind}': expected one of {', '.join(CAMERAS)}")
    rng = np.random.default_rng(seed)
    T, J, _ = gt.shape
    K = np.array([[focal, 0, width / 2], [0, focal, height / 2], [0, 0, 1.0]])
    root = 0.5 * (gt[:, SMPL.left_hip] + gt[:, SMPL.right_hip])
    if kind in ("moving", "following"):  # hand-held, following the person from the side, with lag and shake
        tgt = gaussian_filter1d(root, fps * 0.5, axis=0, mode="nearest")
        eye = tgt + np.array([0.0, -4.0, 0.5]) + 0.03 * rng.standard_normal((T, 3)).cumsum(0) / np.sqrt(T)
        R_wc = np.stack([look_at(eye[t], tgt[t]) for t in range(T)])
    elif kind == "panning":  # standing still beside the path, turning to keep the person centred
        tgt = gaussian_filter1d(root, fps * 0.3, axis=0, mode="nearest")
        c = 0.5 * (root.min(0) + root.max(0))
        eye = np.repeat((c + np.array([0.3, -5.0, 0.6]))[None], T, 0)
        R_wc = np.stack([look_at(eye[t], tgt[t]) for t in range(T)])
    else:
        c = 0.5 * (root.min(0) + root.max(0))
        eye = np.repeat((c + np.array([0.5, -9.0, 0.7]))[None], T, 0)
        R_wc = np.repeat(look_at(eye[0], c)[None], T, 0)
    Xc = np.einsum("tki,tjk->tji", R_wc, gt - eye[:, None])
    uv = Xc[..., :2] / Xc[..., 2:3] @ K[:2, :2].T + K[:2, 2]
    if np.any(Xc[..., 2] < 0.5):
        raise ValueError("synthetic camera: the person passes behind the camera")
    conf = np.full((T, J), 0.9)
    uv = uv + noise.px * _noise(rng, uv.shape, noise.correlation_s * fps)
    drop = rng.random((T, J)) < noise.dropout
    conf[drop] = 0.0
    uv[drop] += 60 * rng.standard_normal((int(drop.sum()), 2))
    s = int(rng.integers(0, max(1, T - noise.occlusion_frames)))
    far = [
        SMPL.index(n)
        for n in ("left_elbow", "left_wrist", "left_hand", "left_knee", "left_ankle", "left_foot")
    ]
    occ = np.zeros((T, J), bool)
    occ[s : s + noise.occlusion_frames, far] = True
    conf[occ] = 0.2
    uv[occ] += 15 * rng.standard_normal((int(occ.sum()), 2))
    valid = np.ones(T, bool)
    s = int(rng.integers(T // 4, max(T // 4 + 1, 3 * T // 4)))
    valid[s : s + noise.lost_frames] = False
    lifted = np.einsum("tki,tjk->tji", R_wc, gt - root[:, None]) * noise.lifted_scale
    if noise.scale_wobble:
        lifted *= 1.0 + noise.scale_wobble * _noise(rng, (T, 1, 1), fps)
    lifted = lifted + noise.lifted_m * _noise(rng, lifted.shape, noise.correlation_s * fps)
    if noise.depth_m:
        lifted[..., 2] += noise.depth_m * _noise(rng, (T, J), noise.correlation_s * fps)
    for _ in range(noise.leg_swaps):
        s0 = int(rng.integers(0, max(1, T - 4)))
        for a, b in _LEG_PAIRS:
            for arr in (uv, lifted):
                arr[s0 : s0 + 4, [a, b]] = arr[s0 : s0 + 4, [b, a]]
    conf3 = np.where(occ, 0.3, 0.8)
    obs = Observations(SMPL, uv, conf, lifted, conf3, valid, K, width, height, fps)
    if kind != "static":
        rn = np.deg2rad(noise.cam_rot_deg) * rng.standard_normal((T, 3))
        from scipy.spatial.transform import Rotation

        R_rep = np.einsum("tij,tjk->tik", Rotation.from_rotvec(rn).as_matrix(), R_wc)
        # SfM's world is its first camera: express poses relative to camera 0, in unknown units
        R0 = R_rep[0]
        R_rel = np.einsum("ji,tjk->tik", R0, R_rep)
        c_rel = (eye - eye[0]) @ R0
        drift = gaussian_filter1d(rng.standard_normal(T), fps, mode="nearest")
        drift = drift / max(np.abs(drift).max(), 1e-9)
        c_rel = c_rel * (1 + noise.cam_trans * drift[:, None]) / noise.sfm_scale
        if kind == "panning":  # a homography explains the background: SfM reports rotation only
            c_rel = np.zeros_like(c_rel)
        elif kind == "following" and noise.sfm_pair_scale:  # two-view scale drifts from pair to pair
            pair = max(1, int(round(0.5 * fps)))
            f = np.exp(noise.sfm_pair_scale * rng.standard_normal(T // pair + 1))
            step = np.diff(c_rel, axis=0) * np.repeat(f, pair)[: T - 1, None]
            c_rel = np.concatenate([np.zeros((1, 3)), np.cumsum(step, axis=0)])
        cams = CameraPoses(R_rel, c_rel)
        alpha = noise.sfm_scale
    else:
        cams = CameraPoses.identity(T)
        alpha = 1.0
    return SyntheticClip(obs, cams, gt, gt_contacts, terrain, alpha)
