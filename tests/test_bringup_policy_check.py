"""`hsi-robot bringup` refuses a broken policy with one line before it starts anything (no simulator, no node,
no DDS): the policy-file checks and the runner's trial inference run first."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import write_broken_policy


@pytest.mark.parametrize("kind", ["nan", "wrong_input"])
def test_bringup_exits_non_zero_with_one_line_on_a_broken_policy(tmp_path, dds_domain, kind):
    path = write_broken_policy(kind, tmp_path / f"{kind}.onnx")
    r = subprocess.run(
        [sys.executable, "-m", "hsi_robot_nodes.cli", "bringup", "--sim", "--domain", str(dds_domain)]
        + ["--policy", path, "--no-heightmap"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    lines = [ln for ln in (r.stdout + r.stderr).splitlines() if ln.strip()]
    assert r.returncode != 0, lines
    assert len(lines) == 1, lines
    assert f"{kind}.onnx" in lines[0] and lines[0].startswith("hsi-robot bringup: "), lines
