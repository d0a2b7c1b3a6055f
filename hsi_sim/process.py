"""The simulated robot as a child process (``hsi-robot sim``), for bringup --sim, the loop benchmark and
evaluation: the onboard nodes then share the CPU with the "robot" the way they would share nothing with a
real one, and the simulator's 500 Hz physics thread never competes with the nodes for one interpreter lock.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from hsi_kernel.child_process import die_with_parent
from hsi_kernel.realtime import rt_priority
from hsi_kernel.unitree import link

READY = "hsi-robot sim: ready"
"""The simulator child's first line on stdout once it publishes."""


class SimProcessError(RuntimeError):
    """The simulator did not come up (one line: its own last words)."""


class SimProcess:
    """``with SimProcess(scene="stairs", band=True, lidar=True, script="1:start") as sim: ...``.

    ``start()`` returns once the child printed its ready line (LowState is on the wire); ``stop()`` sends
    SIGTERM and returns the trace (``--trace``) the child wrote, if any.
    """

    def __init__(
        self,
        scene: str = "flat",
        dof: int = link.DOF,
        domain: int = link.DOMAIN,
        interface: str = link.INTERFACE,
        band: bool = True,
        lidar: bool = False,
        script: str = "",
        trace: Path | None = None,
        speed: float = 1.0,
        extra: list[str] | None = None,
    ):
        self.cmd = [
            sys.executable,
            "-m",
            "hsi_robot_nodes.cli",
            "sim",
            "--scene",
            str(scene),
            "--dof",
            str(dof),
            "--domain",
            str(domain),
            "--interface",
            interface,
            "--speed",
            str(speed),
            "--stdin-control",
            # the robot's firmware: above every thread of the controller under test (dds_sim says why)
            "--physics-priority",
            str(rt_priority() + 2),
        ]
        if band:
            self.cmd.append("--band")
        if lidar:
            self.cmd.append("--lidar")
        if script:
            self.cmd += ["--remote-script", script]
        if trace is not None:
            self.cmd += ["--trace", str(trace)]
        self.cmd += list(extra or [])
        self.trace_path = trace
        self.proc: subprocess.Popen | None = None
        self.lines: list[str] = []
        self.t_ready = 0.0

    def start(self, timeout_s: float = 60.0) -> SimProcess:
        self.proc = subprocess.Popen(
            self.cmd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
            # the robot's stand-in runs just below the control process's priority
            env=dict(os.environ, PYTHONUNBUFFERED="1", HSI_RT_PRIORITY=str(max(rt_priority() - 1, 0))),
            preexec_fn=die_with_parent,
        )
        ready = threading.Event()

        def pump() -> None:
            assert self.proc is not None and self.proc.stdout is not None
            for line in self.proc.stdout:
                self.lines.append(line.rstrip())
                if line.startswith(READY):
                    self.t_ready = time.monotonic()
                    ready.set()
            ready.set()  # EOF: the child exited

        threading.Thread(target=pump, daemon=True).start()
        if not ready.wait(timeout_s) or self.proc.poll() is not None:
            last = next((ln for ln in reversed(self.lines) if ln.strip()), "no output")
            self.stop()
            raise SimProcessError(f"the simulator did not start: {last}")
        return self

    def send(self, action: str) -> None:
        """An operator action now: a remote button ('start', 'A', 'select', ...), 'release' (the gantry
        band) or 'sticks=lx/ly/rx/ry'."""
        if not self.alive():
            raise SimProcessError("the simulator is not running")
        assert self.proc is not None and self.proc.stdin is not None
        self.proc.stdin.write(action + "\n")
        self.proc.stdin.flush()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout_s: float = 10.0) -> dict | None:
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(OSError):
                self.proc.stdin.close()  # type: ignore[union-attr]
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.trace_path is not None and Path(self.trace_path).exists():
            return json.loads(Path(self.trace_path).read_text())
        return None

    def summary(self) -> dict | None:
        """The child's final JSON line (after ``stop()``)."""
        for ln in reversed(self.lines):
            if ln.startswith("{"):
                try:
                    return json.loads(ln)
                except json.JSONDecodeError:
                    return None
        return None

    def __enter__(self) -> SimProcess:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
