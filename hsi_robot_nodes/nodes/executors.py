"""The executor the in-process nodes share, and the loop that spins it on a thread of its own."""

from __future__ import annotations

import threading
import time

EXECUTORS = ("events", "single", "multi")


def make_executor(kind: str, context):
    """The executor the in-process nodes share. 'events' (default) is rclpy's C++ EventsExecutor: it
    dispatches each ready entity from C++ instead of rebuilding a wait set in Python every spin, which is
    most of the cost of a hop between two nodes here (see docs/onboard.md for the measured A/B)."""
    if kind == "events":
        from rclpy.experimental import EventsExecutor

        return EventsExecutor(context=context)
    from rclpy.executors import MultiThreadedExecutor, SingleThreadedExecutor

    if kind == "single":
        return SingleThreadedExecutor(context=context)
    if kind == "multi":
        return MultiThreadedExecutor(num_threads=2, context=context)
    raise ValueError(f"executor must be one of {', '.join(EXECUTORS)}, not '{kind}'")


SPIN_POLL_S = 0.05
"""How often the executor thread looks at its stop flag when nothing is ready."""


def spin_while(executor, running: threading.Event) -> None:
    """Run callbacks until ``running`` is cleared. spin_once in a loop, not ``spin()``: the EventsExecutor's
    ``spin()`` run on a thread other than the main one never dispatched a callback here (rclpy 9.1.2), and a
    stop flag lets ``Bringup.stop`` end the thread before the nodes are destroyed."""
    while running.is_set() and executor.context.ok():
        try:
            executor.spin_once(timeout_sec=SPIN_POLL_S)
        except Exception:  # the context was shut down under us (Ctrl-C): nothing left to run
            if running.is_set() and executor.context.ok():
                raise
            return


class SpinThread:
    """``with SpinThread(executor):`` runs :func:`spin_while` on a thread of its own until the block ends
    (tests and tools that drive nodes from the main thread)."""

    def __init__(self, executor):
        self.executor = executor
        self.running = threading.Event()
        self.thread = threading.Thread(target=spin_while, args=(executor, self.running), daemon=True)

    def __enter__(self) -> SpinThread:
        self.running.set()
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.running.clear()
        self.thread.join()


def wait_until(pred, timeout_s: float, poll_s: float = 0.02) -> bool:
    """Poll ``pred`` until it is true or ``timeout_s`` passed (operator scripts: demo, bench, tests)."""
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(poll_s)
    return bool(pred())
