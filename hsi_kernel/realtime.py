"""Real-time helpers for the onboard and simulator processes: interpreter lock interval, the control
process's weight on the normal scheduler (``HSI_CONTROL_NICE``, on by default), SCHED_RR priority, CPU
pinning and a frozen heap (``HSI_RT_PRIORITY``, ``HSI_CONTROL_CPUS``: opt-in)."""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path

GIL_SWITCH_INTERVAL_S = 0.0005
DEFAULT_RT_PRIORITY = 0
DEFAULT_CONTROL_NICE = -10
"""The control loop's niceness on the normal scheduler: weight 9548 against 1024 for a process at nice 0."""


def realtime_interpreter(priority: bool = True) -> str:
    """Make this process fit for a 2 ms control loop; returns a one-line description of what was set.

    1. Hand the interpreter lock between threads every 0.5 ms instead of Python's default 5 ms: the onboard
       processes run a DDS reader (500 Hz LowState), a 2 ms LowCmd writer and the rclpy executor as threads of
       one interpreter, and with the default a thread woken by a LowState can wait 5 ms for the lock.
    2. With ``priority``: :func:`realtime_priority` (the real-time option when ``$HSI_RT_PRIORITY`` > 0, else
       the control weight: an onboard node in a process of its own, the heightmap node, feeds the policy and
       takes the control loop's weight). Without: only drop real-time scheduling inherited from a parent (a
       process that should not have it, e.g. a node started by a real-time bringup), so that it can be
       raised later, after start-up (``Bringup.start``).
    """
    import os

    sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)
    if priority and rt_priority() > 0:
        return realtime_priority()
    if os.sched_getscheduler(0) in (os.SCHED_RR, os.SCHED_FIFO):  # inherited: give it back
        try:
            _set_all_threads(os.SCHED_OTHER, 0)
        except OSError as e:
            return f"inherited real-time scheduling kept ({e.strerror})"
    if priority:
        return realtime_priority()  # the real-time option is off: the control weight
    return "normal scheduling (HSI_RT_PRIORITY=0)"


def rt_priority() -> int:
    """``$HSI_RT_PRIORITY`` (0 = off, the default), capped at 49 (below the kernel's own threads)."""
    import os

    try:
        return min(int(os.environ.get("HSI_RT_PRIORITY", DEFAULT_RT_PRIORITY)), 49)
    except ValueError:
        return DEFAULT_RT_PRIORITY


def _set_all_threads(policy: int, prio: int) -> None:
    """Apply a scheduling policy to every thread of this process (Linux applies it per thread)."""
    import os

    for tid in os.listdir("/proc/self/task"):
        os.sched_setscheduler(int(tid), policy, os.sched_param(prio))


def realtime_priority() -> str:
    """Real-time round-robin scheduling (``SCHED_RR`` at ``$HSI_RT_PRIORITY``) for every thread of this
    process and the threads it starts later, as deploy stacks run their control threads.

    Call it AFTER start-up: measured on the 2-core workstation, a process that imports, loads ONNX sessions
    and builds nodes at real-time priority holds a core for whole 100 ms round-robin slices and starved the
    simulator's LowState (110 ms stale at stand-up). Raised once the nodes run, the control process (~45 % of
    a core) preempts the simulator and the heightmap process instead of being descheduled for 30-60 ms when
    their LiDAR bursts coincide (seen on the default scheduler). Without the privilege (not root / no
    CAP_SYS_NICE) it carries on at normal priority.
    """
    import os

    prio = rt_priority()
    if prio <= 0:
        return "normal scheduling (HSI_RT_PRIORITY=0), " + control_weight()
    try:
        _set_all_threads(os.SCHED_RR, prio)
    except (PermissionError, OSError) as e:
        return f"normal scheduling (SCHED_RR {prio} not permitted: {e.strerror})"
    return f"real-time scheduling SCHED_RR {prio} after start-up (HSI_RT_PRIORITY=0 disables)"


def control_nice() -> int:
    """``$HSI_CONTROL_NICE`` (default -10; 0 = leave the niceness as inherited), clamped to [-20, 0]."""
    try:
        return max(-20, min(int(os.environ.get("HSI_CONTROL_NICE", DEFAULT_CONTROL_NICE)), 0))
    except ValueError:
        return DEFAULT_CONTROL_NICE


def control_weight() -> str:
    """Every thread of this process (and those it starts later) at niceness ``$HSI_CONTROL_NICE`` on the
    normal scheduler; returns what was done, for the start-up line.

    Why: the control loop needs about a third of a core, in bursts of a millisecond every 2 ms, from several
    threads that share one interpreter lock. At the weight of everything else on a 2-core machine (a busy
    core, a DDS logger, the LiDAR and heightmap processes, the simulated robot itself) its threads waited
    behind those for whole time slices (a scheduler trace of the demo: most waits over 4 ms were behind
    the busy process, the heightmap node, the LiDAR and the logger), and a thread that held the interpreter
    lock while it waited held up the whole process: with a busy core and a passive DDS reader the bridge's
    2 ms tick came over 10 ms late 400-500 times per demo and the policy's answer over 60 ms late, a trip.
    On the robot the control loop has the onboard computer's cores to itself; weighted at nice -10 it takes
    a core when it wakes and leaves everything else what it does not use, without real-time scheduling's
    power to starve the machine. The simulated robot's process takes the same weight (it stands in for the
    robot's own hardware). Without the privilege (not root / no ``CAP_SYS_NICE``, ``RLIMIT_NICE``) it says
    so and carries on at the inherited weight.
    """
    nice = control_nice()
    if nice == 0:
        return "weight as inherited (HSI_CONTROL_NICE=0)"
    try:
        for tid in os.listdir("/proc/self/task"):
            with contextlib.suppress(ProcessLookupError):  # a thread that has ended meanwhile
                os.setpriority(os.PRIO_PROCESS, int(tid), nice)
    except PermissionError as e:
        return f"weight as inherited (nice {nice} not permitted: {e.strerror})"
    return f"nice {nice} (HSI_CONTROL_NICE=0 disables)"


def freeze_heap() -> None:
    """Call once start-up is done: collect, then move every live object out of the collector's reach.

    A full (generation 2) collection walks every object of the process (rclpy, onnxruntime, MuJoCo and numpy
    bring hundreds of thousands) while holding the interpreter lock: a pause of tens of ms in the middle of
    the 50 Hz loop. After ``gc.freeze()`` the collector only looks at objects made afterwards.
    """
    import gc

    gc.collect()
    gc.freeze()


def control_cpus() -> set[int] | None:
    """``$HSI_CONTROL_CPUS`` (e.g. ``1`` or ``2,3``): the cores reserved for the control process, or None
    (unset/empty: no pinning, the default). One-line ValueError for a malformed or unavailable set."""
    import os

    text = os.environ.get("HSI_CONTROL_CPUS", "").strip()
    if not text:
        return None
    try:
        cpus = {int(c) for c in text.split(",") if c.strip()}
    except ValueError:
        raise ValueError(f"HSI_CONTROL_CPUS='{text}': expected core numbers like '1' or '2,3'") from None
    allowed = os.sched_getaffinity(0)
    if not cpus or not cpus <= allowed or cpus == allowed:
        raise ValueError(
            f"HSI_CONTROL_CPUS='{text}': must be a non-empty proper subset of the cores this "
            f"process may use {sorted(allowed)}"
        )
    return cpus


def pin_process(pid: int, cpus: set[int]) -> None:
    """Restrict every thread of process ``pid`` (Linux sets affinity per thread) to ``cpus``; threads it
    starts later inherit it. A process that has gone away meanwhile is ignored."""
    import os

    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except FileNotFoundError:
        return
    for tid in tids:
        with contextlib.suppress(ProcessLookupError):
            os.sched_setaffinity(int(tid), cpus)


def descendants(pid: int) -> list[int]:
    """Every process started by ``pid`` and by those, from /proc (Linux); [] for a process that is gone."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        try:
            tasks = os.listdir(f"/proc/{p}/task")
        except FileNotFoundError:
            continue
        for tid in tasks:
            with contextlib.suppress(FileNotFoundError):
                kids = [int(c) for c in Path(f"/proc/{p}/task/{tid}/children").read_text().split()]
                out += kids
                todo += kids
    return out


def pin_control(children: list[int]) -> str:
    """With ``$HSI_CONTROL_CPUS``: this process on those cores, ``children`` (simulator, heightmap node) on
    the others, so the 50 Hz loop never waits behind a LiDAR burst for a core. Returns a one-line summary."""
    import os

    cpus = control_cpus()
    if cpus is None:
        return "no core pinning (HSI_CONTROL_CPUS unset)"
    rest = os.sched_getaffinity(0) - cpus
    pin_process(os.getpid(), cpus)
    for pid in children:
        for p in (pid, *descendants(pid)):  # the simulator's own LiDAR process too
            pin_process(p, rest)
    return f"control on cores {sorted(cpus)}, other processes on {sorted(rest)}"
