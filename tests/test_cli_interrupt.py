"""Ctrl-C at the ``hsi-robot`` command line: one line on stderr and exit code 130 (the shell's 128 + SIGINT),
never a ``KeyboardInterrupt`` traceback, also from a command whose child processes get the signal too."""

from __future__ import annotations

import os
import signal
import subprocess
import sys


def test_ctrl_c_exits_with_one_line_and_code_130():
    # `bench machine` runs one stall-witness child per core: a terminal's Ctrl-C reaches the whole
    # foreground process group, so the children are interrupted at the same instant as the command
    proc = subprocess.Popen(
        [sys.executable, "-m", "hsi_robot_nodes.cli", "bench", "machine", "--minutes", "5"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert first.startswith("watching cores"), first
        os.killpg(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 130, err
    assert err.strip().splitlines() == ["hsi-robot bench: interrupted (Ctrl-C)"], err
    assert "Traceback" not in out + err
