"""The one ``main()`` every node executable shares: init, build, refuse in one line, spin, shut down."""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Callable

import rclpy
from rclpy.executors import ExternalShutdownException


def run_node(
    name: str,
    build: Callable[[], object],
    refusals: tuple[type[BaseException], ...] = (ValueError,),
    argv: list[str] | None = None,
) -> int:
    """Run a node until Ctrl-C/SIGTERM. A refusal at construction prints one line and returns 2.

    SIGINT (what ``ros2 launch`` and bringup send) and SIGTERM only clear the spin flag: the callback running
    at that moment finishes and the node shuts down in order. rclpy's own handler would raise
    KeyboardInterrupt inside whatever callback was running (a busy heightmap node logged a FATAL traceback
    on every stop) and leave the node half-way through an update.
    """
    from rclpy.signals import SignalHandlerOptions

    from hsi_kernel.realtime import realtime_interpreter

    realtime_interpreter()
    running = threading.Event()
    running.set()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: running.clear())
    rclpy.init(args=argv, signal_handler_options=SignalHandlerOptions.NO)
    try:
        node = build()
    except refusals as e:
        print(f"{name}: refusing to start: {e}", file=sys.stderr)
        rclpy.try_shutdown()
        return 2
    from hsi_kernel.realtime import freeze_heap

    freeze_heap()
    from hsi_robot_nodes.nodes.executors import make_executor, spin_while

    executor = make_executor("events", node.context)  # the executor bringup uses (make_executor says why)
    executor.add_node(node)
    try:
        spin_while(executor, running)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown()
    return 0
