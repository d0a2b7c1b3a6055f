"""The executor the in-process nodes share (executors.make_executor / spin_while), on real rclpy.

The bridge publishes joint states from its own DDS thread while the executor thread runs the subscribers'
callbacks; these tests drive exactly that pattern for every executor kind, and check that the spin thread
ends when asked so nodes are never destroyed under a running callback.
"""

from __future__ import annotations

import threading
import time

import pytest
from std_msgs.msg import String

from hsi_robot_nodes.nodes.executors import EXECUTORS, make_executor, spin_while, wait_until


@pytest.mark.parametrize("kind", EXECUTORS)
def test_callbacks_run_for_timer_and_foreign_thread_publishers(ctx, kind):
    import rclpy

    a = rclpy.create_node("talker", context=ctx)
    b = rclpy.create_node("listener", context=ctx)
    got: list[str] = []
    b.create_subscription(String, "chatter", lambda m: got.append(m.data), 50)
    pub = a.create_publisher(String, "chatter", 50)
    ticks: list[int] = []
    a.create_timer(0.01, lambda: ticks.append(1))
    ex = make_executor(kind, ctx)
    ex.add_node(a)
    ex.add_node(b)
    running = threading.Event()
    running.set()
    th = threading.Thread(target=spin_while, args=(ex, running), daemon=True)
    th.start()
    try:
        assert wait_until(lambda: len(ticks) >= 10, 5.0), f"{kind}: timer ran {len(ticks)} times in 5 s"
        for i in range(40):  # from this (non-executor) thread, as the bridge's LowState thread does
            pub.publish(String(data=f"m{i}"))
            time.sleep(0.002)
        assert wait_until(lambda: len(got) == 40, 5.0), f"{kind}: {len(got)} of 40 messages delivered"
        assert got == [f"m{i}" for i in range(40)]
    finally:
        running.clear()
        th.join(timeout=2.0)
        alive = th.is_alive()
        ex.shutdown()
        a.destroy_node()
        b.destroy_node()
    assert not alive, f"{kind}: the spin thread did not stop within 2 s"


def test_unknown_executor_is_refused(ctx):
    with pytest.raises(ValueError, match="executor must be one of events, single, multi"):
        make_executor("fast", ctx)
