"""`hsi_robot_control`, the control process ros2 launch starts: the shared nodes of config/nodes.yaml in one
process (real DDS to a simulated G1, real rclpy), driven from another process over ROS 2."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys

from rclpy.node import Node
from std_msgs.msg import Float64MultiArray, String
from std_srvs.srv import Trigger

from hsi_robot_nodes import defaults
from hsi_robot_nodes.bringup import load_node_list
from hsi_robot_nodes.nodes.executors import SpinThread, make_executor, wait_until
from hsi_sim.process import SimProcess

EXE = shutil.which("hsi_robot_control") or os.path.join(os.path.dirname(sys.executable), "hsi_robot_control")


def test_control_process_runs_the_shared_nodes_and_answers_the_operator(dds_domain, ctx):
    shared = {s["name"] for s in load_node_list() if s.get("process") != "own"}
    own = {s["name"] for s in load_node_list() if s.get("process") == "own"}
    with SimProcess("flat", 23, dds_domain, "lo", band=True):
        env = dict(os.environ, ROS_DOMAIN_ID=str(ctx.get_domain_id()))
        proc = subprocess.Popen(
            [EXE, "--domain", str(dds_domain), "--policy", "", "--ros-args", "--log-level", "warn"],
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        probe = Node("probe", context=ctx)
        targets: list[Float64MultiArray] = []
        states: list[str] = []
        probe.create_subscription(Float64MultiArray, defaults.PD_TARGETS, targets.append, 10)
        probe.create_subscription(String, defaults.BRIDGE_STATE, lambda m: states.append(m.data), 10)
        start = probe.create_client(Trigger, "/bridge/start")
        executor = make_executor("events", ctx)
        executor.add_node(probe)
        try:
            with SpinThread(executor):
                assert wait_until(lambda: len(targets) >= 10, 30.0), proc.poll()
                # graph discovery can trail the first messages by a moment
                assert wait_until(lambda: shared <= set(probe.get_node_names()), 10.0), probe.get_node_names()
                assert not own & set(probe.get_node_names())
                # the placeholder's targets (the launch's empty policy = bringup's default)
                assert "policy=blind" in targets[-1].layout.dim[2].label
                assert start.wait_for_service(5.0)
                future = start.call_async(Trigger.Request())
                assert wait_until(future.done, 5.0) and future.result().message == "stand_up"
                assert wait_until(lambda: "hold" in states, 5.0), states[-3:]
        finally:
            executor.shutdown()
            proc.send_signal(signal.SIGINT)
            _, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err[-2000:]
    assert "Traceback" not in err


def test_control_process_refuses_in_one_line_without_a_robot(dds_domain):
    res = subprocess.run([EXE, "--domain", str(dds_domain)], capture_output=True, text=True, timeout=60)
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert lines[-1].startswith("hsi_robot_control: refusing to start: no LowState on rt/lowstate"), lines
    assert "Traceback" not in res.stderr
