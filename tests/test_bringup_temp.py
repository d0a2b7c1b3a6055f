"""The simulator's trace folder of a bringup killed outright (SIGKILL runs no clean-up) is removed by the
next bringup; a running bringup's folder is left alone."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path


def test_folders_of_killed_bringups_are_removed_and_live_ones_kept(tmp_path, monkeypatch):
    from hsi_robot_nodes import bringup

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    # a process that made its folder and was then killed outright, as an evaluation child at its time limit
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from hsi_robot_nodes.bringup import sim_trace_dir; "
            "d = sim_trace_dir(); (d / 'trace.json').write_text('{}'); print(d, flush=True); time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
        env=dict(os.environ, TMPDIR=str(tmp_path)),
    )
    assert child.stdout is not None
    killed = Path(child.stdout.readline().strip())
    assert killed.is_dir() and killed.name.startswith(f"hsi_sim_{child.pid}-")
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert killed.is_dir(), "SIGKILL runs no clean-up: the folder is still there"
    live = tmp_path / f"hsi_sim_{os.getpid()}_running"  # this process is alive: its folder stays
    live.mkdir()
    other = tmp_path / "hsi_sim_notapid_x"  # not one of ours by name: left alone
    other.mkdir()

    fresh = bringup.sim_trace_dir()
    assert fresh.parent == tmp_path and fresh.name.startswith(f"hsi_sim_{os.getpid()}-")
    assert not killed.exists()
    assert live.is_dir() and other.is_dir()
