"""The simulated robot's pose in shared memory, as the simulated LiDAR's own process reads it."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from hsi_sim.shared_qpos import SharedQpos


def test_another_process_reads_the_latest_pose_and_time():
    q = SharedQpos.create(30)
    try:
        assert q.read()[2] == 0
        pose = np.linspace(-1.0, 1.0, 30)
        q.write(pose * 0.5, 0.002)
        q.write(pose, 1.234)
        code = (
            "import sys; from hsi_sim.shared_qpos import SharedQpos; "
            "r = SharedQpos.attach(sys.argv[1], 30); q, t, n = r.read(); "
            "print(repr(q.tolist()), t, n); r.close()"
        )
        out = subprocess.run([sys.executable, "-c", code, q.name], capture_output=True, text=True, check=True)
        got, t, n = out.stdout.rsplit(" ", 2)
        np.testing.assert_array_equal(eval(got), pose)
        assert float(t) == 1.234 and int(n) == 2
        # the reader detached without removing the block: it is still there for the next reader
        assert SharedQpos.attach(q.name, 30).qpos[-1] == 1.0
    finally:
        q.close()
    with pytest.raises(ValueError, match="no shared qpos block .* is the simulator running"):
        SharedQpos.attach(q.name, 30)


def test_a_reader_never_returns_a_half_written_pose():
    q = SharedQpos.create(4)
    try:
        q._seq[0] += 1  # a writer stopped between its two sequence increments
        with pytest.raises(TimeoutError, match="did not finish a write"):
            q.read(timeout_s=0.01)
        q._seq[0] += 1
        assert q.read()[2] == 1
    finally:
        q.close()


def test_a_block_too_small_for_the_model_is_refused():
    q = SharedQpos.create(4)
    try:
        with pytest.raises(ValueError, match="simulator and sensor disagree on the model"):
            SharedQpos(q.shm, 4096, owner=False)
    finally:
        q.close()


def test_the_lidar_process_refuses_a_simulator_with_another_model():
    q = SharedQpos.create(36)
    try:
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "hsi_sim.lidar_process",
                "--qpos",
                q.name,
                "--nq",
                "43",
                "--scene",
                "flat",
                "--dof",
                "23",
            ],
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            timeout=120,
        )
    finally:
        q.close()
    assert out.returncode == 2
    assert out.stdout.strip().splitlines()[-1].startswith("sim lidar: error: scene 'flat' (23 DoF) has nq=")
