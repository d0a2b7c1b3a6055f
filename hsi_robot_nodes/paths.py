"""Where the project's data folders are, for editable installs, wheels and colcon installs alike."""

from __future__ import annotations

import os
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def _find(folder: str, env: str) -> Path:
    if os.environ.get(env):
        return Path(os.environ[env])
    candidates = [REPO_ROOT / folder, Path(sys.prefix) / "share" / "hsi_robot" / folder]
    for c in candidates:
        if c.is_dir():
            return c
    raise FileNotFoundError(f"cannot find the hsi_robot '{folder}' folder; set {env}")


def models_dir() -> Path:
    return _find("models", "HSI_ROBOT_MODELS")


def config_dir() -> Path:
    return _find("config", "HSI_ROBOT_CONFIG")


GIL_SWITCH_INTERVAL_S = 0.0005
DEFAULT_RT_PRIORITY = 0


def realtime_interpreter() -> str:
    """Make this process fit for a 2 ms control loop; returns a one-line description of what was set.

    1. Hand the interpreter lock between threads every 0.5 ms instead of Python's default 5 ms: the onboard
       processes run a DDS reader (500 Hz LowState), a 2 ms LowCmd writer and the rclpy executor as threads of
       one interpreter, and with the default a thread woken by a LowState can wait 5 ms for the lock.
    2. Optional real-time round-robin scheduling (``SCHED_RR`` at priority ``$HSI_RT_PRIORITY``; default 0 =
       off), as deploy stacks run their control threads. Measured on the 2-core workstation: it keeps the
       loop alive under a load of 3 from other jobs, but any CPU-bound thread at that priority (start-up
       imports, a ray cast) then holds a core for whole 100 ms round-robin slices and delayed LowState by
       100 ms on an otherwise quiet machine, so it is off unless asked for. Threads and child processes
       started afterwards inherit it; a process started with 0 drops an inherited one. Without the privilege
       (not root / no CAP_SYS_NICE) it carries on at normal priority.
    """
    import os
    import sys

    sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)
    try:
        prio = int(os.environ.get("HSI_RT_PRIORITY", DEFAULT_RT_PRIORITY))
    except ValueError:
        prio = DEFAULT_RT_PRIORITY
    if prio <= 0:
        if os.sched_getscheduler(0) in (os.SCHED_RR, os.SCHED_FIFO):  # inherited: give it back
            try:
                os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))
            except OSError as e:
                return f"inherited real-time scheduling kept ({e.strerror})"
        return "normal scheduling (HSI_RT_PRIORITY=0)"
    if os.sched_getscheduler(0) in (os.SCHED_RR, os.SCHED_FIFO):
        return "real-time scheduling inherited"
    try:
        os.sched_setscheduler(0, os.SCHED_RR, os.sched_param(min(prio, 49)))
    except (PermissionError, OSError) as e:
        return f"normal scheduling (SCHED_RR {prio} not permitted: {e.strerror})"
    return f"real-time scheduling SCHED_RR {prio} (HSI_RT_PRIORITY=0 disables)"


def freeze_heap() -> None:
    """Call once start-up is done: collect, then move every live object out of the collector's reach.

    A full (generation 2) collection walks every object of the process (rclpy, onnxruntime, MuJoCo and numpy
    bring hundreds of thousands) while holding the interpreter lock: a pause of tens of ms in the middle of
    the 50 Hz loop. After ``gc.freeze()`` the collector only looks at objects made afterwards.
    """
    import gc

    gc.collect()
    gc.freeze()
