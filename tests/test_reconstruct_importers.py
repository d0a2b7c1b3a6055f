"""Importers on small files the tests write: SMPL parameters through the real smplx loader (a synthetic model
file in the SMPL layout), MegaSaM-style depth + cameras, and BVH motion capture."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hsi_kernel.terrain import make_scene_terrain
from hsi_offline.reconstruct.body_skeleton import SMPL
from hsi_offline.reconstruct.gait import walk
from hsi_offline.reconstruct.importers.depth import load_depth_cameras
from hsi_offline.reconstruct.importers.smpl import load_smpl_params, observations_from_smpl, smpl_joints
from hsi_offline.reconstruct.recon_metrics import segment_mpjpe
from hsi_offline.reconstruct.solve import reconstruct
from hsi_offline.reconstruct.synthetic_scenes import look_at, make_clip, place_on_terrain
from hsi_offline.retarget.bvh import bvh_to_smpl_joints

SMPL_PARENTS = [-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21]


def write_fake_smpl_model(path: Path) -> np.ndarray:
    """A model file with SMPL's layout (6890 vertices, 24 joints, 10 betas, 207 pose blend shapes): vertex j
    sits on joint j (J_regressor picks it), every other vertex follows the pelvis. Returns rest joints."""
    rest = walk(0.1, 30.0)[0] - walk(0.1, 30.0)[0, 0]  # a standing SMPL-24 skeleton around the pelvis
    V = 6890
    rng = np.random.default_rng(0)
    v = np.concatenate([rest, rng.normal(0, 0.1, (V - 24, 3))])
    J_reg = np.zeros((24, V))
    J_reg[np.arange(24), np.arange(24)] = 1.0
    weights = np.zeros((V, 24))
    weights[np.arange(24), SMPL_PARENTS[:1] * 0 + [0] + SMPL_PARENTS[1:]] = (
        1.0  # vertex j moves with its parent
    )
    weights[24:, 0] = 1.0
    shapedirs = np.zeros((V, 3, 10))
    shapedirs[:, 2, 0] = 0.05 * v[:, 2]  # beta 0 stretches the body vertically
    kintree = np.array([[4294967295] + SMPL_PARENTS[1:], list(range(24))], dtype=np.int64)
    import pickle

    import scipy.sparse as sp

    data = dict(
        v_template=v,
        shapedirs=shapedirs,
        posedirs=np.zeros((V, 3, 207)),
        J_regressor=sp.csc_matrix(J_reg),
        weights=weights,
        kintree_table=kintree,
        f=np.array([[0, 1, 2], [3, 4, 5]], dtype=np.int64),
    )
    with open(path, "wb") as fh:  # SMPL ships as a pickle (J_regressor sparse), the layout smplx reads
        pickle.dump(data, fh)
    return rest


def test_smpl_importer_uses_real_smplx_loader(tmp_path: Path) -> None:
    rest = write_fake_smpl_model(tmp_path / "SMPL_NEUTRAL.pkl")
    T = 40
    t = np.arange(T) / 30.0
    params = dict(
        global_orient=np.tile([np.pi, 0, 0], (T, 1)),  # SMPL y-up body -> camera y-down
        body_pose=np.zeros((T, 69)),
        betas=np.zeros(10),
        transl=np.stack([0.05 * np.sin(t), np.zeros(T), np.full(T, 4.0)], 1),  # standing, swaying
        K=np.array([[1000.0, 0, 640], [0, 1000.0, 360], [0, 0, 1]]),
        width=1280,
        height=720,
        fps=30.0,
    )
    params["body_pose"][:, 3 * 3] = 0.4 * np.sin(2 * np.pi * t)  # left knee bends
    np.savez(tmp_path / "params.npz", **params)
    J = smpl_joints(load_smpl_params(tmp_path / "params.npz"), tmp_path / "SMPL_NEUTRAL.pkl")
    assert J.shape == (T, 24, 3)
    # frame 0: rest pose rotated 180 deg about x, translated
    exp0 = rest * [1, -1, -1] + params["transl"][0]
    np.testing.assert_allclose(J[0, [0, 1, 2, 3, 6, 9, 12, 15]], exp0[[0, 1, 2, 3, 6, 9, 12, 15]], atol=1e-4)
    obs, stats = observations_from_smpl(tmp_path / "params.npz", tmp_path / "SMPL_NEUTRAL.pkl")
    assert obs.skeleton is SMPL and stats["tracked_frames"] == T
    rec = reconstruct(obs)
    assert rec.motion.joint_names == SMPL.joint_names
    # the reconstruction is the camera-frame motion up to a rigid transform
    assert segment_mpjpe(rec.motion.joints, J)["wa_mpjpe_mm"] < 30


def test_smpl_importer_errors(tmp_path: Path) -> None:
    np.savez(tmp_path / "p.npz", global_orient=np.zeros((5, 3)))
    with pytest.raises(ValueError, match="lacks"):
        load_smpl_params(tmp_path / "p.npz")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_smpl_params(tmp_path / "none.npz")
    np.savez(
        tmp_path / "q.npz",
        global_orient=np.zeros((5, 3)),
        body_pose=np.zeros((5, 10)),
        betas=np.zeros(10),
        transl=np.zeros((5, 3)),
        K=np.eye(3),
        width=10,
        height=10,
        fps=30.0,
    )
    with pytest.raises(ValueError, match="body_pose must be"):
        load_smpl_params(tmp_path / "q.npz")


def test_depth_cameras_importer_gives_metric_ground(tmp_path: Path) -> None:
    """A moving camera over a flat floor: depth maps and poses in arbitrary units (x 2.5) plus the body ->
    the terrain comes out flat at the ground level, metric."""
    ter = make_scene_terrain("flat", 0.02)
    gt, c = place_on_terrain(walk(3.0, 30.0, speed=0.8), 30.0, ter)
    clip = make_clip(gt, 30.0, ter, c, True, seed=4)
    T = len(gt)
    H, W, f = 36, 64, 60.0
    Kd = np.array([[f, 0, W / 2], [0, f, H / 2], [0, 0, 1]])
    unit = 2.5  # the depth tool's unknown scale
    root = 0.5 * (gt[:, 1] + gt[:, 2])
    eye = root + np.array([0.0, -4.0, 1.0])
    depths = np.zeros((T, H, W))
    c2w = np.zeros((T, 4, 4))
    vv, uu = np.mgrid[0:H, 0:W]
    for t in range(T):
        R = look_at(eye[t], root[t] - [0, 0, 0.5])
        d = R @ np.stack([(uu - W / 2) / f, (vv - H / 2) / f, np.ones_like(uu, float)], -1)[..., None]
        d = d[..., 0]
        lam = -eye[t, 2] / np.minimum(d[..., 2], -1e-3)  # ray hits z = 0
        depths[t] = np.where(d[..., 2] < -1e-3, lam, 50.0) * unit
        c2w[t, :3, :3], c2w[t, :3, 3], c2w[t, 3, 3] = R, eye[t] * unit, 1.0
    np.savez(tmp_path / "megasam.npz", depths=depths, cam_c2w=c2w, intrinsic=Kd)
    # the observations must be seen through the same cameras as the depth maps
    from hsi_offline.reconstruct.observations import Observations

    Kv = Kd.copy()
    Kv[:2] *= 1920 / W
    Xc = np.einsum("tki,tjk->tji", c2w[:, :3, :3], gt - eye[:, None])
    uv = Xc[..., :2] / Xc[..., 2:3] @ Kv[:2, :2].T + Kv[:2, 2]
    root_c = 0.5 * (Xc[:, 1] + Xc[:, 2])
    obs = Observations(
        SMPL,
        uv,
        np.full((T, 24), 0.9),
        Xc - root_c[:, None],
        np.full((T, 24), 0.8),
        np.ones(T, bool),
        Kv,
        1920,
        1080,
        30.0,
    )
    dc = load_depth_cameras(tmp_path / "megasam.npz", obs)
    rec = reconstruct(obs, dc.cams, dc.points)
    assert rec.alpha == pytest.approx(1 / unit, rel=0.1)
    assert np.abs(rec.terrain.heights).max() < 0.05
    assert segment_mpjpe(rec.motion.joints, gt)["w_mpjpe_mm"] < 100
    np.savez(tmp_path / "short.npz", depths=depths[:3], cam_c2w=c2w[:3], intrinsic=Kd)
    with pytest.raises(ValueError, match="has 3 frames but the video has"):
        load_depth_cameras(tmp_path / "short.npz", obs)
    assert clip.obs.num_frames == T


def _write_bvh(path: Path, frames: int = 30) -> None:
    """A tiny BVH (cm, y up) with the common Mixamo-like names; the hips translate along x."""

    def joint(name: str, off: tuple[float, float, float], kids: str, ind: str) -> str:
        return (
            f"{ind}JOINT {name}\n{ind}{{\n{ind}  OFFSET {off[0]} {off[1]} {off[2]}\n"
            f"{ind}  CHANNELS 3 Zrotation Xrotation Yrotation\n{kids}{ind}}}\n"
        )

    def end(ind: str) -> str:
        return f"{ind}End Site\n{ind}{{\n{ind}  OFFSET 0 5 0\n{ind}}}\n"

    def chain(names: list[str], offsets: list[tuple[float, float, float]], ind: str = "  ") -> str:
        if not names:
            return end(ind)
        return joint(names[0], offsets[0], chain(names[1:], offsets[1:], ind + " "), ind)

    def leg(s: str, x: float) -> str:
        return chain(
            [f"{s}UpLeg", f"{s}Leg", f"{s}Foot", f"{s}ToeBase"],
            [(x, -5, 0), (0, -42, 0), (0, -42, 0), (0, -8, 14)],
        )

    def arm(s: str, x: float) -> str:
        return chain(
            [f"{s}Shoulder", f"{s}Arm", f"{s}ForeArm", f"{s}Hand"],
            [(x * 0.4, 45, 0), (x, 0, 0), (0, -27, 0), (0, -25, 0)],
            "   ",
        )

    spine = joint(
        "Spine", (0, 10, 0), arm("Left", 18) + arm("Right", -18) + chain(["Head"], [(0, 50, 0)], "   "), "  "
    )
    header = "HIERARCHY\nROOT Hips\n{\n  OFFSET 0 0 0\n"
    header += "  CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation\n"
    text = header + leg("Left", 9) + leg("Right", -9) + spine + "}\n"
    rows = [f"{100 * i / frames:.3f} 95 0 0 0 0" + " 0 0 0" * 18 for i in range(frames)]
    text += f"MOTION\nFrames: {frames}\nFrame Time: 0.033333\n" + "\n".join(rows) + "\n"
    path.write_text(text)


def test_bvh_reader(tmp_path: Path) -> None:
    _write_bvh(tmp_path / "walk.bvh")
    J, fps = bvh_to_smpl_joints(tmp_path / "walk.bvh")
    assert J.shape == (30, 24, 3) and fps == pytest.approx(30.0, rel=1e-3)
    assert J[:, SMPL.index("head"), 2].min() > J[:, 0, 2].max()  # z is up
    assert J[-1, 0, 0] - J[0, 0, 0] == pytest.approx(0.967, abs=0.01)  # cm -> m, along x
    (tmp_path / "bad.bvh").write_text("nonsense")
    with pytest.raises(ValueError, match="not a BVH file"):
        bvh_to_smpl_joints(tmp_path / "bad.bvh")


def test_videomimic_folder_import(tmp_path: Path) -> None:
    """VideoMimic's layout (h5 groups joints/<person>, SMPL-45 names; an OBJ background mesh) on a kerb."""
    import h5py
    import open3d as o3d

    from hsi_offline.reconstruct.clip_folder import write_clip
    from hsi_offline.reconstruct.importers.videomimic import load_videomimic

    ter = make_scene_terrain("kerb", 0.05)
    gt, _ = place_on_terrain(walk(4.0, 30.0, speed=0.8), 30.0, ter)
    J45 = np.concatenate([gt, np.repeat(gt[:, :1], 21, 1)], 1) + [0, 0, 0.3]  # their ground is not at 0
    with h5py.File(tmp_path / "gravity_calibrated_keypoints.h5", "w") as f:
        f.create_dataset("joints/0", data=J45.astype(np.float32))
        f.create_dataset("root_orient/0", data=np.zeros((len(gt), 3), np.float32))
        f.create_dataset("world_rotation", data=np.eye(3))
    ny, nx = ter.shape
    xs, ys = np.meshgrid(
        ter.origin[0] + np.arange(nx) * ter.resolution, ter.origin[1] + np.arange(ny) * ter.resolution
    )
    V = np.stack([xs.ravel(), ys.ravel(), ter.heights.ravel() + 0.3], 1)
    idx = np.arange(nx * ny).reshape(ny, nx)
    F = np.concatenate(
        [
            np.stack([idx[:-1, :-1].ravel(), idx[:-1, 1:].ravel(), idx[1:, 1:].ravel()], 1),
            np.stack([idx[:-1, :-1].ravel(), idx[1:, 1:].ravel(), idx[1:, :-1].ravel()], 1),
        ]
    )
    mesh = o3d.geometry.TriangleMesh(o3d.utility.Vector3dVector(V), o3d.utility.Vector3iVector(F))
    o3d.io.write_triangle_mesh(str(tmp_path / "background_mesh.obj"), mesh)
    rec = load_videomimic(tmp_path)
    assert rec.supports.ground == 0.0
    np.testing.assert_allclose(
        rec.motion.joints, gt + [0, 0, 0.3 - 0.3 - (rec.motion.joints - gt)[..., 2].mean()], atol=0.03
    )
    kerb_top = (
        rec.terrain.height_at(np.array([[2.0, 0.0]]))[0] - rec.terrain.height_at(np.array([[0.0, 0.0]]))[0]
    )
    assert kerb_top == pytest.approx(0.15, abs=0.03)
    write_clip(rec, tmp_path / "clip", {"source": "videomimic"})
    assert (tmp_path / "clip" / "report.json").is_file()
    with pytest.raises(FileNotFoundError, match="lacks gravity_calibrated_keypoints.h5"):
        load_videomimic(tmp_path / "clip")


def _constant_depth_onnx(path: Path, depth: np.ndarray) -> None:
    """A tiny ONNX model (onnx helper API) returning a fixed depth map (x3), whatever the image."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    h, w = depth.shape
    nodes = [
        helper.make_node("ReduceMean", ["image"], ["m"], keepdims=1),
        helper.make_node("Mul", ["m", "zero"], ["z"]),
        helper.make_node("Add", ["z", "depth"], ["out"]),
    ]
    graph = helper.make_graph(
        nodes,
        "const_depth",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, h, w])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, 1, h, w])],
        [
            numpy_helper.from_array(np.zeros((1, 1, 1, 1), np.float32), "zero"),
            numpy_helper.from_array((3.0 * depth).astype(np.float32)[None, None], "depth"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def test_onnx_depth_model_gives_metric_floor(tmp_path: Path) -> None:
    from hsi_offline.reconstruct.importers.onnx_depth import scene_points_from_onnx
    from hsi_offline.reconstruct.video import write_video

    ter = make_scene_terrain("flat", 0.02)
    gt, c = place_on_terrain(walk(2.0, 30.0, speed=0.8), 30.0, ter)
    from hsi_offline.reconstruct.synthetic_scenes import NoiseConfig

    clip = make_clip(
        gt,
        30.0,
        ter,
        c,
        False,
        noise=NoiseConfig(lifted_scale=1.0),
        seed=5,
        width=1280,
        height=720,
        focal=800.0,
    )
    # the floor's true depth seen from the benchmark's static camera (eye, R_wc from make_clip's layout)
    from hsi_offline.reconstruct.synthetic_scenes import look_at

    root = 0.5 * (gt[:, 1] + gt[:, 2])
    centre = 0.5 * (root.min(0) + root.max(0))
    eye = centre + np.array([0.5, -9.0, 0.7])
    R = look_at(eye, centre)
    h, w = 90, 160
    vv, uu = np.mgrid[0:h, 0:w]
    rays = np.stack([(uu * 8 - 640) / 800.0, (vv * 8 - 360) / 800.0, np.ones((h, w))], -1) @ R.T
    lam = np.where(rays[..., 2] < -1e-3, -eye[2] / np.minimum(rays[..., 2], -1e-3), 30.0)
    _constant_depth_onnx(tmp_path / "depth.onnx", np.minimum(lam, 30.0))
    video = write_video(tmp_path / "v.mp4", [np.full((180, 320, 3), 128, np.uint8)] * len(gt), fps=30)
    pts = scene_points_from_onnx(tmp_path / "depth.onnx", video, clip.obs, None)
    world = (
        pts @ R.T + eye
    )  # camera -> true world: the floor must come out at z = 0 after the body-based scale
    near = np.linalg.norm(world[:, :2] - centre[:2], axis=1) < 3.0
    assert np.median(np.abs(world[near, 2])) < 0.1
    rec = reconstruct(clip.obs, None, pts)
    assert np.abs(rec.terrain.heights).max() < 0.12
    (tmp_path / "bad.onnx").write_bytes(b"not onnx")
    with pytest.raises(ValueError, match="not a loadable ONNX model"):
        scene_points_from_onnx(tmp_path / "bad.onnx", video, clip.obs, None)


def test_cli_reconstruct_from_smpl_writes_clip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from hsi_offline.cli import main

    monkeypatch.setattr(sys, "argv", list(sys.argv))  # main() rewrites sys.argv; restore it afterwards
    from hsi_offline.reconstruct.artifacts import load_human_motion

    write_fake_smpl_model(tmp_path / "SMPL_NEUTRAL.pkl")
    T = 30
    t = np.arange(T) / 30.0
    np.savez(
        tmp_path / "params.npz",
        global_orient=np.tile([np.pi, 0, 0], (T, 1)),
        body_pose=np.zeros((T, 69)),
        betas=np.zeros(10),
        transl=np.stack([0.05 * np.sin(t), np.zeros(T), np.full(T, 4.0)], 1),
        K=np.array([[1000.0, 0, 640], [0, 1000.0, 360], [0, 0, 1]]),
        width=1280,
        height=720,
        fps=30.0,
    )
    rc = main(
        [
            "reconstruct",
            "--smpl",
            str(tmp_path / "params.npz"),
            "--smpl-model",
            str(tmp_path / "SMPL_NEUTRAL.pkl"),
            "--out",
            str(tmp_path / "clip"),
        ]
    )
    assert rc == 0
    m = load_human_motion(tmp_path / "clip")
    assert m.joints.shape == (T, 24, 3) and m.joint_names[0] == "pelvis"
    assert m.joints[:, SMPL.index("head"), 2].mean() > m.joints[:, 0, 2].mean() + 0.3  # +z up
    assert main(["reconstruct", "--smpl", str(tmp_path / "params.npz"), "--out", str(tmp_path / "c2")]) == 2
