"""Temp folders of ``hsi-offline evaluate``'s deploy side do not outlive its processes: an evaluation killed
outright (SIGKILL runs no clean-up) leaves no process running, and the next evaluation removes its folders;
folders of live processes are left alone (``hsi_kernel.child_process.owned_temp_dir``)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from hsi_kernel import child_process
from hsi_kernel.paths import models_dir
from hsi_offline.evaluation.deploy import EVAL_TMP_PREFIX

HOLD = models_dir() / "hold_default_23dof.onnx"


def _children(pid: int) -> list[int]:
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        if int(text[text.rindex(")") + 2 :].split()[1]) == pid:
            out.append(int(stat.parent.name))
    return out


def _descendants(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        kids = _children(todo.pop())
        out += kids
        todo += kids
    return out


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _running(pid: int) -> bool:
    stat = child_process._proc_stat(pid)
    return stat is not None and stat[0] not in ("Z", "X")


def _wait(pred, timeout_s: float) -> bool:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.2)
    return pred()


def test_a_killed_evaluation_leaves_no_process_and_the_next_one_removes_its_folders(tmp_path, dds_domain):
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = dict(os.environ, TMPDIR=str(tmp))
    evaluate = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "hsi_offline.cli",
            "evaluate",
            str(HOLD),
            "--sides",
            "deploy",
            "--scenarios",
            "stand",
            "--duration-scale",
            "0.3",
            "--domain",
            str(dds_domain),
            "--out",
            str(tmp_path / "eval"),
        ],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        # kill it once the whole chain runs: evaluate -> deploy child -> simulated robot and heightmap node
        def chain() -> bool:
            grandchildren = " ".join(_cmdline(g) for c in _children(evaluate.pid) for g in _children(c))
            return "hsi_robot_nodes.cli sim" in grandchildren and "heightmap_node" in grandchildren

        assert _wait(chain, 240.0), "the deploy child started no simulator and heightmap node"
        procs = _descendants(evaluate.pid)
        evaluate.send_signal(signal.SIGKILL)
        evaluate.wait()
        left = [p for p in procs if _running(p)]
        assert _wait(lambda: not any(_running(p) for p in procs), 30.0), f"still running: {left}"
    finally:
        if evaluate.poll() is None:
            evaluate.kill()
            evaluate.wait()
    folders = sorted(tmp.glob(f"{EVAL_TMP_PREFIX}*"))
    owners = {int(d.name[len(EVAL_TMP_PREFIX) :].split("-", 1)[0]) for d in folders}
    assert evaluate.pid in owners and len(owners) == 2, folders  # SIGKILL ran no clean-up: both stayed
    live = tmp / f"{EVAL_TMP_PREFIX}{os.getpid()}_running"  # this process is alive: its folder stays
    live.mkdir()
    other = tmp / f"{EVAL_TMP_PREFIX}notapid_x"  # not one of ours by name: left alone
    other.mkdir()

    # the next evaluation (here one that refuses its input at once) removes the dead processes' folders
    rc = subprocess.run(
        [sys.executable, "-m", "hsi_offline.cli", "evaluate", str(HOLD), "--deploy-attempts", "0"],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    ).returncode
    assert rc == 2
    assert sorted(tmp.glob(f"{EVAL_TMP_PREFIX}*")) == sorted([live, other])


def test_a_folder_is_owned_by_its_process_not_by_its_pid(tmp_path, monkeypatch):
    """A pid reused by another process (a different start time) or a zombie owns no folder."""
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    mine = child_process.owned_temp_dir("hsi_x_")
    pid, start = mine.name[len("hsi_x_") :].split("_", 1)[0].split("-")
    assert int(pid) == os.getpid() and int(start) == child_process._start_ticks(os.getpid())
    reused = tmp_path / f"hsi_x_{pid}-{int(start) + 1}_abc"  # this pid, but an earlier process's
    reused.mkdir()
    zombie = subprocess.Popen([sys.executable, "-c", "pass"])
    assert _wait(lambda: child_process._proc_stat(zombie.pid)[0] == "Z", 30.0)  # exited, not yet reaped
    of_zombie = tmp_path / f"hsi_x_{zombie.pid}-{child_process._start_ticks(zombie.pid)}_abc"
    of_zombie.mkdir()
    try:
        removed = child_process.sweep_temp_dirs("hsi_x_")
    finally:
        zombie.wait()
    assert sorted(removed) == sorted([reused, of_zombie])
    assert mine.is_dir() and not reused.exists() and not of_zombie.exists()


def test_exit_with_parent_ends_a_child_whose_handler_ignores_sigterm(tmp_path):
    """A child that ignores SIGTERM (as a library's clean-stop handler may) still ends once its parent is
    killed outright."""
    pid_file = tmp_path / "child.pid"
    child = (
        "import os, signal, time; from hsi_kernel.child_process import exit_with_parent; "
        "signal.signal(signal.SIGTERM, signal.SIG_IGN); exit_with_parent(0.05); "
        f"open({str(pid_file)!r}, 'w').write(str(os.getpid())); time.sleep(60)"
    )
    parent = (
        f"import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', {child!r}]); time.sleep(60)"
    )
    proc = subprocess.Popen([sys.executable, "-c", parent])
    try:
        assert _wait(lambda: pid_file.exists() and pid_file.read_text().strip() != "", 30.0)
        pid = int(pid_file.read_text())
        assert _running(pid)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert _wait(lambda: not _running(pid), 5.0), "the child outlived its parent"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
