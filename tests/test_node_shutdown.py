"""A node executable stopped by SIGINT (``ros2 launch``, bringup) or SIGTERM lets the running callback finish
and exits 0 without a traceback: the signal must not land as a KeyboardInterrupt inside the callback."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

BUSY_NODE = textwrap.dedent("""
    import sys, time
    from rclpy.node import Node
    from hsi_robot_nodes.nodes.run import run_node

    class Busy(Node):
        # a callback that is still running when the signal comes (like the heightmap node integrating a scan)
        def __init__(self):
            super().__init__("busy")
            self.create_timer(0.01, self.tick)

        def tick(self):
            print("tick", flush=True)
            t = time.monotonic()
            while time.monotonic() - t < 0.5:
                pass
            print("tock", flush=True)

    sys.exit(run_node("busy", Busy))
""")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_lets_the_running_callback_finish_and_exits_cleanly(sig, ros_domain):
    env = dict(os.environ, ROS_DOMAIN_ID=str(ros_domain), HSI_RT_PRIORITY="0")
    proc = subprocess.Popen(
        [sys.executable, "-c", BUSY_NODE], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    try:
        assert proc.stdout.readline().strip() == "tick"  # inside the callback now
        time.sleep(0.1)
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    lines = ["tick"] + out.split()
    assert proc.returncode == 0, err
    assert lines[-1] == "tock", f"the callback was cut short: {lines[-3:]}"
    assert "Traceback" not in err and "Exception" not in err and "KeyboardInterrupt" not in err, err
