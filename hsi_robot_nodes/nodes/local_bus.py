"""In-process delivery between nodes that share an rclpy context: what rclcpp's intra-process communication
does, which rclpy lacks.

Why: in `hsi-robot bringup` the bridge, policy and joystick nodes share one process. Over DDS every hop of the
control path (joint state + IMU -> policy -> PD targets -> bridge) is a DDS write, a wake-up of the executor
thread and a hand-over of the interpreter lock: about 1.3 ms of the 50 Hz cycle's latency from LowState to
LowCmd. Calling the subscriber directly halves that (docs/onboard.md gives the measured figures).

Contract:
- :func:`publisher` returns a publisher whose ``publish(msg)`` first calls every local subscription of the
  same topic and type (made with :func:`subscription` on a node of the same context) on the publishing
  thread, then writes the message to DDS as usual, so other processes, ``ros2 topic echo`` and bags still
  see it.
- :func:`subscription` is an ordinary rclpy subscription that additionally receives those direct calls; the
  DDS copy of a message that was already delivered directly is dropped. Messages from any other publisher,
  local or remote, arrive through DDS as before.
- How a DDS copy is recognised: by a key that identifies a message on its topic, remembered for the last
  ``RECENT`` messages delivered directly: the header (stamp and frame) for stamped messages, the layout labels
  for multi-arrays (the PD targets carry stamp and sequence number there), or the subscription's ``key``. A
  message type without one is refused. The publisher's gid in the message info would need no key, but rclpy
  9.1.2's EventsExecutor (the one `bringup` uses) fails on subscriptions that take message info
  ("SystemError: null argument to internal routine" from ``spin_once``).
- A local callback runs on the *publisher's* thread, possibly while the executor runs the node's other
  callbacks: it must be quick, thread-safe (the node's own lock) and must not modify the message (it is the
  publisher's object, not a copy). Local delivery ignores QoS history depth (there is no queue).
- A callback that raises is logged on its node (throttled) and counted; the publisher and the other
  subscribers carry on.
- ``release(node)`` (call it from ``destroy_node``) removes the node's local subscriptions.

Only the hot control-path topics use it. Lock order matters: a local callback may take its node's lock, so a
publisher must not publish on the bus while holding a lock that the subscriber's node may wait for.
"""

from __future__ import annotations

import collections
import threading
import weakref
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

from rclpy.node import Node


@dataclass(eq=False)
class _LocalSub:
    node: Node
    msg_type: type
    callback: Callable[[Any], None]
    errors: int = 0
    active: bool = True  # false once its node released it: a delivery already under way skips it


RECENT = 256
"""Keys of directly delivered messages a subscription remembers until their DDS copy arrives (5 s at 50 Hz:
the executor that takes the copies may lag that far behind before one would get through twice)."""


def default_key(msg_type: type) -> Callable[[Any], Hashable] | None:
    """The key of a message type that says which message it is: header stamp + frame, or layout labels."""
    fields = msg_type.get_fields_and_field_types()
    if fields.get("header") == "std_msgs/Header":
        return lambda m: (m.header.stamp.sec, m.header.stamp.nanosec, m.header.frame_id)
    if fields.get("layout") == "std_msgs/MultiArrayLayout":
        return lambda m: tuple(d.label for d in m.layout.dim)
    return None


class _Bus:
    """The registry of one rclpy context: its local subscriptions per topic."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.subs: dict[str, tuple[_LocalSub, ...]] = {}

    def add(self, topic: str, sub: _LocalSub) -> None:
        with self.lock:
            self.subs[topic] = (*self.subs.get(topic, ()), sub)

    def remove_node(self, node: Node) -> None:
        with self.lock:
            for subs in self.subs.values():
                for s in subs:
                    if s.node is node:
                        s.active = False
            self.subs = {t: tuple(s for s in subs if s.node is not node) for t, subs in self.subs.items()}


_buses: weakref.WeakKeyDictionary[Any, _Bus] = weakref.WeakKeyDictionary()
_buses_lock = threading.Lock()


def _bus(node: Node) -> _Bus:
    with _buses_lock:
        bus = _buses.get(node.context)
        if bus is None:
            bus = _buses[node.context] = _Bus()
        return bus


class LocalPublisher:
    """An rclpy publisher that calls the context's local subscriptions of its topic before writing to DDS."""

    def __init__(self, node: Node, msg_type: type, topic: str, qos: Any = 10):
        self.topic = node.resolve_topic_name(topic)
        self.msg_type = msg_type
        self._bus = _bus(node)
        self.dds = node.create_publisher(msg_type, topic, qos)
        self.delivered = 0

    def publish(self, msg: Any) -> None:
        self.deliver(msg)
        self.dds.publish(msg)

    def deliver(self, msg: Any) -> None:
        """Only the direct calls of the local subscriptions (``publish`` = ``deliver`` + DDS write)."""
        for sub in self._bus.subs.get(self.topic, ()):
            if sub.msg_type is not self.msg_type or not sub.active:
                continue
            try:
                sub.callback(msg)
                self.delivered += 1
            except Exception as e:  # one faulty subscriber must not stop the publisher or the others
                if not sub.active:  # its node was destroyed while this delivery ran: shutdown, not a fault
                    continue
                sub.errors += 1
                sub.node.get_logger().error(
                    f"local callback on {self.topic} raised: {e!r}", throttle_duration_sec=1.0
                )


def publish_together(*pairs: tuple[LocalPublisher, Any]) -> None:
    """Deliver every (publisher, message) locally, then write them all to DDS: a subscriber that needs all of
    them (the policy needs joint state and IMU of one LowState) answers before the DDS writes, which hold the
    interpreter lock, run."""
    for pub, msg in pairs:
        pub.deliver(msg)
    for pub, msg in pairs:
        pub.dds.publish(msg)


def publisher(node: Node, msg_type: type, topic: str, qos: Any = 10) -> LocalPublisher:
    return LocalPublisher(node, msg_type, topic, qos)


def subscription(
    node: Node,
    msg_type: type,
    topic: str,
    callback: Callable[[Any], None],
    qos: Any = 10,
    key: Callable[[Any], Hashable] | None = None,
    **kwargs: Any,
):
    """An rclpy subscription (kwargs go to ``create_subscription``) that also takes direct local calls.
    ``key(msg)`` must tell distinct messages of the topic apart (default: :func:`default_key`)."""
    key = key or default_key(msg_type)
    if key is None:
        raise ValueError(
            f"local_bus: {msg_type.__name__} has no header or layout to tell messages apart; pass key="
        )
    recent: collections.OrderedDict[Hashable, None] = collections.OrderedDict()
    lock = threading.Lock()

    def direct(msg: Any) -> None:
        k = key(msg)
        with lock:
            recent[k] = None
            if len(recent) > RECENT:
                recent.popitem(last=False)
        callback(msg)

    def from_dds(msg: Any) -> None:
        k = key(msg)
        with lock:
            if k in recent:
                del recent[k]
                return  # the copy of a message already delivered directly
        callback(msg)

    sub = node.create_subscription(msg_type, topic, from_dds, qos, **kwargs)
    _bus(node).add(node.resolve_topic_name(topic), _LocalSub(node, msg_type, direct))
    return sub


def release(node: Node) -> None:
    """Stop local delivery to ``node`` (before it is destroyed)."""
    _bus(node).remove_node(node)
