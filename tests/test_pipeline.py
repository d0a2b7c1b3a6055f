"""``hsi-offline pipeline``: every stage end to end on a small clip, skipping, rerunning and resuming.

The source is a small G1 motion file (Unitree CSV: a slow arm sway, 2 s), so the retarget stage runs the real
``hsi-offline retarget`` import; the four training stages run the real trainer at toy size (4 environments,
2 iterations), export runs the golden check and evaluate runs the stand scenario in lock-step and the training
environment. Reconstruct has no video here (reconstruction takes minutes): it runs and finds nothing to do.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import yaml

from hsi_kernel.contract import get_contract
from hsi_offline.motion.clip import make_clip
from hsi_offline.motion.unitree_csv import export_unitree_csv
from hsi_offline.pipeline.runfile import STAGES

REPO = Path(__file__).resolve().parent.parent
TINY = {
    "env": {"num_envs": 4},
    "num_steps_per_env": 8,
    "policy": {"actor_hidden": [32], "critic_hidden": [32]},
}


def _sway_csv(path: Path, amplitude: float) -> Path:
    c = get_contract(23)
    fps, T = 30.0, 61
    q = np.tile(c.default_q, (T, 1))
    q[:, c.joint_names.index("left_shoulder_roll_joint")] += amplitude * np.sin(np.linspace(0, np.pi, T))
    root = np.tile([0.0, 0.0, 0.79], (T, 1))
    clip = make_clip(fps, root, np.tile([1.0, 0, 0, 0], (T, 1)), q, 23)
    return export_unitree_csv(clip, path)


def _run_file(folder: Path, source: Path, **changes) -> Path:
    stages = {
        "mpt": {"config": "config/training/cpu/mpt.yaml", "iterations": 2, "overrides": TINY},
        "track": {"config": "config/training/cpu/track.yaml", "iterations": 2, "overrides": TINY},
        "distill": {
            "config": "config/training/cpu/distill.yaml",
            "iterations": 2,
            "overrides": {**TINY, "algorithm": {"gradient_length": 8}},
        },
        "finetune": {
            "config": "config/training/cpu/finetune.yaml",
            "iterations": 2,
            "overrides": {**TINY, "critic_warmup_iterations": 1},
        },
    }
    data = {
        "name": "test",
        "profile": "cpu",
        "sources": [{"mocap": str(source)}],
        "terrains": ["flat"],
        "skills": ["stand"],
        "clips": {"mirror": True, "speeds": [1.2]},
        "stages": stages,
        "evaluate": {"sides": ["training_env", "lockstep"], "duration_scale": 0.1},
    }
    for key, value in changes.items():
        if key in stages:
            stages[key].update(value)
        else:
            data[key] = value
    path = folder / "run.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _pipeline(run_file: Path, out: Path, *extra: str) -> tuple[list[str], list[str], str]:
    """Run the command; returns (ran, skipped, output)."""
    proc = subprocess.run(
        [sys.executable, "-m", "hsi_offline.cli", "pipeline", str(run_file), "--out", str(out), *extra],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    ran = [
        s
        for s in STAGES
        if f"[pipeline] {s}: running" in proc.stdout or f"[pipeline] {s}: resuming" in proc.stdout
    ]
    skipped = [s for s in STAGES if f"[pipeline] {s}: up to date" in proc.stdout]
    return ran, skipped, proc.stdout


def _stamp(out: Path, stage: str) -> dict:
    return json.loads((out / stage / "stage.json").read_text())


@pytest.fixture(scope="module")
def first_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pipeline")
    source = _sway_csv(folder / "sway.csv", 0.3)
    run_file = _run_file(folder, source)
    out = folder / "run"
    t0 = time.time()
    ran, skipped, stdout = _pipeline(run_file, out)
    return folder, source, run_file, out, ran, skipped, stdout, time.time() - t0


def test_every_stage_runs_end_to_end(first_run):
    folder, source, run_file, out, ran, skipped, stdout, seconds = first_run
    print(f"full pipeline: {seconds:.0f} s")
    assert ran == list(STAGES) and skipped == []
    for s in STAGES:
        assert _stamp(out, s)["key"]
    assert (out / "retarget" / "sway" / "motion.npz").is_file()
    clips = sorted(p.name for p in (out / "clips").glob("*.npz"))
    # the retargeted clip, its mirror image, each also at 1.2x speed
    assert clips == ["sway_mirror.npz", "sway_mirror_speed1.2.npz", "sway_original.npz", "sway_speed1.2.npz"]
    for s in ("mpt", "track", "distill", "finetune"):
        assert (out / s / "learning_curves.png").is_file()
        assert "steps/s" in stdout and "ETA" in stdout
    sess = ort.InferenceSession(str(out / "export" / "policy.onnx"))
    assert sess.get_inputs()[0].shape[-1] > 100
    summary = json.loads((out / "evaluate" / "summary.json").read_text())
    assert [sc["name"] for sc in summary["scenarios"]] == ["stand"]
    report = (out / "report.md").read_text()
    for link in ("mpt/learning_curves.png", "evaluate/report/stand.png", "export/policy.onnx"):
        assert link in report and (out / link).is_file()


def test_unchanged_rerun_skips_every_stage(first_run):
    folder, source, run_file, out, *_ = first_run
    before = {s: _stamp(out, s)["finished"] for s in STAGES}
    ran, skipped, _ = _pipeline(run_file, out)
    assert ran == [] and skipped == list(STAGES)
    assert {s: _stamp(out, s)["finished"] for s in STAGES} == before


def test_a_changed_setting_reruns_exactly_the_stages_after_it(first_run):
    folder, source, run_file, out, *_ = first_run
    before = {s: _stamp(out, s)["finished"] for s in STAGES}
    ran, skipped, _ = _pipeline(_run_file(folder, source, finetune={"iterations": 3}), out)
    assert ran == ["finetune", "export", "evaluate"]
    assert skipped == ["reconstruct", "retarget", "clips", "mpt", "track", "distill"]
    for s in skipped:
        assert _stamp(out, s)["finished"] == before[s]
    # only the evaluation's settings: only the evaluation
    ran, skipped, _ = _pipeline(
        _run_file(folder, source, finetune={"iterations": 3}, evaluate={"sides": ["training_env"]}), out
    )
    assert ran == ["evaluate"]


def test_a_changed_input_reruns_the_stages_that_depend_on_it(first_run):
    folder, source, run_file, out, *_ = first_run
    _sway_csv(source, 0.5)  # the same file, another motion
    ran, skipped, _ = _pipeline(
        _run_file(folder, source, finetune={"iterations": 3}, evaluate={"sides": ["training_env"]}), out
    )
    assert skipped == ["reconstruct"]
    assert ran == list(STAGES[1:])


def test_an_interrupted_training_stage_continues_from_its_checkpoint(tmp_path):
    source = _sway_csv(tmp_path / "sway.csv", 0.3)
    slow = {"iterations": 60, "overrides": {**TINY, "save_interval": 1}}
    run_file = _run_file(tmp_path, source, mpt=slow)
    out = tmp_path / "run"
    cmd = [
        sys.executable,
        "-m",
        "hsi_offline.cli",
        "pipeline",
        str(run_file),
        "--out",
        str(out),
        "--until",
        "mpt",
    ]
    proc = subprocess.Popen(
        cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )
    # Ctrl-C once stage 1 has written its third checkpoint (not on a progress line: those come in batches, and
    # on a fast machine the whole stage can be over before one is read)
    deadline = time.monotonic() + 120
    while not (out / "mpt" / "model_3.pt").exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C in a terminal: the whole process group
    lines = proc.stdout.readlines()
    assert proc.wait(timeout=120) == 130, "".join(lines)
    assert (out / "clips" / "stage.json").is_file() and not (out / "mpt" / "stage.json").exists()
    done = sorted(int(p.stem.split("_")[1]) for p in (out / "mpt").glob("model_*.pt"))
    assert done and done[-1] < 59
    clips_finished = _stamp(out, "clips")["finished"]
    ran, skipped, stdout = _pipeline(run_file, out, "--until", "mpt")
    assert skipped == ["reconstruct", "retarget", "clips"] and ran == ["mpt"]
    assert f"continuing from model_{done[-1]}.pt" in stdout
    assert _stamp(out, "clips")["finished"] == clips_finished
    history = json.loads((out / "mpt" / "history.json").read_text())
    assert [h["iteration"] for h in history] == list(range(60))  # the curves cover both parts, once each


@pytest.mark.parametrize("name", ["smoke", "walk_cpu", "gpu_check"])
def test_shipped_run_files_are_valid(name, monkeypatch):
    from hsi_offline.pipeline.runfile import load_run_file

    monkeypatch.chdir(REPO)
    # the file itself, not whether this machine holds its data (the walk's BVH is development data, kept out
    # of the tests)
    run = load_run_file(REPO / "config" / "pipelines" / f"{name}.yaml", check_sources=False)
    assert run.name == name and set(run.train) == {"mpt", "track", "distill", "finetune"}
    assert run.profile == ("gpu" if name == "gpu_check" else "cpu")


def test_run_file_errors_are_one_line(tmp_path):
    from hsi_offline.pipeline.runfile import RunFileError, load_run_file

    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nclips: {procedural: [standing]}\nstagez: {}\n")
    with pytest.raises(RunFileError, match=r"bad.yaml.*unknown field.*stagez"):
        load_run_file(bad)
    bad.write_text("clips: {procedural: [standing]}\nstages: {mpt: {iterations: 0}}\n")
    with pytest.raises(RunFileError, match="stages.mpt.iterations"):
        load_run_file(bad)
    bad.write_text("sources: [{mocap: /nonexistent.bvh}]\n")
    with pytest.raises(RunFileError, match="nonexistent.bvh"):
        load_run_file(bad)


def test_a_flat_run_can_leave_out_track_and_finetune(tmp_path):
    """Distill starts from stage 1 when the run file skips stage 2; the export comes from distill."""
    source = _sway_csv(tmp_path / "sway.csv", 0.3)
    run_file = _run_file(
        tmp_path,
        source,
        track={"skip": True},
        finetune={"skip": True},
        export={"from": "distill"},
        clips={"mirror": False, "straighten": [0.0]},
    )
    out = tmp_path / "run"
    ran, _, stdout = _pipeline(run_file, out, "--until", "export")
    assert ran == ["reconstruct", "retarget", "clips", "mpt", "distill", "export"]
    assert "[pipeline] track: skipped (the run file's stages.track.skip)" in stdout
    assert not (out / "track").exists() and not (out / "finetune").exists()
    distill_cfg = yaml.safe_load((out / "distill" / "stage_config.yaml").read_text())
    assert Path(distill_cfg["init_from"]) == out / "mpt"
    assert (out / "export" / "policy.onnx").is_file()
    # the sway is not a walk: straightening it keeps it where it is, and the original is kept beside it
    assert sorted(p.stem for p in (out / "clips").glob("*.npz")) == ["sway_original", "sway_straight"]
    report = (out / "report.md").read_text()
    assert "| track | left out by the run file |" in report


def test_skipping_a_stage_the_run_needs_is_refused(tmp_path):
    from hsi_offline.pipeline.runfile import RunFileError, load_run_file

    bad = tmp_path / "bad.yaml"
    bad.write_text("clips: {procedural: [standing]}\nstages: {mpt: {skip: true}}\n")
    with pytest.raises(RunFileError, match="only track and finetune may be skipped"):
        load_run_file(bad)
    bad.write_text("clips: {procedural: [standing]}\nstages: {finetune: {skip: true}}\n")
    with pytest.raises(RunFileError, match="export.from is finetune, which the run file skips"):
        load_run_file(bad)
