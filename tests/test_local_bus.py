"""local_bus on real rclpy (Fast DDS): direct delivery within a context, each message exactly once, DDS for
everyone else."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import rclpy
from rclpy.context import Context
from rclpy.node import Node
from std_msgs.msg import Int32, String

from hsi_robot_nodes.nodes import local_bus
from hsi_robot_nodes.nodes.executors import SpinThread, make_executor, wait_until

DATA = lambda m: m.data  # noqa: E731  (distinct values in these tests tell the messages apart)


@pytest.fixture
def spun(ros_domain):
    context = Context()
    rclpy.init(context=context, domain_id=ros_domain)
    executor = make_executor("events", context)  # what `hsi-robot bringup` spins
    with SpinThread(executor):
        yield context, executor
    executor.shutdown()
    rclpy.shutdown(context=context)


def _node(spun, name):
    context, executor = spun
    node = Node(name, context=context)
    executor.add_node(node)
    return node


def _wait_matched(pub, n=1):
    assert wait_until(lambda: pub.dds.get_subscription_count() >= n, 5.0)


def test_local_subscriber_is_called_on_the_publishing_thread_and_gets_each_message_once(spun):
    a, b = _node(spun, "a"), _node(spun, "b")
    got: list[tuple[int, str]] = []
    local_bus.subscription(
        b, Int32, "/bus/x", lambda m: got.append((m.data, threading.current_thread().name)), key=DATA
    )
    pub = local_bus.publisher(a, Int32, "/bus/x")
    _wait_matched(pub)
    for i in range(20):
        pub.publish(Int32(data=i))
        assert got[-1] == (i, threading.current_thread().name)  # delivered before publish() returned
    time.sleep(0.5)  # the DDS copies arrive through the executor and must be dropped
    assert [d for d, _ in got] == list(range(20))
    assert pub.delivered == 20


def test_plain_publishers_in_the_same_process_still_reach_the_subscriber_through_dds(spun):
    a, b = _node(spun, "a"), _node(spun, "b")
    got: list[int] = []
    local_bus.subscription(b, Int32, "/bus/y", lambda m: got.append(m.data), key=DATA)
    plain = a.create_publisher(Int32, "/bus/y", 10)
    assert wait_until(lambda: plain.get_subscription_count() >= 1, 5.0)
    plain.publish(Int32(data=7))
    assert wait_until(lambda: got == [7], 3.0), got


def test_another_process_reaches_the_subscriber_and_a_plain_subscriber_gets_bus_messages(spun, ros_domain):
    b = _node(spun, "b")
    got: list[str] = []
    local_bus.subscription(b, String, "/bus/z", lambda m: got.append(m.data), key=DATA)
    plain_got: list[str] = []
    b.create_subscription(String, "/bus/z", lambda m: plain_got.append(m.data), 10)
    pub = local_bus.publisher(_node(spun, "a"), String, "/bus/z")
    _wait_matched(pub, 2)
    pub.publish(String(data="local"))
    code = (
        "import rclpy, time\nfrom rclpy.context import Context\nfrom rclpy.node import Node\n"
        "from std_msgs.msg import String\n"
        f"c = Context(); rclpy.init(context=c, domain_id={ros_domain})\n"
        "n = Node('remote', context=c); p = n.create_publisher(String, '/bus/z', 10)\n"
        "t = time.monotonic()\n"
        "while p.get_subscription_count() < 2 and time.monotonic() - t < 10: time.sleep(0.05)\n"
        "p.publish(String(data='remote')); time.sleep(0.5); rclpy.shutdown(context=c)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
    assert wait_until(lambda: "remote" in got, 3.0), got
    assert got.count("local") == 1  # its DDS copy was dropped
    assert wait_until(lambda: sorted(plain_got) == ["local", "remote"], 3.0), plain_got  # DDS saw both


def test_a_raising_subscriber_is_counted_and_the_others_still_get_the_message(spun):
    a, b = _node(spun, "a"), _node(spun, "b")
    got: list[int] = []

    def bad(_m):
        raise RuntimeError("boom")

    local_bus.subscription(b, Int32, "/bus/e", bad, key=DATA)
    local_bus.subscription(b, Int32, "/bus/e", lambda m: got.append(m.data), key=DATA)
    pub = local_bus.publisher(a, Int32, "/bus/e")
    pub.publish(Int32(data=3))
    assert got == [3]
    bus_sub = local_bus._bus(b).subs["/bus/e"][0]
    assert bus_sub.errors == 1


def test_released_node_gets_nothing_more_and_other_contexts_are_separate(spun, ros_domain):
    a, b = _node(spun, "a"), _node(spun, "b")
    got: list[int] = []
    local_bus.subscription(b, Int32, "/bus/r", lambda m: got.append(m.data), key=DATA)
    other = Context()
    rclpy.init(context=other, domain_id=ros_domain)
    try:
        foreign = Node("foreign", context=other)
        fpub = local_bus.publisher(foreign, Int32, "/bus/r")
        fpub.deliver(Int32(data=1))  # direct calls stay inside their own context
        assert got == []
        foreign.destroy_node()
    finally:
        rclpy.shutdown(context=other)
    pub = local_bus.publisher(a, Int32, "/bus/r")
    pub.deliver(Int32(data=2))
    assert got == [2]
    local_bus.release(b)
    pub.deliver(Int32(data=3))
    assert got == [2]


def test_stamped_and_multiarray_messages_have_a_key_and_others_must_bring_one(spun):
    from sensor_msgs.msg import JointState
    from std_msgs.msg import Float64MultiArray

    from hsi_kernel.contract import get_contract
    from hsi_kernel.msgs import pd_targets

    a = _node(spun, "a")
    js = JointState()
    js.header.stamp.sec, js.header.stamp.nanosec = 3, 40
    assert local_bus.default_key(JointState)(js) == (3, 40, "")
    c = get_contract(23)
    z = np.zeros(23)
    msg = pd_targets.encode(pd_targets.PdTargets(c.joint_names, z, z, z, z, z, stamp_ns=5, seq=9))
    assert "stamp_ns=5;seq=9" in local_bus.default_key(Float64MultiArray)(msg)[2]
    with pytest.raises(ValueError, match="pass key="):
        local_bus.subscription(a, Int32, "/bus/k", lambda m: None)


def test_the_copies_of_a_burst_are_dropped_even_when_the_executor_lags_behind(spun):
    from sensor_msgs.msg import JointState

    a, b = _node(spun, "a"), _node(spun, "b")
    got: list[int] = []
    local_bus.subscription(b, JointState, "/bus/js", lambda m: got.append(m.header.stamp.nanosec), qos=300)
    pub = local_bus.publisher(a, JointState, "/bus/js", qos=300)
    _wait_matched(pub)
    for i in range(200):
        m = JointState()
        m.header.stamp.nanosec = i
        pub.publish(m)
    time.sleep(1.0)
    assert got == list(range(200))


def test_a_node_released_while_a_delivery_runs_is_not_an_error(spun):
    """Shutdown: the publisher's thread had taken the subscription list when the subscriber's node was
    released and destroyed; the callback then fails on the destroyed node, which is not a fault to log."""
    a, b = _node(spun, "a"), _node(spun, "b")
    calls: list[int] = []

    def released_midway(m):
        calls.append(m.data)
        local_bus.release(b)  # what destroy_node does, while this delivery is under way
        raise RuntimeError("cannot use Destroyable because destruction was requested")

    local_bus.subscription(b, Int32, "/bus/d", released_midway, key=DATA)
    pub = local_bus.publisher(a, Int32, "/bus/d")
    sub = local_bus._bus(b).subs["/bus/d"][0]
    pub.deliver(Int32(data=1))
    assert calls == [1] and sub.errors == 0 and not sub.active
    pub.deliver(Int32(data=2))
    assert calls == [1]
