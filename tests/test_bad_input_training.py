"""Bad input to ``hsi-offline train`` and ``export``: a training YAML of the wrong shape or types, the wrong
stage's file, and interrupted runs. Each is one line on stderr naming the file and the problem (exit 2);
Ctrl-C is one line and exit 130; an interrupted run folder is refused by export and by the next stage.

Ctrl-C is real (SIGINT to a training process) in one test, and injected at a chosen function in another (a
trace function raising KeyboardInterrupt, the exception a Ctrl-C raises).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from hsi_offline import cli

TINY = """stage: mpt
iterations: {iterations}
num_steps_per_env: 4
save_interval: 1
env:
  num_envs: 2
  threads: 1
  episode_length_s: 1.0
  clips: [{clip}]
policy:
  actor_hidden: [16]
  critic_hidden: [16]
algorithm:
  num_mini_batches: 1
  num_learning_epochs: 1
"""


def run_cli(capsys, *args: str | Path) -> tuple[int, list[str]]:
    threads = torch.get_num_threads()
    try:
        rc = cli.main([str(a) for a in args])
    finally:
        torch.set_num_threads(threads)  # train sets 1 for its CPU backend
    return rc, [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]


def one_error(capsys, *args: str | Path, names: str | Path, says: str) -> str:
    rc, err = run_cli(capsys, *args)
    assert rc == 2 and len(err) == 1, err
    assert str(names) in err[0] and says in err[0], err[0]
    return err[0]


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("clips")
    assert cli.main(["clips", "--out", str(folder), "--kinds", "standing", "--seconds", "1"]) == 0
    return folder / "standing.npz"


class InterruptAt:
    """Raise KeyboardInterrupt when a function with this qualified name is entered (this thread)."""

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


# ---------------------------------------------------------------- training YAML


@pytest.mark.parametrize(
    "text, says",
    [
        ('iterations: "many"\n', "'iterations' must be an integer, got 'many'"),
        ('policy:\n  actor_hidden: "big"\n', "'policy.actor_hidden' must be a list of integers, got 'big'"),
        ("env:\n  num_envs: 2.5\n", "'env.num_envs' must be an integer"),
        ("env:\n  randomization:\n    friction: [0.1]\n", "'env.randomization.friction' must be a list of 2"),
        ("env:\n  heightmap: yes please\n", "'env.heightmap' must be true or false"),
        ("env: [1, 2]\n", "'env' must be a mapping"),
        ("- stage: mpt\n- iterations: 3\n", "the top level must be a mapping"),
        ("just a sentence\n", "the top level must be a mapping"),
        ("stage: track\n", "is for stage 'track', but stage 'mpt' was asked for"),
        ("stage: mpt\nenv: {num_envs: 2\n", "is not valid YAML"),
        ("stage: mpt\nenvv: {}\n", "unknown keys ['envv']"),
    ],
)
def test_bad_training_yaml_is_one_line(tmp_path, capsys, clip, text, says):
    cfg = tmp_path / "stage.yaml"
    cfg.write_text(text)
    out = tmp_path / "run"
    args = ["train", "--stage", "mpt", "--config", cfg, "--clips", clip, "--out", out]
    one_error(capsys, *args, names=cfg, says=says)
    assert not out.exists()


def test_training_yaml_values_are_taken_as_their_fields_types(tmp_path, capsys, clip):
    """The positive control: ints where floats are expected and lists for tuples are fine."""
    from hsi_offline.training.config import load_config

    cfg = tmp_path / "ok.yaml"
    cfg.write_text("stage: mpt\nenv:\n  sim_dt: 1\n  randomization:\n    friction: [0, 1]\n")
    c = load_config(cfg, {"stage": "mpt", "env": {}})
    assert c.env.sim_dt == 1.0 and isinstance(c.env.sim_dt, float)
    assert c.env.randomization.friction == (0.0, 1.0)


def test_train_output_folder_that_is_a_file(tmp_path, capsys, clip):
    cfg = tmp_path / "mpt.yaml"
    cfg.write_text(TINY.format(iterations=1, clip=clip))
    out = tmp_path / "run"
    out.write_text("x")
    one_error(capsys, "train", "--stage", "mpt", "--config", cfg, "--out", out, names=out, says="is a file")
    out = Path("/sys") / "hsi_run"  # no file can be created there, not even by root
    one_error(
        capsys, "train", "--stage", "mpt", "--config", cfg, "--out", out, names=out, says="not writable"
    )


# ---------------------------------------------------------------- interrupted runs


def test_ctrl_c_during_training_is_one_line_and_the_run_is_refused_later(tmp_path, capsys, clip):
    """A real Ctrl-C (SIGINT) once the run has saved a checkpoint: exit 130 with one line. The folder
    holds model_<it>.pt but no history.json: export refuses it, and so does the next stage's --init-from."""
    cfg = tmp_path / "mpt.yaml"
    cfg.write_text(TINY.format(iterations=100000, clip=clip))
    run = tmp_path / "run"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "hsi_offline.cli",
            "train",
            "--stage",
            "mpt",
            "--config",
            str(cfg),
            "--out",
            str(run),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    try:
        for line in proc.stdout:  # type: ignore[union-attr]
            if "[mpt] it 2/" in line:  # iteration 0's checkpoint is on disk
                break
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert proc.returncode == 130, err
    assert lines == ["hsi-offline train: interrupted (Ctrl-C)"], err
    assert (run / "model_0.pt").is_file() and not (run / "history.json").exists()
    assert not [f for f in run.iterdir() if f.name.startswith(".")]  # no half-written checkpoint
    line = one_error(capsys, "export", run, "--out", tmp_path / "p.onnx", names=run, says="is incomplete")
    assert "no history.json" in line and not (tmp_path / "p.onnx").exists()
    nxt = tmp_path / "track.yaml"
    nxt.write_text(TINY.format(iterations=1, clip=clip).replace("stage: mpt", "stage: track"))
    args = ["train", "--stage", "track", "--config", nxt, "--init-from", run, "--out", tmp_path / "track"]
    one_error(capsys, *args, names=run, says="is incomplete")
    # a checkpoint named directly is the user's choice: exported, with a one-line warning that it is early
    rc, err = run_cli(capsys, "export", run / "model_0.pt", "--out", tmp_path / "early.onnx")
    assert rc == 0 and len(err) == 1 and err[0].startswith("warning:") and "model_0.pt" in err[0], err
    assert "iteration 1 of the 100000" in err[0]


def test_resumed_run_interrupted_before_its_history_is_refused(tmp_path, capsys, clip):
    """A finished run exports; resumed and interrupted while it writes its history, its newest checkpoint
    is newer than history.json: refused in one line, not exported as if the run had ended there."""
    cfg = tmp_path / "mpt.yaml"
    cfg.write_text(TINY.format(iterations=2, clip=clip))
    run = tmp_path / "run"
    rc, err = run_cli(capsys, "train", "--stage", "mpt", "--config", cfg, "--out", run)
    assert rc == 0 and (run / "history.json").is_file(), err
    rc, err = run_cli(capsys, "export", run, "--out", tmp_path / "p.onnx")
    assert rc == 0 and err == [] and (tmp_path / "p.onnx").is_file(), err
    resume = ["train", "--stage", "mpt", "--config", cfg, "--out", run, "--resume", run / "model_1.pt"]
    with InterruptAt("_RunMixin.finish") as hit:
        rc, err = run_cli(capsys, *resume)
    assert hit.fired and rc == 130 and err == ["hsi-offline train: interrupted (Ctrl-C)"], err
    assert (run / "model_3.pt").is_file()
    line = one_error(capsys, "export", run, "--out", tmp_path / "q.onnx", names=run, says="is incomplete")
    assert "model_3.pt is newer than history.json (iteration 1)" in line
    assert not (tmp_path / "q.onnx").exists()
