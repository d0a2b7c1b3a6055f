"""Bad input to ``hsi-offline``: every case runs the real CLI on small files written here and gets one line
on stderr that names the file and the problem (exit 2), or a one-line warning; none leaves a folder that a
later stage takes for complete.

Ctrl-C is injected where it hurts (inside a writer) by a trace function that raises KeyboardInterrupt when
the named function is entered: the same exception a real Ctrl-C raises, at a chosen point instead of a
random one. The training side (YAML, interrupted runs, export) is in test_bad_input_training.py.
"""

from __future__ import annotations

import json
import stat
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

from hsi_kernel.contract import get_contract
from hsi_kernel.observation import make_layout
from hsi_kernel.paths import models_dir
from hsi_kernel.policy_file import METADATA_KEY, PolicyMetadata
from hsi_offline import cli
from hsi_offline.export import export_policy
from hsi_offline.reconstruct.artifacts import REPORT_SCHEMA, HumanMotion, save_human_motion, write_json
from hsi_offline.reconstruct.video import write_video

UNWRITABLE = Path("/sys")  # no file can be created there, not even by root (a chmod-ed folder stops no root)


def run_cli(capsys, *args: str | Path) -> tuple[int, list[str], str]:
    """(exit code, stderr lines the CLI itself wrote, stdout) of one in-process ``hsi-offline`` run."""
    rc = cli.main([str(a) for a in args])
    out = capsys.readouterr()
    return rc, [ln for ln in out.err.splitlines() if ln.strip()], out.out


def one_error(capsys, *args: str | Path, names: str | Path, says: str) -> str:
    """Run the CLI; assert exit 2 and exactly one stderr line that names ``names`` and says ``says``."""
    rc, err, _ = run_cli(capsys, *args)
    assert rc == 2, err
    assert len(err) == 1, err
    assert str(names) in err[0] and says in err[0], err[0]
    assert "Traceback" not in err[0]
    return err[0]


# ---------------------------------------------------------------- small inputs


def _bvh_text(frames: list[list[float]]) -> str:
    """A small cm, y-up BVH skeleton (Hips, legs with feet and toes, spine, arms) and its motion rows."""

    def leg(side: str, x: float) -> str:
        return (
            f"JOINT {side}UpLeg\n{{ OFFSET {x} 0 0\nCHANNELS 3 Zrotation Xrotation Yrotation\n"
            f"JOINT {side}Leg\n{{ OFFSET 0 -42 0\nCHANNELS 3 Zrotation Xrotation Yrotation\n"
            f"JOINT {side}Foot\n{{ OFFSET 0 -42 0\nCHANNELS 3 Zrotation Xrotation Yrotation\n"
            f"JOINT {side}ToeBase\n{{ OFFSET 0 -6 12\nCHANNELS 3 Zrotation Xrotation Yrotation\n"
            "End Site\n{ OFFSET 0 0 3 }\n} } } }\n"
        )

    def arm(side: str, x: float) -> str:
        s = 1 if x > 0 else -1
        return (
            f"JOINT {side}Arm\n{{ OFFSET {x} 40 0\nCHANNELS 3 Zrotation Xrotation Yrotation\n"
            f"JOINT {side}ForeArm\n{{ OFFSET {28 * s} 0 0\nCHANNELS 3 Zrotation Xrotation Yrotation\n"
            f"JOINT {side}Hand\n{{ OFFSET {25 * s} 0 0\nCHANNELS 3 Zrotation Xrotation Yrotation\n"
            "End Site\n{ OFFSET 5 0 0 }\n} } }\n"
        )

    hierarchy = (
        "HIERARCHY\nROOT Hips\n{ OFFSET 0 0 0\n"
        "CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation\n"
        + leg("Left", 10)
        + leg("Right", -10)
        + "JOINT Spine\n{ OFFSET 0 10 0\nCHANNELS 3 Zrotation Xrotation Yrotation\n"
        + arm("Left", 18)
        + arm("Right", -18)
        + "}\n}\n"
    )
    n_channels = 6 + 3 * 4 * 2 + 3 + 3 * 3 * 2
    rows = []
    for f in frames:
        row = np.zeros(n_channels)
        row[: len(f)] = f
        rows.append(" ".join(f"{v:g}" for v in row))
    return hierarchy + f"MOTION\nFrames: {len(frames)}\nFrame Time: 0.0333333\n" + "\n".join(rows)


def write_bvh(path: Path, n: int = 8) -> Path:
    """A person standing and drifting forward: ``n`` frames at 30 fps."""
    path.write_text(_bvh_text([[0.5 * i, 90, 0] for i in range(n)]))
    return path


def _cartoon_person(img: np.ndarray, cx: float, top: float) -> None:
    """A flat cartoon person (face, shirt, skin-coloured arms, trousers, shoes) that BlazePose tracks."""
    import cv2

    skin, shirt, pants, shoe = (190, 150, 120), (40, 70, 160), (40, 40, 60), (20, 20, 20)

    def p(x: float, y: float) -> tuple[int, int]:
        return int(cx + x), int(top + y)

    cv2.ellipse(img, p(0, 30), (22, 28), 0, 0, 360, skin, -1)
    cv2.ellipse(img, p(0, 8), (23, 14), 0, 180, 360, (60, 40, 30), -1)
    for ex in (-8, 8):
        cv2.circle(img, p(ex, 30), 3, (30, 30, 30), -1)
    cv2.ellipse(img, p(0, 44), (7, 3), 0, 0, 180, (120, 60, 60), -1)
    cv2.rectangle(img, p(-8, 55), p(8, 68), skin, -1)
    cv2.fillPoly(img, [np.array([p(-38, 70), p(38, 70), p(30, 180), p(-30, 180)])], shirt)
    for sx in (-1, 1):
        cv2.line(img, p(sx * 36, 75), p(sx * 50, 135), shirt, 16)
        cv2.line(img, p(sx * 50, 135), p(sx * 55, 190), skin, 13)
        cv2.circle(img, p(sx * 55, 195), 9, skin, -1)
        cv2.line(img, p(sx * 18, 180), p(sx * 22, 270), pants, 26)
        cv2.line(img, p(sx * 22, 270), p(sx * 24, 355), pants, 22)
        cv2.ellipse(img, p(sx * 32, 362), (18, 8), 0, 0, 360, shoe, -1)
    cv2.rectangle(img, p(-32, 170), p(32, 190), pants, -1)


def person_frames(n: int) -> list[np.ndarray]:
    """``n`` upright 360 x 480 frames of one cartoon person walking slowly to the right."""
    frames = []
    for i in range(n):
        img = np.full((480, 360, 3), (170, 190, 170), np.uint8)
        img[384:] = (120, 110, 100)
        _cartoon_person(img, 150 + 2 * i, 40)
        frames.append(img)
    return frames


def reconstruct_folder(folder: Path, with_report: bool) -> Path:
    """A clip folder as ``hsi-offline reconstruct`` writes it (its own writers), with or without the
    report.json it writes last."""
    T, J = 10, 33
    rng = np.random.default_rng(0)
    motion = HumanMotion(
        joints=rng.normal(0, 0.3, (T, J, 3)) + [0, 0, 1],
        joint_names=tuple(f"j{i}" for i in range(J)),
        contacts=np.zeros((T, 2), bool),
        confidences=np.ones((T, J)),
        fps=30.0,
        valid=np.ones(T, bool),
    )
    save_human_motion(motion, folder / "human_motion.npz")
    if with_report:
        write_json({"schema": REPORT_SCHEMA, "frames": T}, folder / "report.json")
    return folder


def good_policy(path: Path) -> Path:
    """A small exported blind 23-DoF policy (the exporter's own checks passed)."""
    c = get_contract(23)
    layout = make_layout(23, "student", heightmap=False)
    torch.manual_seed(0)
    actor = torch.nn.Sequential(torch.nn.Linear(layout.dim, 16), torch.nn.ELU(), torch.nn.Linear(16, 23))
    return export_policy(
        actor, None, PolicyMetadata.for_contract(23, layout, 0.25, 8.0, c.kp, c.kd), path
    ).path


class InterruptAt:
    """Raise KeyboardInterrupt (what Ctrl-C raises) when a function with this qualified name is entered."""

    def __init__(self, qualname: str):
        self.qualname, self.fired = qualname, False

    def _trace(self, frame, event, arg):  # noqa: ANN001, ANN202
        if event == "call" and not self.fired and frame.f_code.co_qualname == self.qualname:
            self.fired = True
            raise KeyboardInterrupt
        return None

    def __enter__(self) -> InterruptAt:
        sys.settrace(self._trace)
        return self

    def __exit__(self, *exc: object) -> None:
        sys.settrace(None)


# ---------------------------------------------------------------- output folders, before any work

OUT_CASES: dict[str, Callable[[Path, Path], list[str | Path]]] = {
    "retarget": lambda tmp, out: ["retarget", write_bvh(tmp / "m.bvh"), "--out", out],
    "reconstruct": lambda tmp, out: ["reconstruct", tmp / "any.mp4", "--out", out],
    "evaluate": lambda tmp, out: ["evaluate", models_dir() / "hold_default_23dof.onnx", "--out", out],
    "clips": lambda tmp, out: ["clips", "--out", out],
}


@pytest.mark.parametrize("command", sorted(OUT_CASES))
def test_output_folder_that_is_a_file(tmp_path, capsys, command):
    out = tmp_path / "out"
    out.write_text("a file where the output folder should be")
    one_error(capsys, *OUT_CASES[command](tmp_path, out), names=out, says="is a file, not a folder")
    assert out.read_text().startswith("a file")  # untouched


@pytest.mark.parametrize("command", sorted(OUT_CASES))
def test_output_folder_below_a_file(tmp_path, capsys, command):
    blocker = tmp_path / "blocker"
    blocker.write_text("x")
    out = blocker / "out"
    one_error(capsys, *OUT_CASES[command](tmp_path, out), names=out, says="is a file, not a folder")


@pytest.mark.parametrize("command", sorted(OUT_CASES))
def test_output_folder_not_writable(tmp_path, capsys, command):
    out = UNWRITABLE / "hsi_out"
    one_error(capsys, *OUT_CASES[command](tmp_path, out), names=out, says="is not writable")


def test_export_output_places(tmp_path, capsys):
    folder = tmp_path / "policy.onnx"
    folder.mkdir()
    one_error(
        capsys, "export", "--hold-default", "--out", folder, names=folder, says="is a folder, not a file"
    )
    onnx_out = UNWRITABLE / "p.onnx"
    one_error(capsys, "export", "--hold-default", "--out", onnx_out, names=onnx_out, says="is not writable")
    blocker = tmp_path / "blocker"
    blocker.write_text("x")
    one_error(
        capsys, "export", "--hold-default", "--out", blocker / "p.onnx", names=blocker, says="is a file"
    )


def test_evaluate_json_place(tmp_path, capsys):
    policy = models_dir() / "hold_default_23dof.onnx"
    json_out = UNWRITABLE / "e.json"
    one_error(
        capsys,
        "evaluate",
        policy,
        "--out",
        tmp_path / "e",
        "--json",
        json_out,
        names=json_out,
        says="writable",
    )
    assert not (tmp_path / "e").exists()


# ---------------------------------------------------------------- misleading one-liners


def test_bvh_with_nan_names_the_file(tmp_path, capsys):
    bvh = tmp_path / "nan.bvh"
    bvh.write_text(_bvh_text([[0, 90, 0], [0, float("nan"), 0], [0, 90, 0]]))
    out = tmp_path / "out"
    line = one_error(capsys, "retarget", bvh, "--out", out, names=bvh, says="not a finite number")
    assert "frame 2" in line
    assert not out.exists()


def test_oserror_from_inside_is_one_line_naming_the_file(tmp_path, capsys):
    """An OSError no check anticipates (here: a name longer than the file system allows) is one line with
    the file's name and the system's reason, not a traceback."""
    long_name = tmp_path / ("m" * 300 + ".bvh")
    one_error(
        capsys, "retarget", long_name, "--out", tmp_path / "out", names=long_name, says="File name too long"
    )


def test_empty_onnx_says_empty(tmp_path, capsys):
    empty = tmp_path / "empty.onnx"
    empty.write_bytes(b"")
    one_error(capsys, "export", "--show", empty, names=empty, says="is empty (0 bytes), not an ONNX file")
    one_error(capsys, "evaluate", empty, "--out", tmp_path / "e", names=empty, says="is empty")
    assert not (tmp_path / "e").exists()


def test_onnx_with_wrong_symbolic_input_size(tmp_path, capsys):
    """A model whose input width is a symbol (any size) but whose weights take 10 values, carrying the
    metadata of a 378-value observation: refused when it loads, in one line, not by onnxruntime later."""
    good = good_policy(tmp_path / "good.onnx")
    raw = tmp_path / "raw.onnx"
    torch.onnx.export(
        torch.nn.Linear(10, 23),
        (torch.zeros(1, 10),),
        str(raw),
        input_names=["obs"],
        output_names=["actions"],
        dynamic_axes={"obs": {0: "batch", 1: "obs_dim"}, "actions": {0: "batch"}},
        dynamo=False,
    )
    model = onnx.load(str(raw))
    model.metadata_props.extend(p for p in onnx.load(str(good)).metadata_props if p.key == METADATA_KEY)
    bad = tmp_path / "symbolic.onnx"
    onnx.save(model, str(bad))
    assert model.graph.input[0].type.tensor_type.shape.dim[1].dim_param == "obs_dim"
    says = "does not run on its metadata's"
    one_error(capsys, "export", "--show", bad, names=bad, says=says)
    one_error(capsys, "evaluate", bad, "--out", tmp_path / "e", names=bad, says=says)
    assert not (tmp_path / "e").exists()
    rc, _, out = run_cli(capsys, "export", "--show", good)  # the positive control
    assert rc == 0 and json.loads(out)["dof"] == 23


def test_folder_given_as_video(tmp_path, capsys):
    folder = tmp_path / "clip.mp4"
    folder.mkdir()
    out = tmp_path / "out"
    one_error(capsys, "reconstruct", folder, "--out", out, names=folder, says="is a folder, not a video")
    assert not out.exists()


def test_folder_given_as_policy_or_bvh(tmp_path, capsys):
    folder = tmp_path / "thing.onnx"
    folder.mkdir()
    one_error(
        capsys, "evaluate", folder, "--out", tmp_path / "e", names=folder, says="is a folder, not an ONNX"
    )
    one_error(capsys, "export", "--show", folder, names=folder, says="is a folder, not an ONNX file")
    bvh = tmp_path / "walk.bvh"
    bvh.mkdir()
    one_error(
        capsys, "retarget", bvh, "--format", "bvh", "--out", tmp_path / "o", names=bvh, says="is a folder"
    )
    assert not (tmp_path / "e").exists() and not (tmp_path / "o").exists()


def test_rotation_tagged_video_says_the_rotation_is_wrong(tmp_path, capsys):
    """Upright frames with a 90 degree display-rotation tag: the person is shown lying on its side. The
    refusal names the rotation, not "several people are visible"."""
    video = write_video(tmp_path / "tagged.mp4", person_frames(20), fps=30, rotation=90)
    out = tmp_path / "out"
    rc, err, _ = run_cli(capsys, "reconstruct", video, "--out", out)
    errors = [ln for ln in err if "error:" in ln]
    assert rc == 2 and len(errors) == 1, err
    assert (
        "tagged.mp4" in errors[0] and "lying on its side" in errors[0] and "rotation tag says 90" in errors[0]
    )
    assert "several people" not in " ".join(err)
    assert not out.exists()


def _cut_video(tmp_path: Path, frames: list[np.ndarray], keep: float, name: str) -> Path:
    """The video with its index moved to the front (as phones and web files have it), then cut to the first
    ``keep`` share of its bytes: the index still declares every frame."""
    import subprocess

    full = write_video(tmp_path / f"full_{name}", frames, fps=30)
    front = tmp_path / f"front_{name}"
    cmd = ["ffmpeg", "-loglevel", "error", "-y", "-i", str(full), "-c", "copy", "-movflags", "+faststart"]
    subprocess.run([*cmd, str(front)], check=True)
    cut = tmp_path / name
    cut.write_bytes(front.read_bytes()[: int(front.stat().st_size * keep)])
    return cut


def test_truncated_video_warns_in_one_line(tmp_path, capsys):
    """A 90-frame video cut in half: reconstructed from the frames that decode, with one warning line that
    names the file and both counts (it used to pass silently, "tracked 17/17")."""
    cut = _cut_video(tmp_path, person_frames(90), 0.5, "cut.mp4")
    out = tmp_path / "out"
    rc, err, _ = run_cli(capsys, "reconstruct", cut, "--out", out, "--moving-camera", "no")
    assert rc == 0 and len(err) == 1, err
    assert err[0].startswith("warning: video") and "cut.mp4" in err[0] and "of the 90 frames" in err[0]
    decoded = int(err[0].split("damaged: ")[1].split(" of")[0])
    assert 15 <= decoded < 90
    assert json.loads((out / "report.json").read_text())["frames"] == decoded


def test_video_cut_inside_its_first_frame_is_one_error(tmp_path, capsys):
    cut = _cut_video(tmp_path, person_frames(90), 0.25, "stub.mp4")
    out = tmp_path / "out"
    one_error(capsys, "reconstruct", cut, "--out", out, names=cut, says="cannot read video")
    assert not out.exists()


# ---------------------------------------------------------------- completeness markers


def test_reconstruct_folder_without_report_is_refused(tmp_path, capsys):
    """Ctrl-C inside write_clip leaves the folder without report.json (removed first, written last):
    retarget refuses it in one line instead of solving a mix of two runs."""
    folder = reconstruct_folder(tmp_path / "clip", with_report=False)
    line = one_error(capsys, "retarget", folder, names=folder, says="is incomplete")
    assert "report.json" in line
    assert not (folder / "motion.npz").exists()


def test_interrupted_reconstruct_is_refused_by_retarget(tmp_path, capsys):
    """A complete reconstruct of a cartoon-person video (files 0644), then the same command again with Ctrl-C
    arriving while camera.npz is written: one line, exit 130, the folder now mixes new and old files and
    has no report.json, and retarget refuses it in one line."""
    video = write_video(tmp_path / "person.mp4", person_frames(30), fps=30)
    out = tmp_path / "clip"
    args = ["reconstruct", video, "--out", out, "--moving-camera", "no"]
    rc, err, _ = run_cli(capsys, *args)
    assert rc == 0 and (out / "report.json").is_file(), err
    for f in out.iterdir():
        assert stat.S_IMODE(f.stat().st_mode) == 0o644, f
    with InterruptAt("save_camera") as hit:
        rc, err, _ = run_cli(capsys, *args)
    assert hit.fired
    assert rc == 130 and [ln for ln in err if "hsi-offline" in ln] == [
        "hsi-offline reconstruct: interrupted (Ctrl-C)"
    ]
    assert not (out / "report.json").exists() and (out / "human_motion.npz").is_file()
    assert not [f for f in out.iterdir() if f.name.startswith(".")]
    line = one_error(capsys, "retarget", out, "--iterations", "2", names=out, says="is incomplete")
    assert "no report.json" in line and not (out / "motion.npz").exists()


def test_interrupted_retarget_leaves_no_clip_a_later_stage_takes(tmp_path, capsys):
    """A complete retarget (files 0644, quality.json last), then the same run again with Ctrl-C arriving
    while motion.npz is written: one line, exit 130, and neither motion.npz nor quality.json is left, so
    training refuses the folder's clip instead of mixing runs."""
    bvh = write_bvh(tmp_path / "walk.bvh")
    out = tmp_path / "walk_g1"
    rc, err, _ = run_cli(capsys, "retarget", bvh, "--out", out, "--iterations", "2", "--no-picture")
    assert rc == 0, err
    for f in out.iterdir():
        assert stat.S_IMODE(f.stat().st_mode) == 0o644, f
    with InterruptAt("MotionClip.save") as hit:
        rc, err, _ = run_cli(capsys, "retarget", bvh, "--out", out, "--iterations", "2", "--no-picture")
    assert hit.fired
    assert rc == 130 and err == ["hsi-offline retarget: interrupted (Ctrl-C)"], err
    assert not (out / "quality.json").exists() and not (out / "motion.npz").exists()
    assert not [f for f in out.iterdir() if f.name.startswith(".")]  # no temp file left either
    yaml_file = tmp_path / "mpt.yaml"
    yaml_file.write_text("stage: mpt\niterations: 1\nenv:\n  num_envs: 1\n  threads: 1\n")
    clip = out / "motion.npz"
    one_error(
        capsys,
        "train",
        "--stage",
        "mpt",
        "--config",
        yaml_file,
        "--clips",
        clip,
        "--out",
        tmp_path / "run",
        names=clip,
        says="does not exist",
    )


def test_clips_are_written_0644(tmp_path, capsys):
    rc, err, _ = run_cli(capsys, "clips", "--out", tmp_path / "clips", "--seconds", "1")
    assert rc == 0, err
    files = sorted((tmp_path / "clips").iterdir())
    assert [f.name for f in files] == ["standing.npz", "sway.npz"]
    assert all(stat.S_IMODE(f.stat().st_mode) == 0o644 for f in files)
