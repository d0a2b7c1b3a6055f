"""Child processes that end with their parent, and temp folders that do not outlive their process.

No orphaned simulator or node keeps a core busy, and no temp folder of a process that died is left for good.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import tempfile
import threading
import time
from pathlib import Path

try:
    _LIBC = ctypes.CDLL("libc.so.6", use_errno=True)  # loaded here: nothing may be imported after fork
except OSError:
    _LIBC = None


def die_with_parent() -> None:
    """Linux, in the child between fork and exec: SIGTERM when the parent dies, so no orphaned simulator or
    node keeps a core busy. Only a system call: no import or allocation-heavy work may happen here."""
    if _LIBC is not None:
        _LIBC.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def exit_with_parent(poll_s: float = 0.2) -> None:
    """End this process (``os._exit``) as soon as its parent is gone, whatever signal handlers the libraries
    it loaded since have installed.

    Why: ``die_with_parent``'s SIGTERM reaches whatever handler is in place when the parent dies, and a
    library's handler (rclpy installs one for SIGTERM) may only ask for a clean stop that never comes; a
    make-test run once found a killed evaluation's deploy child and its children still running 30 s later.
    Polling the parent id needs no handler: once the parent is gone this process is re-parented."""
    parent = os.getppid()

    def watch() -> None:
        while True:
            time.sleep(poll_s)
            if os.getppid() != parent:
                os._exit(143)  # as if ended by SIGTERM; its own children get die_with_parent's SIGTERM

    threading.Thread(target=watch, daemon=True, name="exit-with-parent").start()


def owned_temp_dir(prefix: str) -> Path:
    """A fresh temp folder ``<prefix><pid>-<start time>_<random>`` owned by this process, made after removing
    the folders of ``prefix`` whose owner is gone (``sweep_temp_dirs``).

    Why: the owner removes its folder in a ``finally`` block, but a process killed outright (SIGKILL: the OOM
    killer, a time limit; or a child ended by ``die_with_parent``'s SIGTERM, which Python does not turn into
    clean-up) runs none, and its folder would stay for good. The next process of the same kind removes it.
    """
    sweep_temp_dirs(prefix)
    pid = os.getpid()
    start = _start_ticks(pid)
    owner = f"{pid}-{start}" if start is not None else str(pid)
    return Path(tempfile.mkdtemp(prefix=f"{prefix}{owner}_"))


def sweep_temp_dirs(prefix: str) -> list[Path]:
    """Remove this user's temp folders ``<prefix><pid>[-<start time>]_*`` whose process is gone; returns them.

    The owner is the process with that pid and, where the name has it, that start time (clock ticks after
    boot, ``/proc/<pid>/stat``), so a pid reused by an unrelated process does not keep a dead owner's folder.
    A zombie (dead, not yet reaped) owns nothing. Folders of live owners, other users and names that do not
    parse are left alone.
    """
    removed = []
    for d in Path(tempfile.gettempdir()).glob(f"{prefix}*_*"):
        owner = d.name[len(prefix) :].split("_", 1)[0]
        pid_s, _, start_s = owner.partition("-")
        if not pid_s.isdigit() or (start_s and not start_s.isdigit()):
            continue
        try:
            mine = d.is_dir() and not d.is_symlink() and d.stat().st_uid == os.getuid()
        except OSError:  # removed meanwhile by another sweep
            continue
        if mine and not _owner_alive(int(pid_s), int(start_s) if start_s else None):
            shutil.rmtree(d, ignore_errors=True)
            removed.append(d)
    return removed


def _start_ticks(pid: int) -> int | None:
    """The process's start time in clock ticks after boot (``/proc/<pid>/stat`` field 22); None if unknown."""
    stat = _proc_stat(pid)
    return stat[1] if stat else None


def _proc_stat(pid: int) -> tuple[str, int] | None:
    """(state, start time in clock ticks after boot) from ``/proc/<pid>/stat``; None without /proc or pid."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        rest = stat[stat.rindex(")") + 2 :].split()  # after "comm) ": field 3 (state) on; start is field 22
        return rest[0], int(rest[19])
    except (OSError, ValueError, IndexError):
        return None


def _owner_alive(pid: int, start: int | None) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process (a pid reused by it): not ours to judge
        return True
    stat = _proc_stat(pid)
    if stat is None:  # no /proc (or it died just now): the pid existed, so keep the folder this time
        return True
    if stat[0] in ("Z", "X"):  # killed, not yet reaped: it will never use the folder again
        return False
    return start is None or stat[1] == start
